from __future__ import annotations

import queue
import threading
import time
from typing import Annotated

import typer
from rich.text import Text

from plat.commands._fleet_options import AppDir, Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import out, styled

EXAMPLES = """Examples:
  plat logs hello-go -f
  plat logs todo --since 5m --tail 20
  plat logs hello-go -f -e production    # merged from every host, tagged with the host"""
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green")


def logs(
    app: Annotated[str, typer.Argument(help="App name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep streaming.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Only lines newer than this (30s, 5m, 1h).")] = None,
    tail: Annotated[int, typer.Option("--tail", "-n", help="Lines per instance to start with.")] = 100,
    app_dir: AppDir = ".",
    env: Env = None,
    host: Hosts = [],
    label: Labels = [],
) -> None:
    """Logs of every instance of an app on every host, each line tagged with host and instance."""
    from plat.targets import connected, local, scope
    from plat_contract.patterns import parse_duration

    try:
        since_ts = int(time.time() - parse_duration(since)) if since else None
    except ValueError:
        raise PlatError(f"--since {since!r}: expected a duration like 30s, 5m or 1h") from None
    sc = scope(app_dir, env, host, label)
    if sc.fleet is None:
        _print_stream(Text(), "cyan", local().client.logs(app, tail, since_ts, follow))
        return
    with connected(sc.fleet, sc.settings) as conns:
        lines: queue.Queue[tuple[str, str | None, PlatError | None]] = queue.Queue()
        clients = {name: conns[name].agent() for name in sorted(conns)}
        for c in clients.values():
            c.app(app)  # a clear 404 from any host before streaming

        def pump(name: str) -> None:
            try:
                for line in clients[name].logs(app, tail, since_ts, follow):
                    lines.put((name, line, None))
            except PlatError as exc:
                lines.put((name, None, exc))
            except Exception as exc:  # noqa: BLE001 - a dropped tunnel: report it, never hang
                lines.put((name, None, PlatError(f"{name}: log stream ended: {exc}")))
            finally:
                lines.put((name, None, None))

        for name in clients:
            threading.Thread(target=pump, args=(name,), daemon=True).start()
        colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(clients)}
        width = max(len(n) for n in clients)
        open_streams, failures = len(clients), []
        try:
            while open_streams:
                name, line, error = lines.get()
                if line is not None:
                    _print_line(styled(f"{name:<{width}} ", colour[name]), colour[name], line)
                elif error is not None:
                    failures.append(error)
                else:
                    open_streams -= 1
        except KeyboardInterrupt:
            return
        if failures:
            raise PlatError("\n".join(f.message for f in failures))


def _print_line(prefix: Text, colour: str, line: str) -> None:
    instance, _, rest = line.partition(" ")
    out.print(Text.assemble(prefix, (instance, f"dim {colour}"), " ", rest), soft_wrap=True, highlight=False)


def _print_stream(prefix: Text, colour: str, stream) -> None:
    try:
        for line in stream:
            _print_line(prefix, colour, line)
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(logs)
