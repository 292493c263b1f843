from __future__ import annotations

from typing import Annotated

import typer

from plat.errors import PlatError
from plat.ui import note, out, print_json

EXAMPLES = """Examples:
  plat build
  plat build examples/hello-go --json
  plat build app.tar.gz --tag registry.example.com/team/app
  plat build https://github.com/acme/app.git --ref v1.2.0 --backend kaniko"""


def build(
    source: Annotated[str, typer.Argument(help="App folder, .tar.gz/.zip archive, or Git URL.")] = ".",
    tag: Annotated[str | None, typer.Option("--tag", "-t",
                                            help="Image repository (or repo:tag); default <name>:<git sha>.")] = None,
    backend: Annotated[str, typer.Option("--backend", help="docker or kaniko.")] = "docker",
    platform: Annotated[str | None, typer.Option("--platform", help="Target platform, e.g. linux/amd64.")] = None,
    push: Annotated[bool, typer.Option("--push", help="Push to the registry after building.")] = False,
    ref: Annotated[str | None, typer.Option("--ref", help="Branch, tag or commit of a Git source.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build a container image from an app: no Dockerfile needed."""
    # Imported here: the Docker SDK is slow to import, and `plat --help` should not wait for it.
    from plat.app import resolve_app
    from plat.builder.pipeline import build_app, publish
    from plat.builder.source import open_source
    from plat.docker_client import connect
    from plat.progress_view import build_progress, push_progress

    if backend not in ("docker", "kaniko"):
        raise PlatError(f"--backend {backend!r}: expected docker or kaniko")
    with open_source(source, ref) as src:
        app = resolve_app(src.path)
        client = connect()
        with build_progress(app.name, quiet=json_) as on_event:
            built = build_app(client, app, tag=tag, backend=backend, platform=platform,  # type: ignore[arg-type]  # a Backend: checked above
                              do_push=push and backend == "kaniko", source_url=src.origin, on_event=on_event)
    if push:
        with push_progress(built.image, quiet=json_) as on_push:
            built = publish(client, built, on_push)
    if json_:
        print_json(built.as_dict())
        return
    if built.up_to_date:
        note("up to date: the engine has an image of exactly this source")
    else:
        cache = f", {built.cached_steps}/{built.total_steps} steps cached" if built.total_steps else ""
        note(f"built {built.runtime or 'Dockerfile'} app{cache}")
    out.print(built.image)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(build)
