"""Warm-pool decisions as a table: instances + queue + time → actions."""

import pytest

from agent.scaling import Action, Policy, Seen, Tier, decide, scale_up

P = Policy(min_warm=1, max_instances=3, concurrency=10, idle_timeout=60, paused_ttl=600, stopped_ttl=3600)


def r(id: str, idle: float = 0, in_flight: int = 0) -> Seen:
    return Seen(id, Tier.READY, since=0, idle_for=idle, in_flight=in_flight)


@pytest.mark.parametrize(
    ("instances", "queued", "now", "policy", "expected"),
    [
        # Below min_warm: create, or resume the warmest idle tier first.
        ([], 0, 0, P, [Action("create")]),
        ([Seen("p", Tier.PAUSED, 5)], 0, 10, P, [Action("resume", "p")]),
        ([Seen("s", Tier.STOPPED, 5)], 0, 10, P, [Action("start", "s")]),
        ([Seen("s", Tier.STOPPED, 5), Seen("p", Tier.PAUSED, 1)], 0, 10, P, [Action("resume", "p")]),
        ([], 0, 0, Policy(min_warm=2), [Action("create"), Action("create")]),
        # Steady: nothing to do.
        ([r("a", idle=5, in_flight=2)], 0, 100, P, []),
        # Queue or load near capacity: one more, never above max_instances.
        ([r("a", in_flight=10)], 0, 100, P, [Action("create")]),
        ([r("a", in_flight=1)], 3, 100, P, [Action("create")]),
        ([r("a", in_flight=10), r("b", in_flight=10), r("c", in_flight=10)], 9, 100, P, []),
        # Only one start at a time while one is still starting.
        ([r("a", in_flight=10), Seen("n", Tier.STARTING, 99)], 5, 100, P, []),
        # Idle above the floor: pause, then stop, then remove (tier limits).
        ([r("a", idle=100), r("b", idle=200)], 0, 300, P, [Action("pause", "b")]),
        ([r("a", idle=100), r("b", idle=200), Seen("p", Tier.PAUSED, 250)], 0, 300, P, [Action("stop", "b")]),
        ([r("a", idle=100), r("b", idle=200), Seen("p", Tier.PAUSED, 250), Seen("s", Tier.STOPPED, 250)], 0, 300, P,
         [Action("remove", "b")]),
        # Scale to zero when min_warm is 0.
        ([r("a", idle=61)], 0, 100, Policy(min_warm=0, idle_timeout=60), [Action("pause", "a")]),
        # Busy or recently used instances stay.
        ([r("a", idle=100), r("b", idle=100, in_flight=1)], 0, 300, P, [Action("pause", "a")]),
        # Colder tiers age out.
        ([r("a"), Seen("p", Tier.PAUSED, since=0)], 0, 700, P, [Action("stop", "p")]),
        ([r("a"), Seen("s", Tier.STOPPED, since=0)], 0, 3700, P, [Action("remove", "s")]),
    ],
)
def test_decide(instances: list[Seen], queued: int, now: float, policy: Policy, expected: list[Action]) -> None:
    assert decide(instances, queued, now, policy) == expected


def test_scale_up_prefers_the_most_recently_paused() -> None:
    old, new = Seen("old", Tier.PAUSED, since=1), Seen("new", Tier.PAUSED, since=9)
    assert scale_up([old, new]) == Action("resume", "new")
