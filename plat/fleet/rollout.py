"""A deploy across hosts: deliver everywhere first, then switch in batches, all-or-nothing.

1. Every host is checked (agent answering, same version) and its live version noted.
2. The image reaches every host (layers over SSH, or a registry pull) before any switch, so a
   full disk or a registry error stops the deploy with the fleet all on the old version.
3. Hosts switch batch by batch, each warm-then-swap on its agent. If one fails, hosts already
   switched go back to what they ran (`on_failure: rollback`) or stay (`keep`, said loudly).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from plat.agent_client import NotFound
from plat.config import Deploy
from plat.errors import PlatError
from plat.fleet.connect import HostConnection
from plat.fleet.lock import LockTarget
from plat.fleet.select import batches
from plat.parallel import each

T = TypeVar("T")

# Host states in the summary.
SWITCHED, UNCHANGED, FAILED, ROLLED_BACK, NOT_STARTED, KEPT = (
    "switched", "unchanged", "failed", "rolled back", "not switched", "kept new")


@dataclass
class HostResult:
    host: str
    before: str | None = None
    after: str | None = None
    state: str = NOT_STARTED
    detail: str = ""
    bytes_sent: int | None = None
    seconds: float = 0.0
    failed: bool = False
    """This host's step failed (its state may still become "rolled back")."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Release:
    app: str
    version: str
    image: str
    manifest: dict[str, Any]
    digest: str | None
    pull: dict[str, Any] | None = None
    """For registry delivery: the agent pulls (with these credentials) instead of receiving layers."""


Deliver = Callable[[HostConnection, Callable[[str, int, int], None]], int | None]
"""Puts the image on one host; returns bytes sent (None when the host pulled it)."""
Event = Callable[[str, str], None]
"""(host, what is happening) for progress displays."""


def live_version(conn: LockTarget, app: str) -> str | None:
    try:
        return conn.agent().app(app).get("live_version")
    except NotFound:
        return None


def _named(name: str, fn: Callable[[], T]) -> T:
    """Run one host's step; an engine, SSH or HTTP error becomes a PlatError naming the host, so
    it counts as that host's failure (and rollback and the summary still happen)."""
    try:
        return fn()
    except PlatError:
        raise
    except Exception as exc:
        raise PlatError(f"{name}: {type(exc).__name__}: {exc}") from exc


def rollout(conns: dict[str, HostConnection], release: Release, policy: Deploy, deliver: Deliver,
            on_event: Event = lambda host, what: None, hosts: list[str] | None = None, force: bool = False,
            on_progress: Callable[[str, int, int], None] = lambda h, sent, total: None,
            phases: dict[str, float] | None = None, guard: Callable[[], None] = lambda: None) -> list[HostResult]:
    """`guard` runs before each batch and raises PlatError to stop (say, the deploy lock was lost)."""
    phases = {} if phases is None else phases
    names = hosts or sorted(conns)
    t0 = time.monotonic()
    results = {n: HostResult(n) for n in names}

    # 1. where every host stands
    for name, before, err in each(names, lambda n: _named(n, lambda: live_version(conns[n], release.app)),
                                  policy.parallel):
        if err:
            raise err
        results[name].before = results[name].after = before
    todo = [n for n in names if force or results[n].before != release.version]
    for n in names:
        if n not in todo:
            results[n].state = UNCHANGED

    # 2. the image on every host, before anything switches
    def send(name: str) -> int | None:
        on_event(name, "delivering")
        t0 = time.monotonic()
        sent = _named(name, lambda: deliver(conns[name], on_progress))
        results[name].seconds += time.monotonic() - t0
        return sent

    phases["check"] = time.monotonic() - t0
    t0 = time.monotonic()
    failures: list[str] = []
    for name, sent, err in each(todo, send, policy.parallel):
        results[name].bytes_sent = sent
        if err:
            results[name].state, results[name].detail, results[name].failed = FAILED, err.message, True
            failures.append(name)
    phases["deliver"] = time.monotonic() - t0
    if failures:
        return [results[n] for n in names]
    t0 = time.monotonic()

    # 3. switch, batch by batch
    def switch(name: str) -> dict[str, Any]:
        on_event(name, "switching")
        t0 = time.monotonic()
        try:
            return _named(name, lambda: conns[name].agent().deploy(
                release.app, release.version, release.image, release.manifest, release.digest, pull=release.pull))
        finally:
            results[name].seconds += time.monotonic() - t0

    switched: list[str] = []
    for batch in batches(todo, policy.batch):
        try:
            guard()
        except PlatError as exc:
            for name in batch:
                results[name].detail = exc.message
            failures.append(batch[0])
            results[batch[0]].state, results[batch[0]].failed = FAILED, True
            break
        for name, _, err in each(batch, switch, policy.parallel):
            if err:
                results[name].state, results[name].detail, results[name].failed = FAILED, err.message, True
                failures.append(name)
            else:
                results[name].state, results[name].after = SWITCHED, release.version
                switched.append(name)
                on_event(name, "switched")
        if failures:
            break
    phases["switch"] = time.monotonic() - t0
    if failures:
        # A switch that failed on the wire may still have happened: ask those hosts.
        for name, live, err in each(failures, lambda n: _named(n, lambda: live_version(conns[n], release.app)),
                                    policy.parallel):
            if err is None:
                results[name].after = live
                if live == release.version and results[name].before != release.version:
                    switched.append(name)
    if failures and policy.on_failure == "rollback":
        # Hosts that ran this version before the deploy (--force) stay on it.
        undo = [results[n] for n in switched if results[n].before != release.version]
        _roll_back(conns, release.app, undo, policy.parallel, on_event)
    elif failures:
        for n in switched:
            results[n].state = KEPT
    return [results[n] for n in names]


def _roll_back(conns: dict[str, HostConnection], app: str, done: list[HostResult], parallel: int,
               on_event: Event) -> None:
    """Put switched hosts back on their previous version (or remove an app that was new there)."""
    def back(r: HostResult) -> None:
        on_event(r.host, "rolling back")
        agent = conns[r.host].agent()
        if r.before is None:
            agent.destroy(app, keep_secrets=True)  # new on this host: gone again, its secrets kept
        else:
            agent.rollback(app, r.before)

    for r, _, err in each(done, lambda r: _named(r.host, lambda: back(r)), parallel):
        if err:
            r.detail = f"rollback failed: {err.message}"
        else:
            r.state, r.after = ROLLED_BACK, r.before


def outcome(results: list[HostResult], version: str) -> str:
    """ok (no host failed), old (no host ended on `version`), or mixed (some did, some did not)."""
    if not any(r.failed for r in results):
        return "ok"
    return "mixed" if any(r.after == version for r in results) else "old"
