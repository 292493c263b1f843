from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plat.ui import err, out

EXAMPLES = """Examples:
  plat dev
  plat dev examples/hello-go --port 9000
  plat dev --no-tui"""


def dev(
    directory: Annotated[Path, typer.Argument(help="App folder.")] = Path("."),
    port: Annotated[int | None, typer.Option("--port", "-p", help="Host port on 127.0.0.1 (default: the app's).")] = None,
    no_tui: Annotated[bool, typer.Option("--no-tui", help="Plain log lines instead of the live status.")] = False,
) -> None:
    """Run the app in a container with its source mounted; reload on every save."""
    from plat.app import resolve_app
    from plat.dev.plan import dev_plan
    from plat.dev.session import DevSession, pick_port
    from plat.docker_client import connect
    from plat.errors import PlatError

    app = resolve_app(directory)
    plan = dev_plan(app)
    client = connect()
    host_port, free = pick_port(port or app.port)
    if port and not free:
        raise PlatError(f"--port {port} is taken on 127.0.0.1", "pick another port, or drop --port for a free one")
    colours = {"status": "bold cyan", "error": "bold red", "log": ""}

    def say(kind: str, text: str) -> None:
        if no_tui:
            err.print(text if kind == "log" else f"plat dev: {text}", markup=False, highlight=False, soft_wrap=True)
        elif kind == "log":
            err.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            err.print(f"[{colours[kind]}]● {text}[/]", soft_wrap=True)

    if not free:
        say("status", f"port {app.port} is taken; using {host_port}")
    session = DevSession(client, app, plan, host_port, say)
    try:
        session.watch()
        session.build()
        session.start()
        ready = session.wait_serving(60)
        out.print(session.url, markup=False)
        say("status", f"serving in {ready:.2f}s · watching {app.context_dir}" if ready is not None
            else "started, but not serving yet: see the log · watching")
        session.loop()
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        if "inotify" in str(exc).lower() or getattr(exc, "errno", None) == 28:
            raise PlatError("the file watcher hit the system's inotify limit",
                            "raise it: sudo sysctl fs.inotify.max_user_watches=524288") from None
        raise
    finally:
        session.stop()
        say("status", "stopped; the dev container is removed")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(dev)
