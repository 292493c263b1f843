from __future__ import annotations

from typing import Annotated

import typer

from plat.errors import PlatError
from plat.ui import note, print_json


def scale(
    app: Annotated[str, typer.Argument(help="App name.")],
    min_warm: Annotated[int | None, typer.Option("--min", help="Instances always warm (0 allows scale to zero).")] = None,
    max_instances: Annotated[int | None, typer.Option("--max", help="Upper bound of instances.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Change an app's warm floor and ceiling."""
    from plat.targets import local

    if min_warm is None and max_instances is None:
        raise PlatError("nothing to change", "pass --min and/or --max")
    if min_warm is not None and max_instances is not None and min_warm > max_instances:
        raise PlatError(f"--min {min_warm} is above --max {max_instances}")
    result = local().client.scale(app, min_warm, max_instances)
    if json_:
        print_json(result)
        return
    note(f"{app}: min_warm {result['policy']['min_warm']}, max_instances {result['policy']['max_instances']}, "
         f"{len(result['instances'])} instance(s)")


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat scale hello-go --min 1 --max 4 · plat scale hello-go --min 0")(scale)
