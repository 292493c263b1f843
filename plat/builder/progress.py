"""Follow the Engine's build stream: which step, what it ran, how it failed.

Pure: feed it the decoded JSON events one by one; the CLI renders what it holds.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
TAIL_LINES = 25


@dataclass
class BuildLog:
    step: int = 0
    total: int = 0
    instruction: str = ""
    cached_steps: int = 0
    executing: bool = False
    """The current step is running (not served from the cache)."""
    image_id: str | None = None
    error: str | None = None
    failed_instruction: str | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    """Output of the current step (the failing one, after an error)."""

    def feed(self, event: dict[str, Any]) -> None:
        if "error" in event or "errorDetail" in event:
            detail = event.get("errorDetail") or {}
            self.error = (detail.get("message") or event.get("error") or "build failed").strip()
            self.failed_instruction = self.instruction or None
            return
        aux = event.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            self.image_id = aux["ID"]
        text = event.get("stream")
        if text is None and event.get("status"):
            text = f"{event['status']} {event.get('progress', '')}".rstrip() + "\n"
        for line in (text or "").splitlines():
            self._line(line.rstrip())

    def _line(self, line: str) -> None:
        m = _STEP.match(line)
        if m:
            self.step, self.total, self.instruction = int(m.group(1)), int(m.group(2)), m.group(3)
            self.tail.clear()
            self.executing = False
        elif line.startswith(" ---> Running in "):
            self.executing = True
        elif line.strip() == "---> Using cache":
            self.cached_steps += 1
        elif line.startswith((" ---> ", "Removing intermediate container")) or not line.strip():
            return
        else:
            self.tail.append(line)
            m = re.match(r"^Successfully built ([0-9a-f]+)$", line)
            if m and not self.image_id:
                self.image_id = m.group(1)
