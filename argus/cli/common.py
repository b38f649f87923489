"""State shared by CLI commands and the --output option."""

from __future__ import annotations

from dataclasses import dataclass

import click

from argus.client import ArgusClient


@dataclass
class CliState:
    server: str
    debug: bool = False

    def client(self) -> ArgusClient:
        return ArgusClient(self.server)


output_option = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Print text for people or JSON for scripts.",
)
