"""The agent's store on a temporary SQLite file: schema migrations, routing writes, the queue."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

import agent.db
from agent.db import SCHEMA, Store, StoreError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "agent.db")
    s.add_tenant("acme", "hash-acme")
    s.add_tenant("other", "hash-other")
    return s


def columns(store: Store, table: str) -> set[str]:
    return {r["name"] for r in store.query(f"PRAGMA table_info({table})")}


# -- schema ----------------------------------------------------------------------------------
def test_fresh_file_is_wal_at_the_latest_schema(tmp_path: Path) -> None:
    s = Store(tmp_path / "agent.db")
    assert s.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    assert s.query("PRAGMA user_version")[0]["user_version"] == len(SCHEMA)
    assert {"worker"} <= columns(s, "invocations") and {"api_key_hash"} <= columns(s, "apps")


def test_a_version_1_file_migrates_forward_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    old = sqlite3.connect(path)
    for statement in SCHEMA[0]:
        old.execute(statement)
    old.execute("INSERT INTO tenants VALUES ('acme', 'h', 0, 1.0)")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    s = Store(path)
    assert s.query("PRAGMA user_version")[0]["user_version"] == len(SCHEMA)
    assert [t["name"] for t in s.tenants()] == ["acme"]
    assert "api_key_hash" in columns(s, "apps")


def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.db"
    Store(path).close()
    broken = [*SCHEMA, ("CREATE TABLE half_done (x)", "THIS IS NOT SQL")]
    monkeypatch.setattr(agent.db, "SCHEMA", broken)
    with pytest.raises(sqlite3.OperationalError):
        Store(path)
    monkeypatch.setattr(agent.db, "SCHEMA", SCHEMA)
    s = Store(path)
    assert s.query("PRAGMA user_version")[0]["user_version"] == len(SCHEMA)
    assert not s.query("SELECT name FROM sqlite_master WHERE name='half_done'")


def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(SCHEMA) + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this agent"):
        Store(path)


def test_two_processes_opening_a_fresh_file_migrate_it_once(tmp_path: Path) -> None:
    path, errors = tmp_path / "agent.db", []
    gate = threading.Barrier(6)

    def open_it() -> None:
        gate.wait()
        try:
            Store(path).close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Store(path).query("PRAGMA user_version")[0]["user_version"] == len(SCHEMA)


# -- tenants, apps, versions -----------------------------------------------------------------
def test_token_hashes_are_unique(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.add_tenant("copy", "hash-acme")
    assert [t["name"] for t in store.tenants()] == ["acme", "other"]
    assert "token_hash" not in store.tenants()[0], "listing tenants never returns hashes"


def test_activate_flips_the_live_version_and_records_it(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", "sha256:1", {"port": 80})
    assert store.app("web")["live_version"] is None
    assert store.activate("web", "v1", keep=3) == []
    store.add_version("web", "acme", "v2", "web:v2", None, {"port": 80})
    store.activate("web", "v2", keep=3)
    assert store.app("web")["live_version"] == "v2"
    assert {v["version"]: v["status"] for v in store.versions("web")} == {"v2": "live", "v1": "retired"}
    switched = store.events("web", None)[0]
    assert (switched["kind"], switched["detail"]) == ("switched", {"version": "v2", "previous": "v1"})
    assert store.version("web", "v1")["manifest"] == {"port": 80}


def test_activate_prunes_beyond_keep(store: Store) -> None:
    for v in ("v1", "v2", "v3", "v4"):
        store.add_version("web", "acme", v, f"web:{v}", None, {})
        pruned = store.activate("web", v, keep=1)
    assert pruned == ["v2"]
    assert [v["version"] for v in store.versions("web")] == ["v4", "v3"]


@pytest.mark.parametrize("target", ["nope", "bad"])
def test_activate_refuses_unknown_or_failed_versions_and_changes_nothing(store: Store, target: str) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {})
    store.activate("web", "v1", keep=3)
    store.add_version("web", "acme", "bad", "web:bad", None, {})
    store.fail_version("web", "bad", "health check failed")
    events = len(store.events("web", None))
    with pytest.raises(StoreError, match=f"cannot activate web {target}"):
        store.activate("web", target, keep=3)
    assert store.app("web")["live_version"] == "v1"
    assert store.version("web", "v1")["status"] == "live"
    assert len(store.events("web", None)) == events


def test_a_failed_first_deploy_leaves_no_app_but_keeps_the_audit(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {})
    store.fail_version("web", "v1", "x" * 5000)
    assert store.app("web") is None and store.versions("web") == []
    failed = store.events("web", None)[0]
    assert failed["kind"] == "deploy-failed" and len(failed["detail"]["reason"]) == 2000


def test_a_routing_write_is_all_or_nothing(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {})
    with pytest.raises(RuntimeError), store.tx() as db:
        db.execute("UPDATE apps SET live_version='v1' WHERE name='web'")
        store.event(db, "web", "switched", version="v1")
        raise RuntimeError("crash between the two writes")
    assert store.app("web")["live_version"] is None
    assert [e["kind"] for e in store.events("web", None)] == ["deploy-started"]


def test_api_key_and_scale_and_delete(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {})
    store.activate("web", "v1", keep=3)
    assert store.app("web")["api_key_hash"] is None, "apps are public by default"
    store.set_api_key("web", "ab" * 32)
    assert store.app("web")["api_key_hash"] == "ab" * 32
    store.set_api_key("web", None)
    assert store.app("web")["api_key_hash"] is None
    with pytest.raises(StoreError, match="no such app"):
        store.set_api_key("ghost", None)
    store.set_scale("web", 2, None)
    assert (store.app("web")["min_warm"], store.app("web")["max_instances"]) == (2, None)
    store.delete_app("web")
    assert store.app("web") is None
    assert store.query("SELECT count(*) AS n FROM versions WHERE app='web'")[0]["n"] == 0
    assert [e["kind"] for e in store.events("web", None)][:3] == ["destroyed", "scaled", "api-key"]


# -- the audit trail -----------------------------------------------------------------------------
def test_every_change_names_its_actor_and_tenant(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", "sha256:1", {}, actor="alice@laptop")
    store.activate("web", "v1", keep=3, actor="alice@laptop")
    store.set_scale("web", 1, 3, actor="bob")
    store.set_api_key("web", "ab" * 32, actor="bob")
    store.record("web", "secret-set", actor="carol", key="DB_URL")
    store.delete_app("web", actor="dave", secrets_removed=1)
    trail = store.audit("web", "acme")
    assert [(e["kind"], e["actor"]) for e in trail] == [
        ("destroyed", "dave"), ("secret-set", "carol"), ("api-key", "bob"), ("scaled", "bob"),
        ("switched", "alice@laptop"), ("deploy-started", "alice@laptop")]
    assert all(set(e) == {"at", "app", "kind", "actor", "detail"} for e in trail)
    assert trail[0]["detail"] == {"secrets_removed": 1} and trail[1]["detail"] == {"key": "DB_URL"}
    assert trail[-1]["detail"] == {"version": "v1", "image": "web:v1", "digest": "sha256:1"}
    assert trail[0]["at"] >= trail[-1]["at"] > 0
    assert {r["tenant"] for r in store.query("SELECT tenant FROM events")} == {"acme"}, \
        "the destroy is recorded while the app (and so its tenant) still exists"
    assert [e["kind"] for e in store.audit("web", "acme", limit=2)] == ["destroyed", "secret-set"]


def test_the_audit_trail_is_per_tenant(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {}, actor="a")
    store.fail_version("web", "v1", "boom", actor="a")  # a failed first deploy: the name is free again
    store.record("web", "secret-set", actor="o", tenant="other", key="K")
    assert [e["kind"] for e in store.audit("web", "other")] == ["secret-set"]
    assert store.audit("web", "acme") == [], "the name has passed to `other`: acme's entries are of another time"
    assert len(store.audit("web", None)) == 3, "no tenant filter: every entry (the admin's view)"


def test_a_later_owner_of_a_reused_name_sees_nothing_of_the_earlier_one(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {}, actor="a")
    store.activate("web", "v1", keep=3, actor="a")
    store.delete_app("web", actor="a")
    store.add_version("web", "acme", "v2", "web:v2", None, {}, actor="a")  # acme again: a new incarnation
    assert [e["kind"] for e in store.audit("web", "acme")] == ["deploy-started", "destroyed", "switched",
                                                                "deploy-started"], "its own history"
    store.delete_app("web", actor="a")
    store.record("web", "lock-acquire", actor="o", tenant="other")  # before its first deploy
    store.add_version("web", "other", "x1", "web:x1", None, {}, actor="o")
    for trail in (store.audit("web", "other"), store.events("web", "other")):
        assert [e["kind"] for e in trail] == ["deploy-started", "lock-acquire"]
        assert "web:v1" not in json.dumps(trail) and "web:v2" not in json.dumps(trail)
    assert store.audit("web", "acme") == [], "nor does an earlier owner see the new one"
    assert len(store.audit("web", None)) == 7, "the admin sees every incarnation"


def test_version_2_events_migrate_with_their_apps_tenant(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    old = sqlite3.connect(path)
    for statements in SCHEMA[:2]:
        for statement in statements:
            old.execute(statement)
    old.execute("INSERT INTO tenants VALUES ('acme', 'h', 0, 1.0)")
    old.execute("INSERT INTO apps (name, tenant, created) VALUES ('web', 'acme', 1.0)")
    old.execute("""INSERT INTO events (app, kind, detail, at) VALUES ('web', 'switched', '{"version": "v1"}', 2.0)""")
    old.execute("""INSERT INTO events (app, kind, detail, at) VALUES ('gone', 'destroyed', '{}', 3.0)""")
    old.execute("PRAGMA user_version=2")
    old.commit()
    old.close()
    s = Store(path)
    assert {"actor", "tenant"} <= columns(s, "events") and "locks" in {
        r["name"] for r in s.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert s.audit("web", "acme") == [{"at": 2.0, "app": "web", "kind": "switched", "actor": None,
                                       "detail": {"version": "v1"}}]
    assert s.audit("gone", "acme") == [] and len(s.audit("gone", None)) == 1


def test_apps_are_listed_per_tenant(store: Store) -> None:
    store.add_version("web", "acme", "v1", "web:v1", None, {})
    store.add_version("api", "other", "v1", "api:v1", None, {})
    assert [a["name"] for a in store.apps("acme")] == ["web"]
    assert [a["name"] for a in store.apps()] == ["api", "web"]


# -- the async queue ---------------------------------------------------------------------------
def test_claim_complete_and_retry(store: Store) -> None:
    inv = store.enqueue("web", "acme", "POST", "/hook?x=1", {"X-A": "1"}, b"\x00body", 3, 1000)
    job = store.claim_due(now=1e12, worker="w1")
    assert (job["id"], job["attempts"], job["worker"], job["headers"], job["body"]) == \
        (inv, 1, "w1", {"X-A": "1"}, b"\x00body")
    assert store.invocation(inv)["status"] == "running" and store.invocation(inv)["worker"] == "w1"
    assert store.claim_due(now=1e12, worker="w2") is None, "a running job is not handed out twice"
    store.finish(inv, "queued", result_status=503, error="upstream", retry_at=2e12)
    assert store.invocation(inv)["worker"] is None
    assert store.claim_due(now=1e12) is None, "not due before retry_at"
    job = store.claim_due(now=2e12, worker="w2")
    assert job["attempts"] == 2
    store.finish(inv, "done", result_status=200, result_headers={"A": "b"}, result_body=b"ok")
    row = store.invocation(inv)
    assert (row["status"], row["result_status"], row["result_body"], row["attempts"]) == ("done", 200, b"ok", 2)


def test_due_jobs_come_out_oldest_first(store: Store) -> None:
    a = store.enqueue("web", "acme", "GET", "/", {}, b"", 3, 1000)
    b = store.enqueue("web", "acme", "GET", "/", {}, b"", 3, 1000)
    store.claim_due(1e12)
    store.finish(a, "queued", retry_at=1.0)  # a retried job, due before b
    assert store.claim_due(1e12)["id"] == a
    assert store.claim_due(1e12)["id"] == b


def test_dead_letter_stays_put(store: Store) -> None:
    inv = store.enqueue("web", "acme", "GET", "/", {}, b"", 1, 1000)
    store.claim_due(1e12)
    store.finish(inv, "dead", result_status=500, error="gave up")
    assert store.claim_due(1e12) is None
    assert store.requeue_running() == 0
    assert store.invocation(inv)["status"] == "dead"


def test_racing_workers_never_take_the_same_job(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    Store(path).add_tenant("acme", "h")
    ids = {Store(path).enqueue("web", "acme", "GET", f"/{i}", {}, b"", 3, 1000) for i in range(60)}
    taken: dict[str, list[str]] = {"w0": [], "w1": []}
    gate = threading.Barrier(2)

    def work(name: str) -> None:
        s = Store(path)  # its own connection, as a worker thread has
        gate.wait()
        while (job := s.claim_due(1e12, worker=name)) is not None:
            taken[name].append(job["id"])
            s.finish(job["id"], "done", result_status=200)

    threads = [threading.Thread(target=work, args=(n,)) for n in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = taken["w0"] + taken["w1"]
    assert len(both) == len(set(both)) == 60 and set(both) == ids
    assert {r["attempts"] for r in Store(path).query("SELECT attempts FROM invocations")} == {1}


def test_a_restart_loses_no_accepted_invocation(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    before = Store(path)
    before.add_tenant("acme", "h")
    first = before.enqueue("web", "acme", "POST", "/a", {}, b"payload", 3, 1000)
    second = before.enqueue("web", "acme", "POST", "/b", {}, b"", 3, 1000)
    done = before.enqueue("web", "acme", "POST", "/c", {}, b"", 3, 1000)
    waiting = before.enqueue("web", "acme", "POST", "/d", {}, b"", 3, 1000)
    before.finish(waiting, "queued", retry_at=5e12)  # a retry not yet due
    assert [before.claim_due(1e12, worker="w0")["id"] for _ in range(3)] == [first, second, done]
    before.finish(done, "done", result_status=200)
    before.close()  # the agent dies mid-delivery of `first` and `second`

    after = Store(path)
    assert after.requeue_running() == 2
    redelivered = [after.claim_due(1e12) for _ in range(2)]
    assert {j["id"] for j in redelivered} == {first, second}
    assert {j["attempts"] for j in redelivered} == {2}, "the interrupted attempt counts"
    assert after.claim_due(1e12) is None
    assert after.invocation(first)["body"] == b"payload"
    assert after.invocation(done)["status"] == "done"
    assert after.invocation(waiting)["status"] == "queued"


def test_only_stale_claims_are_requeued_while_running(store: Store) -> None:
    old = store.enqueue("web", "acme", "GET", "/", {}, b"", 3, 1000)
    new = store.enqueue("web", "acme", "GET", "/", {}, b"", 3, 1000)
    now = time.time()
    store.claim_due(now=now, worker="w0")
    store.claim_due(now=now + 3600, worker="w1")
    assert store.requeue_running(claimed_before=now + 60) == 1
    assert store.invocation(old)["status"] == "queued" and store.invocation(new)["status"] == "running"


def test_invocations_are_listed_per_tenant_and_app(store: Store) -> None:
    store.enqueue("web", "acme", "GET", "/", {}, b"", 3, 1000)
    store.enqueue("api", "acme", "GET", "/", {}, b"", 3, 1000)
    store.enqueue("x", "other", "GET", "/", {}, b"", 3, 1000)
    assert len(store.invocations(None)) == 3
    assert {i["app"] for i in store.invocations("acme")} == {"web", "api"}
    assert [i["app"] for i in store.invocations("acme", "web")] == ["web"]
    assert "body" not in store.invocations("acme")[0], "listings leave bodies out"


def test_the_database_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0)
    try:
        path = tmp_path / "fresh.db"
        Store(path).enqueue("web", "acme", "GET", "/", {}, b"", 3, 10)
        loose = tmp_path / "loose.db"
        loose.touch(mode=0o666)
        Store(loose)
    finally:
        os.umask(old)
    for p in (path, loose, *tmp_path.glob("*.db-wal")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_a_revoked_tenant_matches_no_token_until_it_is_given_one(store: Store) -> None:
    from agent.tokens import authenticate, token_hash

    store.set_token_hash("acme", token_hash("plat_a"))
    assert authenticate("Bearer plat_a", store.tenant_hashes()).tenant == "acme"
    assert store.revoke_tenant("acme") and not store.revoke_tenant("nobody")
    assert authenticate("Bearer plat_a", store.tenant_hashes()) is None
    revoked = next(t for t in store.tenants() if t["name"] == "acme")["revoked"]
    assert revoked and all("token_hash" not in t for t in store.tenants())
    store.set_token_hash("acme", token_hash("plat_b"))
    assert authenticate("Bearer plat_b", store.tenant_hashes()).tenant == "acme"
    assert next(t for t in store.tenants() if t["name"] == "acme")["revoked"] is None


def test_a_restart_recovers_what_was_serving_when_the_agent_was_killed(store: Store) -> None:
    from types import SimpleNamespace

    from agent.core import Agent
    from agent.settings import Settings

    agent = SimpleNamespace(store=store, settings=Settings.from_env({"PLAT_AGENT_STATE": "/s"}))
    status = lambda v: store.version("web", v)["status"]  # noqa: E731
    store.add_version("web", "acme", "v1", "web:v1", None, {}, actor="a")
    store.activate("web", "v1", keep=3)
    store.add_version("web", "acme", "v2", "web:v2", None, {}, actor="a")
    store.set_version_status("web", "v2", "switching")  # then killed: traffic had moved
    Agent.reconcile(agent)  # type: ignore[arg-type]
    assert store.app("web")["live_version"] == "v2" and status("v1") == "retired"
    store.add_version("web", "acme", "v3", "web:v3", None, {}, actor="a")  # killed while warming
    Agent.reconcile(agent)  # type: ignore[arg-type]
    assert store.app("web")["live_version"] == "v2" and status("v3") == "retired", "kept, never live"
    store.add_version("web", "acme", "v2", "web:v2", None, {}, actor="a")  # a redeploy of the live one, killed
    Agent.reconcile(agent)  # type: ignore[arg-type]
    assert store.app("web")["live_version"] == "v2" and status("v2") == "live"
    for v in ("a1", "a2"):  # two first deploys an older agent left half-made
        store.add_version("api", "acme", v, f"api:{v}", None, {}, actor="a")
    Agent.reconcile(agent)  # type: ignore[arg-type]
    assert store.app("api") is None, "nothing half-deployed: the name is free again"
