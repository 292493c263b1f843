"""Deploy locks: request checks and the public view (pure), then leases in the store."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.api import parse_body
from agent.db import Store
from agent.locks import held_message, iso, view
from plat_contract.api import LockRequest

ROW = {"app": "web", "token_hash": "h", "holder": "alice@laptop", "machine": "laptop", "pid": 42, "since": 1000.0,
       "renewed": 1030.0, "ttl": 60.0, "tenant": "acme"}


def lock_request(body: dict[str, Any]) -> tuple[str, str, int, float]:
    parsed = parse_body(LockRequest, json.dumps(body).encode())
    return parsed.holder, parsed.machine, parsed.pid, float(parsed.ttl)


def test_lock_request_defaults_and_bounds() -> None:
    assert lock_request({"holder": "alice@laptop", "machine": "laptop", "pid": 42}) == ("alice@laptop", "laptop",
                                                                                        42, 60.0)
    assert lock_request({"holder": "bob (ci run 7)", "machine": "m", "pid": 0, "ttl": 5})[3] == 5.0
    assert lock_request({"holder": "a", "machine": "m", "pid": 1, "ttl": 3600.0})[3] == 3600.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"machine": "m", "pid": 1}, "holder"),
        ({"holder": "   ", "machine": "m", "pid": 1}, "holder"),
        ({"holder": "a" * 201, "machine": "m", "pid": 1}, "holder"),
        ({"holder": "a\nb", "machine": "m", "pid": 1}, "holder"),
        ({"holder": "a", "machine": 7, "pid": 1}, "machine"),
        ({"holder": "a", "machine": "m"}, "pid"),
        ({"holder": "a", "machine": "m", "pid": -1}, "pid"),
        ({"holder": "a", "machine": "m", "pid": True}, "pid"),
        ({"holder": "a", "machine": "m", "pid": "42"}, "pid"),
        ({"holder": "a", "machine": "m", "pid": 1, "ttl": 4.9}, "ttl"),
        ({"holder": "a", "machine": "m", "pid": 1, "ttl": 3601}, "ttl"),
        ({"holder": "a", "machine": "m", "pid": 1, "ttl": "60"}, "ttl"),
        ({"holder": "a", "machine": "m", "pid": 1, "ttl": True}, "ttl"),
        ({"holder": " a", "machine": "m", "pid": 1}, "holder"),
        ({"holder": "a", "machine": "m;\x00", "pid": 1}, "machine"),
        ({"holder": "a", "machine": "m", "pid": 1, "extra": 1}, "extra"),
    ],
)
def test_lock_request_refusals_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        lock_request(body)


def test_view_hides_the_token_and_tenant_and_says_when_stale() -> None:
    fresh = view(ROW, now=1090.0)
    assert fresh == {"app": "web", "holder": "alice@laptop", "machine": "laptop", "pid": 42, "since": 1000.0,
                     "renewed": 1030.0, "expires": 1090.0, "stale": False}
    assert view(ROW, now=1090.5)["stale"] is True
    assert view(None, now=0) is None


def test_held_message_names_holder_machine_pid_and_iso_time() -> None:
    lock = view({**ROW, "since": 1700000000.0}, now=0)
    assert held_message(lock) == "web is locked by alice@laptop on laptop (pid 42) since 2023-11-14T22:13:20Z"
    assert iso(0) == "1970-01-01T00:00:00Z"


# -- leases in the store ---------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "agent.db")
    s.add_tenant("acme", "hash-acme")
    return s


def take(store: Store, token: str = "t1", holder: str = "alice", now: float = 100.0) -> tuple[bool, dict]:
    return store.acquire_lock("web", "acme", token, holder, "laptop", 7, 60.0, actor=holder, now=now)


def test_acquire_renew_release(store: Store) -> None:
    got, row = take(store)
    assert got and row["holder"] == "alice" and store.lock("web")["token_hash"] == "t1"
    got, held = take(store, "t2", "bob", now=500.0)
    assert not got and held["holder"] == "alice", "held, even when stale: never taken over on its own"
    assert store.renew_lock("web", "t2", now=150.0) is None, "a wrong token does not renew"
    renewed = store.renew_lock("web", "t1", now=150.0)
    assert renewed["renewed"] == 150.0 and store.lock("web")["renewed"] == 150.0
    assert store.release_lock("web", "t2") == (False, store.lock("web")), "a wrong token releases nothing"
    released, was = store.release_lock("web", "t1", actor="alice")
    assert released and was["holder"] == "alice" and store.lock("web") is None
    assert store.release_lock("web", "t1") == (False, None)
    assert store.renew_lock("web", "t1") is None, "a released lock cannot be renewed"


def test_force_release_is_audited_with_the_previous_holder(store: Store) -> None:
    take(store)
    released, was = store.release_lock("web", None, force=True, actor="ops@desk")
    assert released and was["holder"] == "alice"
    last = store.audit("web", "acme")[0]
    assert (last["kind"], last["actor"]) == ("lock-force-release", "ops@desk")
    assert last["detail"] == {"holder": "alice", "machine": "laptop", "pid": 7, "since": 100.0}
    assert [e["kind"] for e in store.audit("web", "acme")] == ["lock-force-release", "lock-acquire"]


def test_only_one_of_many_concurrent_acquirers_wins(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    Store(path).close()
    gate, results = threading.Barrier(8), []

    def contend(n: int) -> None:
        s = Store(path)
        gate.wait()
        results.append(s.acquire_lock("web", "acme", f"t{n}", f"h{n}", "m", n, 60.0)[0])
        s.close()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1 and len(results) == 8
