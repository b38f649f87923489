"""``argus``: submit and follow tasks over HTTP; run the server and the scheduler.

Exit codes: 0 ok, 1 an error (the server said no, or it is unreachable), 2 a bad task file
or bad usage. Tracebacks only with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback

import click

from argus.cli.common import CliState
from argus.cli.lazy import LazyGroup
from argus.errors import ArgusError, InvalidSpec

# Each command's module is imported only when that command runs (``argus --help`` imports none
# of them): the client commands answer at once, without FastAPI, SQLAlchemy or Ray. Adapters
# (api, head, worker) add theirs through the "argus.commands" entry-point group, so the core
# never imports them (the layering test checks that).
COMMANDS = {
    "submit": "argus.cli.submit:submit",
    "validate": "argus.cli.submit:validate",
    "schema": "argus.cli.submit:schema",
    "list": "argus.cli.tasks:list_cmd",
    "status": "argus.cli.tasks:status",
    "logs": "argus.cli.tasks:logs",
    "cancel": "argus.cli.tasks:cancel",
    "resubmit": "argus.cli.tasks:resubmit",
    "user": "argus.cli.admin:user",
    "team": "argus.cli.admin:team",
    "priority-class": "argus.cli.policy:priority_class",
    "token": "argus.cli.admin:token",
    "whoami": "argus.cli.admin:whoami",
    "secret": "argus.cli.secrets:secret",
    "verl": "argus.cli.verl:verl",
    "audit": "argus.cli.audit:audit",
    "admin": "argus.cli.bootstrap:admin",
    "scheduler": "argus.cli.serve:scheduler_cmd",
    "up": "argus.cli.up:up_cmd",
    "down": "argus.cli.up:down_cmd",
    "sftp": "argus.cli.sftp:sftp_cmd",
    "cp": "argus.cli.files:cp",
    "ls": "argus.cli.files:ls",
    "rm": "argus.cli.files:rm",
    "mkdir": "argus.cli.files:mkdir",
    "key": "argus.cli.files:key",
    "nodes": "argus.cli.ops:nodes_cmd",
    "node": "argus.cli.ops:node_group",
    "report": "argus.cli.report:report_cmd",
    "gc": "argus.cli.ops:gc_cmd",
    "pin": "argus.cli.ops:pin_cmd",
    "unpin": "argus.cli.ops:unpin_cmd",
    "doctor": "argus.cli.ops:doctor_cmd",
}


@click.group(cls=LazyGroup, builtins=COMMANDS, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--server", envvar="ARGUS_SERVER", default=None,
              help="Argus API URL (env ARGUS_SERVER; else 'server' in the config file; "
              "else http://127.0.0.1:8080).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="argus")
@click.pass_context
def cli(ctx: click.Context, server: str | None, debug: bool) -> None:
    """Argus: queue, schedule and run training tasks on a shared Ray cluster.

    \b
    Typical use:
      argus validate task.yaml          check a task file (and against the server, if reachable)
      argus submit task.yaml --follow   queue it and follow it to the end
      argus list --status RUNNING       what is running
      argus status 12                   one task, with why it is still pending
      argus logs 12 --follow            its driver log
    """
    ctx.obj = CliState(server=server, debug=debug)



def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="argus", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except InvalidSpec as exc:
        click.echo(exc.message, err=True)
        sys.exit(2)
    except ArgusError as exc:
        if debug:
            traceback.print_exc()
        prefix = "invalid task" if getattr(exc, "code", "") == "invalid_spec" else "error"
        click.echo(f"{prefix}: {exc.message}" if prefix == "error" else exc.message, err=True)
        sys.exit(2 if getattr(exc, "code", "") == "invalid_spec" else 1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - one line unless --debug
        if debug:
            traceback.print_exc()
        click.echo(f"error: {type(exc).__name__}: {exc} (use --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
