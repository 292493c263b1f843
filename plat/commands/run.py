from __future__ import annotations

from typing import Annotated

import typer

from plat.ui import note, out, print_json, styled

EXAMPLES = """Examples:
  plat run
  plat run examples/hello-python-flask
  plat run --port 8000 --detach --json"""


def run(
    source: Annotated[str, typer.Argument(help="App folder, archive or Git URL.")] = ".",
    port: Annotated[int | None, typer.Option("--port", "-p",
                                             help="Host port on 127.0.0.1 (default: a free one).")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Leave it running and exit once healthy.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the health check.")] = 60.0,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON once healthy (implies no log streaming).")] = False,
) -> None:
    """Build the app and run it locally on 127.0.0.1 until Ctrl-C."""
    # Imported here: the Docker SDK is slow to import, and `plat --help` should not wait for it.
    from plat.app import resolve_app
    from plat.builder.pipeline import build_app
    from plat.builder.source import open_source
    from plat.docker_client import connect
    from plat.progress_view import build_progress
    from plat.runner import container_spec, published_port, remove, start, wait_healthy

    with open_source(source) as src:
        app = resolve_app(src.path)
        client = connect()
        with build_progress(app.name, quiet=json_) as on_event:
            built = build_app(client, app, on_event=on_event)
    container = start(client, container_spec(app, built.image, host_port=port))
    keep = False
    try:
        host_port = published_port(container, app.port)
        url = f"http://127.0.0.1:{host_port}"
        seconds = wait_healthy(container, url + app.health, timeout)
        info = {"app": app.name, "image": built.image, "container": container.name, "url": url,
                "health": app.health, "ready_seconds": round(seconds, 3)}
        if json_ or detach:
            keep = detach
            if json_:
                print_json(info)
            else:
                out.print(url)
            return
        note(f"{app.name} is up in {seconds:.2f}s; Ctrl-C stops it")
        out.print(styled(url, "bold green"))
        for chunk in container.logs(stream=True, follow=True):
            out.print(chunk.decode(errors="replace"), end="", markup=False, highlight=False)
    except KeyboardInterrupt:
        note("stopping")
    finally:
        if not keep:
            remove(container)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(run)
