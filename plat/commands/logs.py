from __future__ import annotations

import time
from typing import Annotated

import typer

from plat.errors import PlatError
from plat.ui import out


def logs(
    app: Annotated[str, typer.Argument(help="App name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Only lines newer than this (30s, 5m, 1h).")] = None,
    tail: Annotated[int, typer.Option("--tail", "-n", help="Lines per instance to start with.")] = 100,
) -> None:
    """Logs of every instance of an app, each line tagged with its instance."""
    from plat.config import parse_duration
    from plat.targets import local

    try:
        since_ts = int(time.time() - parse_duration(since)) if since else None
    except ValueError:
        raise PlatError(f"--since {since!r}: expected a duration like 30s, 5m or 1h") from None
    client = local().client
    try:
        for line in client.logs(app, tail, since_ts, follow):
            name, _, rest = line.partition(" ")
            out.print(f"[cyan]{name}[/] {rest}", soft_wrap=True, highlight=False)
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat logs hello-go -f · plat logs todo --since 5m --tail 20")(logs)
