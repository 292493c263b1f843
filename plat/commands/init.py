from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.prompt import Prompt

from plat.config import DNS_LABEL
from plat.errors import PlatError
from plat.runtimes.registry import get_runtime, load_runtimes
from plat.starter import (
    check_target,
    copy_example,
    default_name,
    starter_files,
    write_files,
)
from plat.ui import note, print_json

EXAMPLES = """Examples:
  plat init hello --runtime go
  plat init shop --runtime python-flask --frontend
  plat init --example todo-react-flask todo"""


def _pick_runtime() -> str:
    names = list(load_runtimes())
    if not sys.stdin.isatty():
        raise PlatError("no --runtime given", f"pass --runtime with one of: {', '.join(names)}")
    return Prompt.ask("runtime", choices=names, default=names[0])


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the app in.")] = Path("."),
    runtime: Annotated[str | None, typer.Option("--runtime", "-r",
                                                help="go, nodejs or python-flask (see `plat runtimes`).")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="App name (default: the folder's name).")] = None,
    frontend: Annotated[bool, typer.Option("--frontend", help="Add a React (Vite) frontend (python-flask).")] = False,
    example: Annotated[str | None, typer.Option("--example", help="Copy one of plat's examples instead.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a working app and its plat.yaml from a runtime template."""
    check_target(directory, force)
    if example:
        if runtime or name or frontend:
            raise PlatError("--example copies an app as it is: drop --runtime, --name and --frontend")
        files = copy_example(example, directory)
        what = f"example {example}"
    else:
        rt = get_runtime(runtime or _pick_runtime())
        app_name = name or default_name(directory)
        if not DNS_LABEL.match(app_name):
            raise PlatError(f"--name {app_name!r} is not DNS-label safe",
                            "use lowercase letters, digits and '-' (at most 63 characters)")
        files = write_files(directory, starter_files(rt, app_name, frontend=frontend))
        what = f"{rt.name} app {app_name}"
    if json_:
        print_json({"directory": str(directory.resolve()), "files": files, "example": example, "runtime": runtime})
        return
    note(f"created {what} in {directory} ({len(files)} files)")
    note(f"next: plat run {directory}")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(init)
