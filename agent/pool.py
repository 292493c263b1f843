"""The warm pool of one app version: brings instances up and down, keeps the router in step.

Decisions come from `scaling.decide` (pure); this module carries them out with the driver
(containers) and the router (the native proxy), under one lock per pool.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from agent.docker_driver import Instance, InstanceSpec
from agent.health import wait_healthy
from agent.scaling import Action, Policy, Seen, Tier, decide, scale_up


class Driver(Protocol):
    """The container runtime the pool and the API use (Docker in production, a fake in tests)."""

    def create(self, spec: InstanceSpec) -> Instance: ...
    def start(self, instance_id: str) -> Instance: ...
    def pause(self, instance_id: str) -> None: ...
    def unpause(self, instance_id: str) -> None: ...
    def stop(self, instance_id: str, timeout: int = 10) -> None: ...
    def remove(self, instance_id: str) -> None: ...
    def inspect(self, instance_id: str) -> Instance | None: ...
    def logs(self, instance_id: str, tail: int = 50, since: float | None = None) -> str: ...
    def follow(self, instance_id: str, since: float | None = None) -> Iterator[bytes]: ...
    def list(self, app: str | None = None) -> list[Instance]:
        """Every instance this agent manages (found by label), in any state."""
        ...
    def ensure_image(self, image: str, auth: Mapping[str, str] | None = None, always: bool = False) -> bool:
        """Pull `image` if it is not present (or `always`); whether it pulled. Raises PullFailed."""
        ...
    def layer_diff_ids(self) -> builtins.list[builtins.list[str]]:  # `list` here is the method above
        """`RootFS.Layers` of every local image."""
        ...


@dataclass(frozen=True)
class ServerLoad:
    in_flight: int = 0
    idle_for: float = 0.0


class Router(Protocol):
    """The data plane: which instance addresses serve an app."""

    def add(self, app: str, server: str, address: str, maxconn: int) -> None: ...
    def remove(self, app: str, server: str) -> object: ...  # the result (Gateway's: whether it deleted) is unused
    def load(self, app: str) -> tuple[int, dict[str, ServerLoad]]:
        """Requests queued for the app, and per-server load."""
        ...


class StartFailed(Exception):
    """An instance did not become healthy; carries its log tail."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    tier: Tier
    since: float
    address: str | None = None


