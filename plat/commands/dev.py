from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plat.errors import PlatError
from plat.ui import err, out

EXAMPLES = """Examples:
  plat dev
  plat dev examples/hello-go --port 9000
  plat dev examples/todo-react-flask       # Flask, and Vite (HMR) proxying /api
  plat dev --no-tui 2>dev.log              # plain log lines, for scripts and CI"""


def dev(
    directory: Annotated[Path, typer.Argument(help="App folder.")] = Path("."),
    port: Annotated[int | None, typer.Option("--port", "-p", help="Host port on 127.0.0.1 "
                                             "(default: the app's port, or a free one).")] = None,
    no_tui: Annotated[bool, typer.Option("--no-tui", help="Plain log lines instead of the live status line.")] = False,
) -> None:
    """Run the app in a container with its source mounted, and reload it on every save."""
    # Imported here: the Docker SDK is slow to import, and `plat --help` should not wait for it.
    import os
    import secrets
    import signal
    import time

    from plat.app import resolve_app
    from plat.dev import loop
    from plat.dev.config import dev_config
    from plat.dev.plan import Ports
    from plat.dev.session import DevSession, pick_port
    from plat.dev.view import LiveView, PlainView
    from plat.docker_client import connect

    app = resolve_app(directory)
    if app.runtime is None:
        raise PlatError(f"{app.root}: the app is built by its own Dockerfile, so plat has no dev image for it",
                        "set `runtime:` in plat.yaml to use that runtime's dev loop, or use `plat run`")
    cfg = dev_config(app.runtime)
    client = connect()
    notes = []
    host_port, free = pick_port(port or app.port)
    if port and not free:
        raise PlatError(f"--port {port}: already in use on 127.0.0.1",
                        "pick another port, or drop --port for a free one")
    if not free:
        notes.append(f"port {app.port} is in use on 127.0.0.1: using {host_port}")
    fe_port = None
    if app.frontend and cfg.frontend:
        fe_port, fe_free = pick_port(cfg.frontend.port)
        if not fe_free:
            notes.append(f"port {cfg.frontend.port} is in use on 127.0.0.1: the frontend uses {fe_port}")
    view = PlainView(err) if no_tui or not err.is_terminal else LiveView(err, app.name)
    for note in notes:
        view.note(note)

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and `kill` both end the loop through KeyboardInterrupt, so cleanup always runs
    # (even when a parent shell started plat with SIGINT ignored).
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    session = DevSession(client, app, cfg, Ports(host_port, fe_port), view,
                         user=f"{os.getuid()}:{os.getgid()}", session_id=secrets.token_hex(3))
    # Watch from the start: a save made while the image builds or the app starts is not lost
    # (at worst it causes one more reload).
    watcher = loop.Watcher(app)
    try:
        view.status("building", "dev image")
        session.build_all()
        view.status("starting", "the dev container")
        session.start()
        started = time.monotonic()
        out.print(session.url, markup=False, highlight=False)
        where = f"app on {session.url}"
        if session.frontend_url:
            out.print(session.frontend_url, markup=False, highlight=False)
            where += f", frontend (Vite, HMR) on {session.frontend_url}"
        view.note(f"{where} · watching {app.context_dir}")
        first = 1 if cfg.reload == "restart" else 0
        loop.report(session, session.wait_serving(started, first, timeout=300.0, abort=watcher.pending), "serving")
        loop.run(session, watcher, loop.watch_rules(app, cfg))
    except KeyboardInterrupt:
        pass
    finally:
        view.status("stopping", "removing the dev containers")
        watcher.stop()
        session.stop()
        view.close()
        err.print("plat dev: stopped; dev containers removed", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(dev)
