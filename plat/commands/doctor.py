"""`plat doctor`: run the checks of `plat/doctor.py` and show them."""

from __future__ import annotations

from typing import Annotated

import typer

from plat import doctor as diagnosis
from plat.commands._fleet_options import AppDir, Env
from plat.doctor import FAIL, OK, WARN, Check
from plat.ui import err, out, print_json, styled

EXAMPLES = """Examples:
  plat doctor                     # this machine, and the hosts of the app in this folder
  plat doctor -C shop -e production
  plat doctor --json | jq '.[] | select(.status != "ok")'"""


def render(checks: list[Check]) -> None:
    from rich.table import Table

    colour = {OK: "green", WARN: "yellow", FAIL: "red"}
    table = Table("check", "status", "detail", "what to do")
    for c in checks:
        what = f"{c.host}: {c.name}" if c.host else c.name
        table.add_row(what, styled(c.status, colour[c.status]), c.detail, c.fix)
    out.print(table)


def doctor(
    app_dir: AppDir = ".",
    env: Env = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Check this machine and the app's hosts: Docker, SSH config, keys, known hosts, SSH, agents, registry.

    Exits 1 when a check fails (a warning does not). Nothing is changed anywhere.
    """
    checks = diagnosis.run_checks(app_dir, env)
    if json_:
        print_json([c.as_dict() for c in checks])
    else:
        render(checks)
        fails = sum(c.status == FAIL for c in checks)
        warns = sum(c.status == WARN for c in checks)
        err.print(f"{fails} failed, {warns} warning{'s' if warns != 1 else ''}, "
                  f"{len(checks) - fails - warns} ok", highlight=False)
    if diagnosis.failed(checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(doctor)
