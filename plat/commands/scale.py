from __future__ import annotations

from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import note, print_json


def scale(
    app: Annotated[str, typer.Argument(help="App name.")],
    min_warm: Annotated[int | None, typer.Option("--min",
                                                 help="Instances always warm (0 allows scale to zero).")] = None,
    max_instances: Annotated[int | None, typer.Option("--max", help="Upper bound of instances.")] = None,
    app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change an app's warm floor and ceiling (per host, on every host)."""
    from plat.targets import each_agent, raise_failures, scope

    if min_warm is None and max_instances is None:
        raise PlatError("nothing to change", "pass --min and/or --max")
    if min_warm is not None and max_instances is not None and min_warm > max_instances:
        raise PlatError(f"--min {min_warm} is above --max {max_instances}")
    results = each_agent(scope(app_dir, env, host, label), lambda c: c.scale(app, min_warm, max_instances))
    if json_:
        print_json([{"host": h, **(r or {}), "error": e.message if e else None} for h, r, e in results])
    else:
        for h, r, _ in results:
            if r is not None:
                note(f"{h}: {app}: min_warm {r['policy']['min_warm']}, max_instances {r['policy']['max_instances']}, "
                     f"{len(r['instances'])} instance(s)")
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat scale hello-go --min 1 --max 4 · plat scale hello-go --min 0")(scale)
