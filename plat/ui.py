"""Terminal output: rich consoles that degrade without a TTY, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from plat.errors import PlatError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Data for scripts: plain JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def show_error(exc: PlatError) -> None:
    err.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True, highlight=False)
    if exc.hint:
        err.print(f"[yellow]hint:[/] {exc.hint}", markup=True, soft_wrap=True)


def note(text: str) -> None:
    """Progress and notes go to stderr so stdout stays clean for data."""
    err.print(text, soft_wrap=True)
