from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from plat.ui import out, print_json


def status(
    app: Annotated[str | None, typer.Argument(help="One app (default: all of yours).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apps, live versions, instances and their tiers."""
    from plat.targets import local

    target = local()
    apps = [target.client.app(app)] if app else target.client.apps()
    if json_:
        print_json(apps)
        return
    table = Table("app", "live version", "instances", "versions kept", "health")
    for a in apps:
        tiers: dict[str, int] = {}
        for inst in a["instances"]:
            tiers[inst["tier"]] = tiers.get(inst["tier"], 0) + 1
        inst = ", ".join(f"{n} {t}" for t, n in sorted(tiers.items())) or "none (scaled to zero)"
        health = "[red]crash loop[/]" if a.get("crash_looping") else "ok"
        table.add_row(a["app"], a["live_version"] or "-", inst, str(len(a["versions"])), health)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat status · plat status hello-go --json")(status)
