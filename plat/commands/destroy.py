from __future__ import annotations

from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import note


def destroy(
    app: Annotated[str, typer.Argument(help="App name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
) -> None:
    """Remove an app from every host: its route, instances and versions."""
    import sys

    from plat.targets import each_agent, raise_failures, scope

    if not yes:
        if not sys.stdin.isatty():
            raise PlatError(f"destroying {app} needs confirmation", "pass --yes")
        typer.confirm(f"destroy {app} and all its instances?", abort=True)
    results = each_agent(scope(app_dir, env, host, label), lambda c: c.destroy(app))
    for h, r, _ in results:
        if r is not None:
            note(f"{h}: {app} destroyed")
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.command(epilog="Example: plat destroy hello-go --yes")(destroy)
