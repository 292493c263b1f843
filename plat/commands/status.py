from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.ui import out, print_json, styled

EXAMPLES = """Examples:
  plat status
  plat status hello-go --json
  plat status -e production        # a table across the environment's hosts"""


def _instances(a: dict[str, Any]) -> str:
    tiers: dict[str, int] = {}
    for inst in a["instances"]:
        tiers[inst["tier"]] = tiers.get(inst["tier"], 0) + 1
    return ", ".join(f"{n} {t}" for t, n in sorted(tiers.items())) or "none (scaled to zero)"


def status(
    app: Annotated[str | None, typer.Argument(help="One app (default: all of yours).")] = None,
    app_dir: AppDir = ".",
    env: Env = None,
    host: Hosts = [],
    label: Labels = [],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Apps, live versions, instances and their tiers, on every host."""
    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, host, label), lambda c: [c.app(app)] if app else c.apps())
    if json_:
        print_json([{"host": h, "apps": r, "error": e.message if e else None} for h, r, e in results])
        raise_failures(results)
        return
    versions: dict[str, set] = {}
    for _, apps, _ in results:
        for a in apps or []:
            versions.setdefault(a["app"], set()).add(a["live_version"])
    table = Table("host", "app", "live version", "instances", "versions kept", "health")
    for h, apps, e in results:
        if e is not None:
            table.add_row(h, "-", "-", "-", "-", styled(f"unreachable: {e.message}", "red"))
            continue
        for a in apps or []:
            health = styled("crash loop", "red") if a.get("crash_looping") else "ok"
            live: str | Text = a["live_version"] or "-"
            if len(versions[a["app"]]) > 1:
                live = styled(live, "yellow")  # the fleet disagrees: make it visible
            table.add_row(h, a["app"], live, _instances(a), str(len(a["versions"])), health)
    out.print(table)
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(status)