class AppPool:
    def __init__(self, spec: InstanceSpec, policy: Policy, health_path: str, driver: Driver, router: Router,
                 *, start_timeout: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 extra_env: Callable[[], Mapping[str, str]] | None = None) -> None:
        self.spec = spec
        self.extra_env = extra_env
        """Env read at every container creation (the app's secrets), so new instances get current values."""
        self.policy = policy
        self.health_path = health_path
        self.driver = driver
        self.router = router
        self.start_timeout = start_timeout
        self.clock = clock
        self.members: dict[str, Member] = {}
        self.routed = False
        """Whether ready members are registered with the router (false while warming a new version)."""
        self.crashes: list[float] = []
        self._lock = threading.RLock()

    @property
    def app(self) -> str:
        return self.spec.app

    # -- bringing instances up ------------------------------------------------------------
    def _spec_now(self) -> InstanceSpec:
        """The spec with the extra env as of now (it wins over the manifest's env)."""
        if self.extra_env is None:
            return self.spec
        return replace(self.spec, env={**self.spec.env, **self.extra_env()})

    def _healthy(self, inst: Instance) -> Instance:
        alive = lambda: (cur := self.driver.inspect(inst.id)) is not None and cur.state == "running"  # noqa: E731
        if not inst.address or not wait_healthy(inst.address, self.health_path, self.start_timeout, alive):
            tail = self.driver.logs(inst.id, tail=30)
            self.driver.remove(inst.id)
            raise StartFailed(f"instance of {self.app} did not answer {self.health_path} within "
                              f"{self.start_timeout:.0f}s", tail)
        return inst

    def _up(self, action: Action) -> Member:
        if action.kind == "resume" and action.instance:
            self.driver.unpause(action.instance)
            inst = self.driver.inspect(action.instance)
            assert inst is not None
        elif action.kind == "start" and action.instance:
            inst = self._healthy(self.driver.start(action.instance))
        else:
            created = self.driver.create(self._spec_now())
            inst = self._healthy(self.driver.start(created.id))
        member = Member(inst.id, inst.name, Tier.READY, self.clock(), inst.address)
        self.members[member.id] = member
        if self.routed and member.address:
            self.router.add(self.app, member.name, member.address, self.policy.concurrency)
        return member

    def claim(self) -> Member:
        """One ready instance, brought up from the warmest tier if none is (scale from zero)."""
        with self._lock:
            ready = [m for m in self.members.values() if m.tier == Tier.READY]
            if ready:
                return ready[0]
            return self._up(scale_up(self._seen({})))

    def warm(self, count: int) -> list[Member]:
        """Bring `count` instances up (a deploy's warm step); on failure remove what started."""
        started: list[Member] = []
        with self._lock:
            try:
                for _ in range(count):
                    started.append(self._up(scale_up(self._seen({}))))
            except Exception:
                for m in started:
                    self.driver.remove(m.id)
                    self.members.pop(m.id, None)
                raise
        return started

    def route(self) -> None:
        """Register every ready member with the router (the switch step of a deploy)."""
        with self._lock:
            self.routed = True
            for m in self.members.values():
                if m.tier == Tier.READY and m.address:
                    self.router.add(self.app, m.name, m.address, self.policy.concurrency)

    # -- bringing instances down ----------------------------------------------------------
    def _down(self, action: Action) -> None:
        member = self.members.get(action.instance or "")
        if member is None:
            return
        if member.tier == Tier.READY and self.routed:
            self.router.remove(self.app, member.name)
        if action.kind == "pause":
            self.driver.pause(member.id)
            self.members[member.id] = replace(member, tier=Tier.PAUSED, since=self.clock())
        elif action.kind == "stop":
            if member.tier == Tier.PAUSED:
                self.driver.unpause(member.id)
            self.driver.stop(member.id)
            self.members[member.id] = replace(member, tier=Tier.STOPPED, since=self.clock(), address=None)
        else:
            self.driver.remove(member.id)
            self.members.pop(member.id, None)

    def retire(self) -> None:
        """Unroute and remove every instance (the drain step after a swap, or a delete)."""
        with self._lock:
            for member in list(self.members.values()):
                self._down(Action("remove", member.id))
            self.routed = False

    # -- the control loop -----------------------------------------------------------------
    def _seen(self, load: dict[str, ServerLoad]) -> list[Seen]:
        out, now = [], self.clock()
        for m in self.members.values():
            server = load.get(m.name, ServerLoad(idle_for=float("inf")))
            # A member that just came up has served nothing yet: idle since it became ready.
            out.append(Seen(m.id, m.tier, m.since, min(server.idle_for, now - m.since), server.in_flight))
        return out

    def reap_crashed(self) -> int:
        """Forget ready members whose container died, so the policy replaces them."""
        crashed = 0
        for member in [m for m in self.members.values() if m.tier == Tier.READY]:
            inst = self.driver.inspect(member.id)
            if inst is None or inst.state not in ("running",):
                if self.routed:
                    self.router.remove(self.app, member.name)
                self.driver.remove(member.id)
                self.members.pop(member.id, None)
                self.crashes.append(self.clock())
                crashed += 1
        return crashed

    def crash_looping(self, window: float = 60.0, limit: int = 3) -> bool:
        now = self.clock()
        self.crashes = [t for t in self.crashes if now - t < window]
        return len(self.crashes) >= limit

    def tick(self) -> list[Action]:
        """One round of the control loop: replace crashed instances, then scale."""
        with self._lock:
            if not self.routed:
                return []
            self.reap_crashed()
            queued, load = self.router.load(self.app)
            actions = decide(self._seen(load), queued, self.clock(), self.policy)
            if self.crash_looping():
                actions = [a for a in actions if a.kind not in ("create", "start", "resume")]
            for action in actions:
                if action.kind in ("create", "start", "resume"):
                    self._up(action)
                else:
                    self._down(action)
            return actions

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return [{"id": m.id[:12], "name": m.name, "tier": m.tier.value, "address": m.address}
                    for m in self.members.values()]

    def adopt(self, instances: list[Instance]) -> None:
        """Take over containers found by label after an agent restart (never duplicates)."""
        tiers = {"running": Tier.READY, "paused": Tier.PAUSED, "created": Tier.STOPPED, "exited": Tier.STOPPED}
        with self._lock:
            for inst in instances:
                tier = tiers.get(inst.state)
                if tier is None:
                    self.driver.remove(inst.id)
                    continue
                self.members[inst.id] = Member(inst.id, inst.name, tier, self.clock(), inst.address)
