from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from plat.runtimes.registry import load_runtimes
from plat.ui import out, print_json


def runtimes(
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the runtimes plat can detect, build and scaffold."""
    rts = load_runtimes()
    if json_:
        print_json([{"name": r.name, "summary": r.summary, "default_port": r.default_port,
                     "base_image": r.base_image, "base_image_env": r.env_key} for r in rts.values()])
        return
    table = Table("runtime", "summary", "base image (override env)")
    for r in rts.values():
        table.add_row(r.name, r.summary, f"{r.base_image_for()} ({r.env_key})")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command(epilog="Example: plat runtimes --json")(runtimes)
