from __future__ import annotations

from typing import Annotated

import typer

from plat.errors import PlatError
from plat.ui import note


def destroy(
    app: Annotated[str, typer.Argument(help="App name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove an app: its route, instances and versions."""
    import sys

    from plat.targets import local

    if not yes:
        if not sys.stdin.isatty():
            raise PlatError(f"destroying {app} needs confirmation", "pass --yes")
        typer.confirm(f"destroy {app} and all its instances?", abort=True)
    local().client.destroy(app)
    note(f"{app} destroyed")


def register(app: typer.Typer) -> None:
    app.command(epilog="Example: plat destroy hello-go --yes")(destroy)
