"""What `plat dev` shows: a live status line under the app's logs (rich), or plain lines.

The session reports states, log lines and problems; a view only renders them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Literal, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.text import Text

State = Literal["building", "starting", "watching", "reloading", "rebuilding", "crashed", "stopping"]
BUSY = {"building", "starting", "reloading", "rebuilding", "stopping"}
STYLE = {"building": "yellow", "starting": "yellow", "watching": "green", "reloading": "yellow",
         "rebuilding": "yellow", "crashed": "bold red", "stopping": "dim"}
SOURCE_STYLE = {"app": "cyan", "web": "magenta"}
_ERRORISH = re.compile(r"(?i)\b(error|exception|traceback|panic|fatal|failed)\b")


class View(Protocol):
    def status(self, state: State, text: str = "") -> None: ...
    def log(self, source: str, line: str) -> None: ...
    def note(self, text: str) -> None: ...
    def problem(self, title: str, lines: Sequence[str] = ()) -> None: ...
    def close(self) -> None: ...


class PlainView:
    """--no-tui (or no terminal): one line per state change, logs as they come, on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._last: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def _print(self, text: str) -> None:
        with self._lock:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def status(self, state: State, text: str = "") -> None:
        if (state, text) != self._last:
            self._last = (state, text)
            self._print(f"plat dev: {state}{': ' + text if text else ''}")

    def log(self, source: str, line: str) -> None:
        self._print(line if source == "app" else f"{source} | {line}")

    def note(self, text: str) -> None:
        self._print(f"plat dev: {text}")

    def problem(self, title: str, lines: Sequence[str] = ()) -> None:
        # The log lines were printed as they came; restate only what went wrong.
        self._print(f"plat dev: {title}")

    def close(self) -> None:
        pass


class LiveView:
    """A status line pinned under the interleaved, coloured logs."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self.state: State = "starting"
        self.text = ""
        self.live = Live(get_renderable=self._render, console=console, refresh_per_second=10, transient=True,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def _render(self) -> RenderableType:
        line = Text.assemble((f"{self.title} ", "bold"), (self.state, STYLE[self.state]),
                             (f" · {self.text}" if self.text else "", ""), (" · Ctrl-C stops", "dim"))
        if self.state in BUSY:
            return Spinner("dots", text=line, style=STYLE[self.state])
        return Group(Text.assemble(("● " if self.state == "watching" else "✗ ", STYLE[self.state]), line))

    def status(self, state: State, text: str = "") -> None:
        self.state, self.text = state, text
        self.live.refresh()

    def log(self, source: str, line: str) -> None:
        style = "red" if _ERRORISH.search(line) else ""
        self.console.print(Text.assemble((f"{source:>3} │ ", SOURCE_STYLE.get(source, "dim")), (line, style)),
                           soft_wrap=True, highlight=False)

    def note(self, text: str) -> None:
        self.console.print(Text.assemble(("plat │ ", "bold blue"), text), soft_wrap=True, highlight=False)

    def problem(self, title: str, lines: Sequence[str] = ()) -> None:
        # The end of a traceback or compiler output is what names the file and line.
        body = Text("\n".join(lines[-12:]) or "(no output)", style="red")
        self.console.print(Panel(body, title=title, title_align="left", border_style="red",
                                 subtitle="fix it and save: the loop goes on", subtitle_align="left"))

    def close(self) -> None:
        self.live.stop()
