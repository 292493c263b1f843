"""Terminal output: rich consoles that degrade without a TTY, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from plat.errors import PlatError

# No markup, ever: messages carry user text (plat.yaml values, host strings, pip's `[notice]`
# lines) that Rich would read as tags. Style comes from `styled()` and Text objects instead.
out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)


def styled(text: object, style: str) -> Text:
    """`text` in `style`, never parsed as markup."""
    return Text(str(text), style=style)


def print_json(data: Any) -> None:
    """Data for scripts: plain JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def show_error(exc: PlatError) -> None:
    show_failure(exc.message, exc.hint)


def show_failure(message: str, hint: str | None = None) -> None:
    """`error: …` and `hint: …`, the user's text printed as it is."""
    err.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    if hint:
        err.print(Text.assemble(("hint:", "yellow"), " ", hint), soft_wrap=True)


def note(text: str) -> None:
    """Progress and notes go to stderr so stdout stays clean for data."""
    err.print(text, soft_wrap=True)
