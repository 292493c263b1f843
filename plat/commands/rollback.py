from __future__ import annotations

from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.ui import note, out, print_json

EXAMPLES = """Examples:
  plat rollback hello-go
  plat rollback hello-go 1a2b3c4d5e6f
  plat rollback hello-go -e production   # on every host of the environment"""


def rollback(
    app: Annotated[str, typer.Argument(help="App name.")],
    version: Annotated[str | None, typer.Argument(help="Version to go back to (default: the previous one).")] = None,
    app_dir: AppDir = ".",
    env: Env = None,
    host: Hosts = [],
    label: Labels = [],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Switch an app back to an earlier version on every host (warmed first, like a deploy)."""
    from plat.targets import each_agent, raise_failures, scope

    sc = scope(app_dir, env, host, label)
    if version is None and sc.fleet is not None and len(sc.fleet.hosts) > 1:
        version = _previous_version(each_agent(sc, lambda c: c.app(app)))
    results = each_agent(sc, lambda c: c.rollback(app, version))
    if json_:
        print_json([{"host": h, **(r or {}), "error": e.message if e else None} for h, r, e in results])
    else:
        for h, r, _ in results:
            if r is not None:
                note(f"{h}: {app} rolled back")
                out.print(f"{h}\t{r['version']}" if len(results) > 1 else r["version"])
    raise_failures(results)


def _previous_version(states: list) -> str:
    """One target for the whole fleet: the newest version that was live before the current one on
    the first host that answers, so every host ends on the same version."""
    from plat.errors import PlatError

    for _, state, _ in states:
        if state:
            earlier = [v for v in state["versions"] if v["version"] != state["live_version"]
                       and v["status"] in ("retired", "live")]
            if earlier:
                return earlier[0]["version"]
            raise PlatError(f"{state['app']}: no earlier version to roll back to")
    raise PlatError("no host answered", "check them with `plat hosts check`")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(rollback)
