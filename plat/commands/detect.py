from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plat.app import AppSpec, resolve_app
from plat.runtimes.go_entry import GoMain
from plat.ui import out, print_json


def _how(app: AppSpec) -> str:
    if app.user_dockerfile:
        return f"your {app.user_dockerfile} builds it"
    if app.detection is None:
        return "pinned by plat.yaml's runtime:"
    return "detected"


def _start(app: AppSpec) -> str | None:
    if app.user_dockerfile:
        return None
    if app.procfile:
        return f"Procfile web: {app.procfile}"
    return app.entry.described if app.entry else None


def detect(
    directory: Annotated[Path, typer.Argument(help="App folder.")] = Path("."),
    explain: Annotated[bool, typer.Option("--explain", help="Show the signals that matched.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Say how plat builds an app folder: the same decision `plat build` takes.

    A Dockerfile in the folder (or `build.dockerfile`) wins; then plat.yaml's `runtime:`; then
    detection. For Python apps plat reads the source (never runs it) to find the app object or
    factory, and a Procfile's `web:` line wins over it.
    """
    app = resolve_app(directory)
    found = app.detection
    runtime = app.runtime.name if app.runtime else None
    entry = app.entry
    candidates = found.candidates if found else ()
    if json_:
        print_json({
            "runtime": runtime, "how": _how(app), "dockerfile": app.user_dockerfile,
            "confidence": found.confidence if found else None, "signals": list(found.signals) if found else [],
            "frontend": app.frontend,
            "entry": {"target": entry.target, "server": entry.server, "framework": entry.framework,
                      "why": entry.why} if entry else None,
            "procfile": app.procfile,
            "candidates": [{"runtime": c.runtime, "confidence": c.confidence} for c in candidates],
        })
        return
    extra = f" with frontend {app.frontend}/" if app.frontend else ""
    confidence = f", confidence {found.confidence:.2f}" if found else ""
    out.print(f"{runtime or 'Dockerfile'}{extra} ({_how(app)}{confidence})", markup=False)
    start = _start(app)
    if start:
        out.print(f"  starts {start}", markup=False)
    if explain:
        for signal in found.signals if found else ():
            out.print(f"  ✓ {signal}", markup=False)
        if entry and found is None:
            out.print(f"  ✓ {entry.why}", markup=False)
        if isinstance(entry, GoMain) and len(entry.candidates) > 1:
            out.print(f"  main packages: {', '.join(entry.candidates)} (build.main picks one)", markup=False)


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat detect · plat detect examples/todo-react-flask --explain --json")(detect)
