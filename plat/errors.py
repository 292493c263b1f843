"""The one exception users see.

A `PlatError` is a user error: the CLI prints its message and hint in one or two lines
and exits 1, with no traceback unless `--debug` is given. Anything else is a bug.
"""

from __future__ import annotations


class PlatError(Exception):
    """A failure the user can act on: what went wrong, and (in `hint`) what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"
