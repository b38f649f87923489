"""The CLI answers at once: the client commands import neither the server's stack nor the adapters.

A regression test on what gets imported (a subprocess's ``sys.modules``), not on wall-clock time:
the timing is a benchmark (bench/cli.py).
"""

import json
import subprocess
import sys

import click
import pytest

from argus.cli.lazy import LazyGroup, short_help_from_source
from argus.cli.main import cli

HEAVY = ("fastapi", "sqlalchemy", "ray", "httpx", "uvicorn", "alembic", "pydantic", "hydra",
         "taskspec", "api", "head", "worker")

PROBE = """
import json, sys
from argus.cli.main import main
argv = json.loads(sys.argv[1])
try:
    main(argv)
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted({m.split('.')[0] for m in sys.modules})) + "\\n")
sys.exit(code)
"""


def imported_by(argv: list[str]) -> tuple[int, set[str]]:
    env = {"ARGUS_SERVER": "http://127.0.0.1:9", "ARGUS_TOKEN": "x", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], capture_output=True,
                            text=True, timeout=60, env=env)
    line = [ln for ln in result.stderr.splitlines() if ln.startswith("MODULES ")][-1]
    return result.returncode, set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.parametrize("argv", [["--help"], ["status", "1"], ["list"], ["logs", "1"],
                                  ["whoami"], ["status", "--help"]])
def test_client_commands_import_no_server_stack(argv):
    code, modules = imported_by(argv)
    assert code in (0, 1), code  # 1: the server at port 9 is unreachable, as intended
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_submit_imports_taskspec_but_not_the_server_stack(tmp_path):
    code, modules = imported_by(["submit", str(tmp_path / "missing.yaml")])
    assert code == 1
    assert not modules & {"fastapi", "sqlalchemy", "ray", "uvicorn", "api", "head", "worker"}


def _all_commands() -> list[str]:
    ctx = click.Context(cli)
    return cli.list_commands(ctx)


def test_the_group_lists_builtins_and_adapter_entry_points():
    names = set(_all_commands())
    assert {"submit", "list", "status", "logs", "cancel", "admin", "audit", "up"} <= names
    assert {"server", "head", "worker"} <= names  # from the argus.commands entry points


@pytest.mark.parametrize("name", _all_commands())
def test_listed_help_read_from_source_equals_the_commands_own(name):
    """The ``--help`` list is built without importing; it must say what the command says."""
    assert isinstance(cli, LazyGroup)
    target = cli.target(name)
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and target
    assert short_help_from_source(target, 60) == command.get_short_help_str(60)
    assert short_help_from_source(target, 60), f"{target} has no docstring to list"


def test_unknown_command_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "argus.cli.main", "statsu"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "No such command 'statsu'" in result.stderr
