from __future__ import annotations

import typer

from plat.config import manifest_schema
from plat.ui import print_json


def schema() -> None:
    """Print the JSON Schema of plat.yaml.

    Example: plat schema > plat.schema.json
    """
    print_json(manifest_schema())


def register(app: typer.Typer) -> None:
    app.command(epilog="Example: plat schema > plat.schema.json")(schema)
