from __future__ import annotations

from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.ui import note, out, print_json

lock_app = typer.Typer(help="The per-app deploy lock: see who holds it, clear one left by a killed deploy.",
                       no_args_is_help=True, epilog="Examples: plat lock status shop · plat lock release shop")


@lock_app.command(epilog="Examples: plat lock status todo · plat lock status todo -e production --json")
def status(app: Annotated[str, typer.Argument(help="App name.")],
           app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
           json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Who holds the deploy lock, on every host."""
    from plat.fleet.lock import describe
    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, host, label), lambda c: c.get_lock(app))
    if json_:
        print_json([{"host": h, "lock": r, "error": e.message if e else None} for h, r, e in results])
    else:
        for h, lock, e in results:
            if e is None:
                out.print(describe(lock, h) if lock else f"{h}: {app} is not locked", markup=False)
    raise_failures(results)


@lock_app.command(epilog="Examples: plat lock release todo · plat lock release todo -e production")
def release(app: Annotated[str, typer.Argument(help="App name.")],
            app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = []) -> None:
    """Clear the deploy lock on every host, whoever holds it (the release is audited)."""
    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, host, label), lambda c: c.release_lock(app, force=True))
    for h, r, _ in results:
        if r is not None:
            prev = r.get("lock") or {}
            note(f"{h}: released the lock held by {prev.get('holder')}" if r.get("released")
                 else f"{h}: was not locked")
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.add_typer(lock_app, name="lock")
