from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from plat.errors import PlatError
from plat.ui import err, note, out, print_json

EXAMPLES = """Examples:
  plat deploy
  plat deploy examples/hello-go --json"""


def deploy(
    source: Annotated[str, typer.Argument(help="App folder, archive or Git URL.")] = ".",
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the app and deploy it: warm the new version, switch, drain the old one."""
    from plat.app import resolve_app
    from plat.build.pipeline import build_app
    from plat.build.source import open_source
    from plat.docker_client import connect
    from plat.progress_view import build_progress
    from plat.targets import local

    with open_source(source) as src:
        app = resolve_app(src.path)
        if app.manifest.hosts:
            raise PlatError(f"{app.name}: plat.yaml names hosts; deploying to remote hosts is not available yet",
                            "remove `hosts:` to deploy to the local agent")
        client = connect()
        with build_progress(app.name, quiet=json_) as on_event:
            built = build_app(client, app, on_event=on_event)
    target = local(start=True)
    manifest = {**app.manifest.model_dump(mode="json"), "port": app.port, "health": app.health}
    with err.status(f"deploying {built.image} to the {target.name} agent", spinner="dots") if not json_ else nullcontext():
        result = target.client.deploy(app.name, built.version.tag, built.image, manifest, built.image_id)
    url = f"{target.gateway_url}/{app.name}/"
    if json_:
        print_json({**result, "url": url})
        return
    note(f"deployed {app.name} {built.version.tag} in {result['seconds']:.2f}s "
         f"({len(result['instances'])} instance{'s' if len(result['instances']) != 1 else ''} warm)")
    out.print(url)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(deploy)
