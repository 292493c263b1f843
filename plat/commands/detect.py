from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plat.runtimes.detect import detect as detect_runtime
from plat.runtimes.registry import load_runtimes
from plat.ui import out, print_json


def detect(
    directory: Annotated[Path, typer.Argument(help="App folder.")] = Path("."),
    explain: Annotated[bool, typer.Option("--explain", help="Show the signals that matched.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Detect the runtime of an app folder."""
    found = detect_runtime(directory, load_runtimes())
    if json_:
        print_json({
            "runtime": found.runtime, "confidence": found.confidence, "signals": list(found.signals),
            "frontend": found.frontend,
            "candidates": [{"runtime": c.runtime, "confidence": c.confidence} for c in found.candidates],
        })
        return
    extra = f" with frontend {found.frontend}/" if found.frontend else ""
    out.print(f"{found.runtime}{extra} (confidence {found.confidence:.2f})")
    if explain:
        for signal in found.signals:
            out.print(f"  ✓ {signal}")


def register(app: typer.Typer) -> None:
    app.command(epilog="Examples: plat detect · plat detect examples/todo-react-flask --explain --json")(detect)
