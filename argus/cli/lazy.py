"""A click group that imports a command's module only when that command runs.

``argus --help``, ``argus status`` and ``argus list`` must answer at once, so the root group
knows its commands by name and ``module:attribute`` and imports nothing else. The list in
``--help`` needs each command's one-line help: it is read from the command function's docstring
in the module's source (``ast``), without importing the module. Adapters (``api``, ``head``,
``worker``) add their commands through the ``argus.commands`` entry-point group; the entry points
are read (not loaded) only when a name is not built in or when the list is printed.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

import click

ENTRY_POINT_GROUP = "argus.commands"


def load_target(target: str) -> click.Command:
    """Import ``module:attribute`` and return the click command it names."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


def short_help_from_source(target: str, limit: int = 60) -> str:
    """The first sentence of the docstring of ``attribute``'s function in ``module``'s source.

    The same text click would show; empty when the source cannot be read (then the list shows the
    name alone, and ``argus NAME --help`` still works).
    """
    module_name, _, attribute = target.partition(":")
    try:
        origin = module_source(module_name)
        if origin is None:
            return ""
        tree = ast.parse(origin.read_text(encoding="utf-8"), filename=str(origin))
    except (ImportError, OSError, SyntaxError, ValueError):
        return ""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attribute:
            doc = ast.get_docstring(node) or ""
            return click.Command(attribute, help=doc).get_short_help_str(limit) if doc else ""
    return ""


def module_source(module_name: str) -> Path | None:
    """The ``.py`` file of a module, found without importing it or its parent packages."""
    top, *rest = module_name.split(".")
    spec = importlib.util.find_spec(top)  # a top-level find imports nothing
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for location in spec.submodule_search_locations or []:
        base = Path(location).joinpath(*rest)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


class LazyGroup(click.Group):
    """A group whose subcommands are ``name -> "module:attribute"`` until one is asked for."""

    def __init__(self, *args, builtins: dict[str, str], **kwargs):  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._builtins = dict(builtins)
        self._plugins: dict[str, str] | None = None

    def _plugin_targets(self) -> dict[str, str]:
        if self._plugins is None:
            self._plugins = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)
                             if ep.name not in self._builtins}
        return self._plugins

    def target(self, name: str) -> str | None:
        return self._builtins.get(name) or self._plugin_targets().get(name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._builtins, *self._plugin_targets()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = self.target(cmd_name)
        if target is None:
            return None
        command = load_target(target)
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from the sources' docstrings: no command module is imported."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                rows.append((name, short_help_from_source(self.target(name) or "", limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
