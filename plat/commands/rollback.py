from __future__ import annotations

from typing import Annotated

import typer

from plat.ui import note, out, print_json


def rollback(
    app: Annotated[str, typer.Argument(help="App name.")],
    version: Annotated[str | None, typer.Argument(help="Version to go back to (default: the previous one).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Switch an app back to an earlier version (warmed first, like a deploy)."""
    from plat.targets import local

    result = local().client.rollback(app, version)
    if json_:
        print_json(result)
        return
    note(f"{app} rolled back")
    out.print(result["version"])


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat rollback hello-go · plat rollback hello-go 1a2b3c4d5e6f")(rollback)
