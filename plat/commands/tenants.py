"""`plat tenants`: who may use each host's agent, by token (admin only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import note, out, print_json

tenants_app = typer.Typer(
    help="Tenants of each host's agent: each has a token of its own and sees only its own apps. Needs the "
         "admin token (plat's own).", no_args_is_help=True,
    epilog="Examples: plat tenants create acme · plat tenants rotate acme · plat tenants revoke acme --yes")
Name = Annotated[str, typer.Argument(help="Tenant name: lowercase letters, digits and '-'.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _tokens(results: list, json_: bool) -> None:
    """Each host's new token, shown once: on stdout, one `host: token` line (or JSON)."""
    from plat.targets import raise_failures

    if json_:
        print_json([{"host": h, **(r or {}), "error": e.message if e else None} for h, r, e in results])
    else:
        for h, r, _ in results:
            if r is not None:
                out.print(f"{h}: {r['token']}")
        note("each token is shown only this once: hand it to the tenant (plat.yaml `token_env:` names its variable)")
    raise_failures(results)


@tenants_app.command("list", epilog="Examples: plat tenants list · plat tenants list -e production --json")
def list_(app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [], json_: Json = False) -> None:
    """Tenants on every host: name, created, revoked (never tokens)."""
    from rich.table import Table

    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, host, label), lambda c: c.tenants())
    if json_:
        print_json([{"host": h, "tenants": r, "error": e.message if e else None} for h, r, e in results])
    else:
        table = Table("host", "tenant", "created", "token")
        when = lambda t: dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")  # noqa: E731
        for h, rows, _ in results:
            for t in rows or []:
                state = "admin" if t["admin"] else f"revoked {when(t['revoked'])}" if t.get("revoked") else "active"
                table.add_row(h, t["name"], when(t["created"]), state)
        out.print(table)
    raise_failures(results)


@tenants_app.command(epilog="Examples: plat tenants create acme · plat tenants create acme --host h1 --json")
def create(name: Name, app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
           json_: Json = False) -> None:
    """Create a tenant on every host and print its token for each (shown once)."""
    from plat.targets import each_agent, scope

    _tokens(each_agent(scope(app_dir, env, host, label), lambda c: c.create_tenant(name)), json_)


@tenants_app.command(epilog="Examples: plat tenants rotate acme · plat tenants rotate acme -e production --json")
def rotate(name: Name, app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
           json_: Json = False) -> None:
    """Give a tenant a new token on every host; its old one stops working at once (a revoked tenant gets one back)."""
    from plat.targets import each_agent, scope

    _tokens(each_agent(scope(app_dir, env, host, label), lambda c: c.rotate_token(name)), json_)


@tenants_app.command(epilog="Examples: plat tenants revoke acme --yes · plat tenants revoke acme --host h1 --yes")
def revoke(name: Name, yes: Annotated[bool, typer.Option("--yes", help="Do it without asking.")] = False,
           app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [], json_: Json = False) -> None:
    """Revoke a tenant's token on every host: nothing it holds works any more; its apps keep serving."""
    from plat.targets import each_agent, raise_failures, scope

    if not yes:
        raise PlatError(f"revoking {name}'s token locks it out of every host in scope", "pass --yes to do it")
    results = each_agent(scope(app_dir, env, host, label), lambda c: c.revoke_token(name))
    if json_:
        print_json([{"host": h, "revoked": r is not None, "error": e.message if e else None} for h, r, e in results])
    else:
        for h, r, _ in results:
            if r is not None:
                note(f"{h}: {name}'s token revoked")
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.add_typer(tenants_app, name="tenants")
