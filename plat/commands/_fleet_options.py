"""Options every fleet-aware verb shares: which app folder, environment and hosts."""

from __future__ import annotations

from typing import Annotated

import typer

AppDir = Annotated[str, typer.Option("--app-dir", "-C", help="Folder with the plat.yaml that names the hosts.")]
Env = Annotated[str | None, typer.Option("--env", "-e", help="Environment from plat.yaml's `environments:`.")]
Hosts = Annotated[list[str], typer.Option("--host", help="Only this host (repeatable).")]
Labels = Annotated[list[str], typer.Option("--label", "-l", help="Only hosts with this label key=value (repeatable).")]
