"""State shared by CLI commands and the --output option."""

from __future__ import annotations

from dataclasses import dataclass

import click

from argus.cli.config import read_config, resolve_token
from argus.client import ArgusClient


DEFAULT_SERVER = "http://127.0.0.1:8080"


@dataclass
class CliState:
    server: str | None
    debug: bool = False

    def server_url(self) -> str:
        return self.server or read_config().get("server") or DEFAULT_SERVER

    def client(self) -> ArgusClient:
        return ArgusClient(self.server_url(), token=resolve_token())


output_option = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Print text for people or JSON for scripts.",
)

pass_state = click.make_pass_decorator(CliState)
