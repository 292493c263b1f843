"""What plat dev prints without a terminal (--no-tui), and that the live view renders."""

import io

from rich.console import Console

from plat.dev.view import LiveView, PlainView


def test_plain_view() -> None:
    buf = io.StringIO()
    view = PlainView(Console(file=buf, width=200))
    view.status("building", "dev image")
    view.status("building", "dev image")  # unchanged: printed once
    view.status("watching", "reloaded in 12 ms")
    view.log("app", "GET / 200 [not markup]")
    view.log("web", "vite ready")
    view.problem("the app exited with code 1", ["SyntaxError"])
    view.note("port 8080 is in use on 127.0.0.1: using 41234")
    assert buf.getvalue().splitlines() == [
        "plat dev: building: dev image",
        "plat dev: watching: reloaded in 12 ms",
        "GET / 200 [not markup]",
        "web | vite ready",
        "plat dev: the app exited with code 1",
        "plat dev: port 8080 is in use on 127.0.0.1: using 41234",
    ]


def test_live_view_renders_every_state() -> None:
    buf = io.StringIO()
    view = LiveView(Console(file=buf, width=120, force_terminal=True), "hello")
    try:
        for state in ("building", "starting", "watching", "reloading", "rebuilding", "crashed", "stopping"):
            view.status(state, "text")  # type: ignore[arg-type]
        view.log("app", "Traceback (most recent call last):")
        view.problem("the app exited with code 1", ["  File \"/src/app.py\", line 3", "SyntaxError: invalid syntax"])
        view.note("hello")
    finally:
        view.close()
    out = buf.getvalue()
    assert "SyntaxError: invalid syntax" in out and "fix it and save" in out and "Traceback" in out
