"""``python -m api server …`` (same as ``argus server``; works where entry points are not installed)."""

import click

from api.cli import server_cmd


@click.group()
def main() -> None:
    """Argus API adapter."""


main.add_command(server_cmd)

if __name__ == "__main__":
    main(prog_name="argus")
