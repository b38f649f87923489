"""``argus``: submit and follow tasks over HTTP; run the server and the scheduler.

Exit codes: 0 ok, 1 an error (the server said no, or it is unreachable), 2 a bad task file
or bad usage. Tracebacks only with ``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from importlib.metadata import entry_points

import click

from argus.cli import admin as admin_cmds
from argus.cli import policy as policy_cmds
from argus.cli import secrets as secret_cmds
from argus.cli import tasks as task_cmds
from argus.cli.common import CliState
from argus.cli.serve import scheduler_cmd
from argus.cli.up import down_cmd, up_cmd
from argus.errors import ArgusError, InvalidSpec
from taskspec import SpecError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


for command in [*task_cmds.COMMANDS, *admin_cmds.COMMANDS, *secret_cmds.COMMANDS, *policy_cmds.COMMANDS]:
    cli.add_command(command)
cli.add_command(scheduler_cmd)
cli.add_command(up_cmd)
cli.add_command(down_cmd)
# Adapters (api, head, worker) add their commands through the "argus.commands" entry-point
# group, so the core never imports them (the layering test checks that).
for entry in entry_points(group="argus.commands"):
    cli.add_command(entry.load(), name=entry.name)


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
    except (SpecError, InvalidSpec) as exc:
        click.echo(str(exc) if isinstance(exc, SpecError) else exc.message, err=True)
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
