"""The per-app deploy lock across a fleet: a lease held on every host's agent.

Taken on every host in name order (two deploys cannot deadlock), renewed in the background
while the deploy runs, released at the end. A lock whose holder stopped renewing (a killed
process) shows as stale, and `plat lock release APP` clears it.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

from plat.agent_client import AgentClient
from plat.errors import PlatError
from plat.fleet.connect import actor


class LockTarget(Protocol):
    """A host's connection, or the local agent: what the lock needs of either."""

    @property
    def name(self) -> str: ...

    def agent(self) -> AgentClient: ...


def describe(lock: dict[str, Any], host: str) -> str:
    since = datetime.fromtimestamp(float(lock.get("since") or 0), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    state = ""
    if lock.get("machine") == socket.gethostname() and lock.get("pid") and not _alive(int(lock["pid"])):
        state = " — stale: that process is gone"
    elif lock.get("stale"):
        state = " — stale: its holder stopped renewing it (process killed?)"
    return (f"{lock.get('app')} is locked on {host} by {lock.get('holder')} (pid {lock.get('pid')} on "
            f"{lock.get('machine')}) since {since}{state}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FleetLock:
    def __init__(self, conns: Sequence[LockTarget], app: str, ttl: float = 60.0) -> None:
        self.conns = sorted(conns, key=lambda c: c.name)
        self.app, self.ttl = app, ttl
        self.tokens: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost: list[str] = []

    def acquire(self) -> None:
        from plat.agent_client import Locked

        for conn in self.conns:
            try:
                got = conn.agent().lock(self.app, holder=actor(), machine=socket.gethostname(), pid=os.getpid(),
                                        ttl=self.ttl)
            except Locked as exc:
                self.release()
                lock = exc.lock or {}
                dead = "stale" in describe(lock, conn.name)
                hint = (f"that deploy is dead: clear its lock with `plat lock release {self.app}`" if dead
                        else f"wait for it to finish (`plat lock status {self.app}`), or if it is dead, "
                             f"`plat lock release {self.app}`")
                raise PlatError(describe(lock, conn.name), hint) from None
            except PlatError:
                self.release()
                raise
            self.tokens[conn.name] = got["token"]
        self._thread = threading.Thread(target=self._renew, daemon=True, name="plat-lock-renew")
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            for conn in self.conns:
                token = self.tokens.get(conn.name)
                if token is None:
                    continue
                try:
                    conn.agent().renew_lock(self.app, token)
                except Exception:  # noqa: BLE001 - any failure means the lease may lapse on that host
                    if conn.name not in self.lost:
                        self.lost.append(conn.name)

    def check(self) -> None:
        """Raise if the lock was lost on some host (released by force, or renewal failed)."""
        if self.lost:
            raise PlatError(f"{self.app}: the deploy lock was lost on {', '.join(self.lost)} "
                            "(released by someone else, or the host stopped answering); stopping")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for conn in self.conns:
            token = self.tokens.pop(conn.name, None)
            if token is None:
                continue
            try:
                conn.agent().release_lock(self.app, token=token)
            except PlatError:
                pass  # an unreachable host: its lease expires on its own

    def __enter__(self) -> FleetLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
