"""`plat config`: plat.yaml as an environment sees it, every default filled in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env
from plat.errors import PlatError
from plat.ui import out, print_json


def config(app_dir: AppDir = ".", env: Env = None,
           json_: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False) -> None:
    """Show plat.yaml as plat reads it: an environment merged over the top level (-e), defaults in, secrets masked."""
    import yaml

    from plat.config import load_manifest, masked

    manifest = load_manifest(Path(app_dir))
    if manifest is None:
        raise PlatError(f"{Path(app_dir).resolve() / 'plat.yaml'}: not found", "run it in the app's folder, or pass -C")
    data = masked(manifest.for_environment(env).model_dump(mode="json", exclude={"environments"}))
    if json_:
        print_json(data)
    else:
        out.print(yaml.safe_dump(data, sort_keys=False).rstrip(), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat config · plat config -e production · plat config -C shop -e staging --json")(
        config)
