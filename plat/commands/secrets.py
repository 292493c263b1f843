from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import note, out, print_json

secrets_app = typer.Typer(help="Secrets an app gets as environment variables: kept by each host's agent (0600), "
                          "never in images, logs or argv.", no_args_is_help=True,
                          epilog="Examples: printf %s \"$DB_URL\" | plat secrets set shop DATABASE_URL · "
                                 "plat secrets list shop · plat secrets rm shop DATABASE_URL")
NoRestart = Annotated[bool, typer.Option("--no-restart", help="Leave running instances be; the value applies to "
                                         "instances started later.")]


def _read_value(key: str, from_file: Path | None) -> str:
    if from_file is not None:
        try:
            return from_file.read_text(encoding="utf-8").rstrip("\n")
        except UnicodeDecodeError:
            raise PlatError(f"--from-file {from_file}: not UTF-8 text", "a secret's value is text") from None
        except OSError as exc:
            raise PlatError(f"--from-file {from_file}: {exc.strerror}") from None
    if sys.stdin.isatty():
        return typer.prompt(f"value of {key}", hide_input=True, err=True)
    return sys.stdin.read().rstrip("\n")


def _restart(sc, app: str) -> None:
    from plat.targets import each_agent, raise_failures

    def restart(c):
        if not c.app(app).get("live_version"):
            return None
        return c.restart(app)

    results = each_agent(sc, restart)
    for h, r, _ in results:
        if r is not None:
            note(f"{h}: {app} restarted with the new secrets")
    raise_failures(results)


def _change(sc, app: str, fn, done: str, no_restart: bool) -> None:
    """Apply one secret change on every host, then (unless told not to) restart the app there."""
    from plat.targets import each_agent, raise_failures

    results = each_agent(sc, fn)
    for h, r, _ in results:
        if r is not None:
            note(f"{h}: {app} {done}")
    raise_failures(results)
    if not no_restart:
        _restart(sc, app)


@secrets_app.command("set", epilog="Examples:\n  printf %s \"$DB_PASSWORD\" | plat secrets set todo DB_PASSWORD\n"
                     "  plat secrets set todo TLS_KEY --from-file key.pem -e production")
def set_(app: Annotated[str, typer.Argument(help="App name.")],
         key: Annotated[str, typer.Argument(help="Variable name, e.g. DATABASE_URL.")],
         from_file: Annotated[Path | None, typer.Option("--from-file", help="Read the value from this file.")] = None,
         no_restart: NoRestart = False,
         app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = []) -> None:
    """Set a secret on every host, from stdin (or a hidden prompt, or --from-file): never from argv."""
    from plat.targets import scope

    value = _read_value(key, from_file)
    if not value:
        raise PlatError(f"{key}: empty value", "pipe the value on stdin or use --from-file")
    _change(scope(app_dir, env, host, label), app, lambda c: c.set_secret(app, key, value), f"{key} set", no_restart)


@secrets_app.command("list", epilog="Examples: plat secrets list todo · plat secrets list todo --json")
def list_(app: Annotated[str, typer.Argument(help="App name.")],
          app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = [],
          json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Secret names per host (values are never shown)."""
    from rich.table import Table

    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, host, label), lambda c: c.list_secrets(app))
    if json_:
        print_json([{"host": h, "secrets": r, "error": e.message if e else None} for h, r, e in results])
    else:
        table = Table("key", "hosts", "updated")
        keys: dict[str, list[str]] = {}
        updated: dict[str, float] = {}
        for h, r, _ in results:
            for s in r or []:
                keys.setdefault(s["key"], []).append(h)
                updated[s["key"]] = max(updated.get(s["key"], 0), s.get("updated") or 0)
        import datetime as dt

        everywhere = [h for h, r, _ in results if r is not None]
        for k in sorted(keys):
            where = "all" if keys[k] == everywhere else ", ".join(keys[k])
            when = dt.datetime.fromtimestamp(updated[k]).strftime("%Y-%m-%d %H:%M")
            table.add_row(k, where, when)
        out.print(table)
    raise_failures(results)


@secrets_app.command("rm", epilog="Examples: plat secrets rm todo DB_PASSWORD")
def rm(app: Annotated[str, typer.Argument(help="App name.")],
       key: Annotated[str, typer.Argument(help="Variable name.")],
       no_restart: NoRestart = False,
       app_dir: AppDir = ".", env: Env = None, host: Hosts = [], label: Labels = []) -> None:
    """Remove a secret from every host."""
    from plat.targets import scope

    _change(scope(app_dir, env, host, label), app, lambda c: c.delete_secret(app, key), f"{key} removed",
            no_restart)


def register(app: typer.Typer) -> None:
    app.add_typer(secrets_app, name="secrets")
