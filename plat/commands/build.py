from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from plat.errors import PlatError
from plat.ui import note, out, print_json

if TYPE_CHECKING:
    from docker import DockerClient

    from plat.app import AppSpec

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
    check: Annotated[bool, typer.Option("--check/--no-check",
                                        help="Start the image as the agent would and probe its health path.")] = True,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build a container image from an app: no Dockerfile needed.

    Then the boot check: the image is started as the agent starts it (read-only, no
    capabilities, limits, PORT set, the app's non-secret env) and its health path is probed;
    if it does not come up, plat prints its last log lines and exits 1.
    """
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
        booted = _boot(client, app, built.image, json_) if check and backend == "docker" and not platform else None
    if push:
        with push_progress(built.image, quiet=json_) as on_push:
            built = publish(client, built, on_push)
    if json_:
        print_json({**built.as_dict(), "boot_seconds": round(booted, 3) if booted is not None else None})
        return
    if built.up_to_date:
        note("up to date: the engine has an image of exactly this source")
    else:
        cache = f", {built.cached_steps}/{built.total_steps} steps cached" if built.total_steps else ""
        note(f"built {built.runtime or 'Dockerfile'} app{cache}")
    if booted is not None:
        note(f"boot check: answered {app.health} in {booted:.2f}s")
    out.print(built.image)


def _boot(client: DockerClient, app: AppSpec, image: str, quiet: bool) -> float:
    from contextlib import nullcontext

    from plat.builder.bootcheck import require_boot
    from plat.ui import err

    with err.status(f"boot check: starting {image}", spinner="dots") if not quiet else nullcontext():
        return require_boot(client, app, image).seconds


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(build)
