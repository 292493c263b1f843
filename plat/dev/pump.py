"""Follow a dev container's log: lines to the view, the supervisor's markers into state."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Protocol

from plat.dev.plan import parse_marker
from plat.docker_client import docker


class Events(Protocol):
    def log(self, role: str, line: str) -> None: ...
    def on_crash(self, tracked: Tracked, code: int | None) -> None: ...
    def on_exit(self, tracked: Tracked) -> None: ...


class Tracked:
    """One container (the app, or the frontend's "web") and the thread that follows its log."""

    def __init__(self, role: str, container: docker.models.containers.Container, events: Events,
                 since: float | None = None) -> None:
        self.role, self.container, self.events, self.since = role, container, events, since
        self.started = 0
        """The supervisor's latest generation ("plat-dev: start N")."""
        self.exits: dict[int, int] = {}
        """Exit codes of generations that ended by themselves."""
        self.ended: int | None = None
        """The container's exit code, once it stopped."""
        self.recent: collections.deque[str] = collections.deque(maxlen=40)
        """The latest generation's output: what explains a crash."""
        self.changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True, name=f"plat-dev-logs-{role}").start()

    def _pump(self) -> None:
        buffer = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True, since=self.since):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for raw in lines:
                    self._line(raw.decode(errors="replace").rstrip("\r"))
        except Exception:  # noqa: BLE001, S110 - the container went away: the loop reports it
            pass
        code = None
        try:
            code = self.container.wait(timeout=5).get("StatusCode")
        except Exception:  # noqa: BLE001, S110 - no exit code to read: reported as -1
            pass
        with self.changed:
            self.ended = code if code is not None else -1
            self.changed.notify_all()
        self.events.on_exit(self)

    def _line(self, line: str) -> None:
        marker = parse_marker(line)
        if marker is None:
            self.recent.append(line)
            self.events.log(self.role, line)
            return
        kind, gen, code = marker
        if gen == 0:
            return  # a standby that ended unused: nothing the developer needs to see
        with self.changed:
            if kind == "start":
                self.started = gen
                self.recent.clear()
            else:
                self.exits[gen] = code if code is not None else -1
            self.changed.notify_all()
        if kind == "exit":
            self.events.on_crash(self, code)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)
