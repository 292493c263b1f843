"""Warm-pool decisions, as a pure function of what the pool sees.

Instances step down through tiers as they sit idle, so "zero" costs no CPU yet comes back
fast: ready → paused (resumes in tens of ms) → created-but-stopped (a `start`, ~0.3 s) →
removed (image only: a full create + start). Scaling up prefers the warmest tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    STARTING = "starting"
    READY = "ready"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Policy:
    min_warm: int = 0
    max_instances: int = 4
    concurrency: int = 32
    idle_timeout: float = 300.0
    """Seconds without a request before a ready instance above min_warm steps down."""
    paused_ttl: float = 600.0
    """Seconds an instance stays paused before it is stopped."""
    stopped_ttl: float = 3600.0
    """Seconds an instance stays created-but-stopped before it is removed."""
    max_paused: int = 1
    max_stopped: int = 1
    scale_up_at: float = 0.8
    """Add an instance when in-flight requests reach this share of ready capacity."""


@dataclass(frozen=True)
class Seen:
    """One instance as the pool sees it now."""

    id: str
    tier: Tier
    since: float
    """When it entered its tier (monotonic seconds)."""
    idle_for: float = 0.0
    """Seconds since its last request (ready instances)."""
    in_flight: int = 0


@dataclass(frozen=True)
class Action:
    kind: str
    """create | resume | start | pause | stop | remove"""
    instance: str | None = None


def _warmest(instances: list[Seen], tier: Tier) -> Seen | None:
    found = sorted((i for i in instances if i.tier == tier), key=lambda i: -i.since)
    return found[0] if found else None


def scale_up(instances: list[Seen]) -> Action:
    """Bring one more instance up from the warmest tier available."""
    for tier, kind in ((Tier.PAUSED, "resume"), (Tier.STOPPED, "start")):
        found = _warmest(instances, tier)
        if found:
            return Action(kind, found.id)
    return Action("create")


def decide(instances: list[Seen], queued: int, now: float, policy: Policy) -> list[Action]:
    """What to do now, given the instances, requests waiting in the proxy queue and the policy."""
    ready = [i for i in instances if i.tier == Tier.READY]
    starting = [i for i in instances if i.tier == Tier.STARTING]
    up = len(ready) + len(starting)
    actions: list[Action] = []

    # Below the floor: bring instances up.
    pool = list(instances)
    for _ in range(max(0, policy.min_warm - up)):
        act = scale_up(pool)
        actions.append(act)
        pool = [i for i in pool if i.id != act.instance]
    if actions:
        return actions

    # Under load: one more instance per decision, up to the ceiling.
    in_flight = sum(i.in_flight for i in ready)
    capacity = len(ready) * policy.concurrency
    loaded = queued > 0 or (capacity > 0 and in_flight >= policy.scale_up_at * capacity)
    if loaded and not starting and up < policy.max_instances:
        return [scale_up(instances)]

    # Idle: step ready instances above the floor down, the longest idle first.
    spare = len(ready) - policy.min_warm
    paused = sum(1 for i in instances if i.tier == Tier.PAUSED)
    stopped = sum(1 for i in instances if i.tier == Tier.STOPPED)
    for inst in sorted(ready, key=lambda i: -i.idle_for):
        if spare <= 0 or inst.in_flight or inst.idle_for < policy.idle_timeout or queued:
            break
        spare -= 1
        if paused < policy.max_paused:
            actions.append(Action("pause", inst.id))
            paused += 1
        elif stopped < policy.max_stopped:
            actions.append(Action("stop", inst.id))
            stopped += 1
        else:
            actions.append(Action("remove", inst.id))

    # Colder tiers age out.
    for inst in instances:
        age = now - inst.since
        if inst.tier == Tier.PAUSED and age >= policy.paused_ttl:
            actions.append(Action("stop" if stopped < policy.max_stopped else "remove", inst.id))
            stopped += 1
        elif inst.tier == Tier.STOPPED and age >= policy.stopped_ttl:
            actions.append(Action("remove", inst.id))
    return actions
