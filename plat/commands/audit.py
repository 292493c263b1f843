from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.ui import out, print_json


def audit(app: Annotated[str, typer.Argument(help="App name.")],
          limit: Annotated[int, typer.Option("--limit", "-n", help="Entries per host.")] = 50,
          app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
          json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Who did what to an app: deploys, rollbacks, scaling, secrets (names only), locks; merged across hosts."""
    from rich.table import Table

    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, host, label), lambda c: c.audit(app, limit))
    entries = sorted(({**e, "host": h} for h, r, _ in results for e in r or []), key=lambda e: e["at"], reverse=True)
    if json_:
        print_json(entries)
    else:
        table = Table("time", "host", "action", "by", "detail")
        for e in entries:
            when = dt.datetime.fromtimestamp(e["at"]).strftime("%Y-%m-%d %H:%M:%S")
            detail = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                              for k, v in (e.get("detail") or {}).items())
            table.add_row(when, e["host"], e["kind"], str(e.get("actor") or ""), detail)
        out.print(table)
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat audit todo · plat audit todo -e production --json")(audit)
