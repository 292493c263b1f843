"""The agent's store: SQLite in WAL mode. Apps, versions, tenants, invocations, deploy events.

Writes that change routing happen in one transaction with their audit event. The async queue
lives here too, so an accepted invocation survives an agent restart.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# One entry per schema version (`PRAGMA user_version`), each a tuple of statements applied in
# one transaction. Append, never edit: a state dir from an older agent migrates forward.
SCHEMA: list[tuple[str, ...]] = [
    (
        """CREATE TABLE tenants (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE,
                                admin INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL)""",
        """CREATE TABLE apps (name TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants(name),
                             live_version TEXT, min_warm INTEGER, max_instances INTEGER, created REAL NOT NULL)""",
        """CREATE TABLE versions (app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE, version TEXT NOT NULL,
                                 image TEXT NOT NULL, digest TEXT, manifest TEXT NOT NULL, status TEXT NOT NULL,
                                 created REAL NOT NULL, PRIMARY KEY (app, version))""",
        """CREATE TABLE invocations (id TEXT PRIMARY KEY, app TEXT NOT NULL, tenant TEXT NOT NULL,
                                    method TEXT NOT NULL, path TEXT NOT NULL, headers TEXT NOT NULL, body BLOB,
                                    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                                    max_attempts INTEGER NOT NULL, next_attempt REAL NOT NULL, callback_url TEXT,
                                    result_status INTEGER, result_headers TEXT, result_body BLOB, error TEXT,
                                    created REAL NOT NULL, updated REAL NOT NULL)""",
        "CREATE INDEX invocations_due ON invocations(status, next_attempt)",
        """CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, kind TEXT NOT NULL,
                               detail TEXT NOT NULL, at REAL NOT NULL)""",
    ),
    (
        # Which worker holds a running job (for status and for stale-claim recovery).
        "ALTER TABLE invocations ADD COLUMN worker TEXT",
        # SHA-256 (hex) of the app's API key; NULL means the app is public.
        "ALTER TABLE apps ADD COLUMN api_key_hash TEXT",
    ),
    (
        # The audit trail: who (X-Plat-Actor, else the tenant) did it, for which tenant.
        "ALTER TABLE events ADD COLUMN actor TEXT",
        "ALTER TABLE events ADD COLUMN tenant TEXT",
        "UPDATE events SET tenant=(SELECT tenant FROM apps WHERE apps.name=events.app)",
        "CREATE INDEX events_app ON events(app, id)",
        # Per-app deploy leases; only the SHA-256 of the holder's token is kept.
        """CREATE TABLE locks (app TEXT PRIMARY KEY, token_hash TEXT NOT NULL, holder TEXT NOT NULL,
                              machine TEXT NOT NULL, pid INTEGER NOT NULL, since REAL NOT NULL,
                              renewed REAL NOT NULL, ttl REAL NOT NULL, tenant TEXT NOT NULL)""",
    ),
    (
        # When a tenant's token was revoked (its apps keep serving; a rotation gives it a new one).
        "ALTER TABLE tenants ADD COLUMN revoked REAL",
    ),
]


class StoreError(Exception):
    """A write the store refuses because it would leave routing inconsistent."""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Tokens' hashes and queued request bodies live here: owner-only whatever the umask
        # (SQLite gives its -wal and -shm files the database file's mode).
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        path.chmod(0o600)
        self._local = threading.local()
        db = self._conn()
        self._wal(db)
        self._migrate(db)

    @staticmethod
    def _wal(db: sqlite3.Connection, attempts: int = 200) -> None:
        """Switch the file to WAL. SQLite can refuse the switch at once ("database is locked",
        without waiting on the busy timeout) while another process opens the same fresh file,
        so retry for a few seconds."""
        for attempt in range(attempts):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.02)

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Apply pending schema versions under the write lock, so two processes starting on
        the same file never apply one twice; a failed step leaves the previous version intact."""
        db.execute("BEGIN IMMEDIATE")
        try:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > len(SCHEMA):
                raise StoreError(f"{self.path} has schema version {current}, newer than this agent's {len(SCHEMA)}")
            for number, statements in enumerate(SCHEMA[current:], start=current + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they exit)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: all or nothing, writers serialised."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, args).fetchall()]

    # -- tenants -----------------------------------------------------------------------------
    def add_tenant(self, name: str, token_hash: str, admin: bool = False) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO tenants (name, token_hash, admin, created) VALUES (?, ?, ?, ?)",
                       (name, token_hash, int(admin), time.time()))

    def set_token_hash(self, name: str, token_hash: str) -> None:
        """Rotate a tenant's token (or give a revoked one a new one): the old one stops working at once."""
        with self.tx() as db:
            if db.execute("UPDATE tenants SET token_hash=?, revoked=NULL WHERE name=?",
                          (token_hash, name)).rowcount != 1:
                raise StoreError(f"no such tenant {name!r}")

    def revoke_tenant(self, name: str) -> bool:
        """Make no token the tenant's (the stored value is no SHA-256, so nothing matches it);
        False when there is no such tenant, or it is the admin's."""
        with self.tx() as db:
            return db.execute("UPDATE tenants SET token_hash='revoked:' || lower(hex(randomblob(16))), revoked=? "
                              "WHERE name=? AND admin=0", (time.time(), name)).rowcount == 1

    def tenants(self) -> list[dict[str, Any]]:
        return self.query("SELECT name, admin, created, revoked FROM tenants ORDER BY name")

    def tenant_hashes(self) -> list[dict[str, Any]]:
        return self.query("SELECT name, token_hash, admin FROM tenants")

    # -- apps and versions -------------------------------------------------------------------
    def event(self, db: sqlite3.Connection, app: str, kind: str, *, actor: str | None = None,
              tenant: str | None = None, **detail: Any) -> None:
        """Append to the audit trail inside `db`'s transaction; the tenant defaults to the app's."""
        db.execute("INSERT INTO events (app, kind, detail, at, actor, tenant) "
                   "VALUES (?, ?, ?, ?, ?, coalesce(?, (SELECT tenant FROM apps WHERE name=?)))",
                   (app, kind, json.dumps(detail), time.time(), actor, tenant, app))

    def record(self, app: str, kind: str, *, actor: str | None = None, tenant: str | None = None,
               **detail: Any) -> None:
        """An audit event on its own (for changes that live outside the database, like secrets)."""
        with self.tx() as db:
            self.event(db, app, kind, actor=actor, tenant=tenant, **detail)

    def add_version(self, app: str, tenant: str, version: str, image: str, digest: str | None,
                    manifest: dict[str, Any], actor: str | None = None) -> None:
        with self.tx() as db:
            db.execute("INSERT OR IGNORE INTO apps (name, tenant, created) VALUES (?, ?, ?)",
                       (app, tenant, time.time()))
            db.execute("INSERT OR REPLACE INTO versions VALUES (?, ?, ?, ?, ?, 'warming', ?)",
                       (app, version, image, digest, json.dumps(manifest), time.time()))
            self.event(db, app, "deploy-started", actor=actor, version=version, image=image, digest=digest)

    def activate(self, app: str, version: str, keep: int, actor: str | None = None) -> list[str]:
        """Make `version` live in one transaction; returns versions pruned beyond `keep`.

        Refuses a version that is unknown or failed: the live route never points at nothing."""
        with self.tx() as db:
            row = db.execute("SELECT status FROM versions WHERE app=? AND version=?", (app, version)).fetchone()
            if row is None or row[0] == "failed":
                why = "no such version" if row is None else "it failed its deploy"
                raise StoreError(f"cannot activate {app} {version}: {why}")
            prev = db.execute("SELECT live_version FROM apps WHERE name=?", (app,)).fetchone()
            db.execute("UPDATE versions SET status='retired' WHERE app=? AND status='live'", (app,))
            db.execute("UPDATE versions SET status='live' WHERE app=? AND version=?", (app, version))
            db.execute("UPDATE apps SET live_version=? WHERE name=?", (version, app))
            self.event(db, app, "switched", actor=actor, version=version, previous=prev[0] if prev else None)
            old = [r[0] for r in db.execute(
                "SELECT version FROM versions WHERE app=? AND status='retired' ORDER BY created DESC", (app,))]
            pruned = old[keep:]
            for v in pruned:
                db.execute("DELETE FROM versions WHERE app=? AND version=?", (app, v))
            return pruned

    def fail_version(self, app: str, version: str, reason: str, actor: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE versions SET status='failed' WHERE app=? AND version=?", (app, version))
            self.event(db, app, "deploy-failed", actor=actor, version=version, reason=reason[-2000:])
            row = db.execute("SELECT live_version FROM apps WHERE name=?", (app,)).fetchone()
            if row is not None and not row[0]:  # a first deploy that failed: the name is free again
                db.execute("DELETE FROM apps WHERE name=?", (app,))

    def set_version_status(self, app: str, version: str, status: str) -> None:
        """`switching` (traffic is about to move to it) or `retired` (kept for rollback)."""
        assert status in ("switching", "retired", "live")
        with self.tx() as db:
            db.execute("UPDATE versions SET status=? WHERE app=? AND version=?", (status, app, version))

    def set_scale(self, app: str, min_warm: int | None, max_instances: int | None, actor: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE apps SET min_warm=coalesce(?, min_warm), max_instances=coalesce(?, max_instances) "
                       "WHERE name=?", (min_warm, max_instances, app))
            self.event(db, app, "scaled", actor=actor, min_warm=min_warm, max_instances=max_instances)

    def set_api_key(self, app: str, key_hash: str | None, actor: str | None = None) -> None:
        """Require an API key (its SHA-256, hex) for the app's gateway routes, or make it public (None)."""
        with self.tx() as db:
            if db.execute("UPDATE apps SET api_key_hash=? WHERE name=?", (key_hash, app)).rowcount != 1:
                raise StoreError(f"no such app {app!r}")
            self.event(db, app, "api-key", actor=actor, public=key_hash is None)

    def delete_app(self, app: str, actor: str | None = None, **detail: Any) -> None:
        with self.tx() as db:
            self.event(db, app, "destroyed", actor=actor, **detail)
            db.execute("DELETE FROM apps WHERE name=?", (app,))

    def app(self, app: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM apps WHERE name=?", app)
        return rows[0] if rows else None

    def apps(self, tenant: str | None = None) -> list[dict[str, Any]]:
        if tenant is None:
            return self.query("SELECT * FROM apps ORDER BY name")
        return self.query("SELECT * FROM apps WHERE tenant=? ORDER BY name", tenant)

    def versions(self, app: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM versions WHERE app=? ORDER BY created DESC", app)
        for r in rows:
            r["manifest"] = json.loads(r["manifest"])
        return rows

    def version(self, app: str, version: str) -> dict[str, Any] | None:
        return next((v for v in self.versions(app) if v["version"] == version), None)

    def events(self, app: str, tenant: str | None, limit: int = 100) -> list[dict[str, Any]]:
        return self._trail("*", app, tenant, limit)

    def audit(self, app: str, tenant: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The app's audit trail, newest first (see `_trail` for what a tenant sees)."""
        return self._trail("at, app, kind, actor, detail", app, tenant, limit)

    def _trail(self, columns: str, app: str, tenant: str | None, limit: int) -> list[dict[str, Any]]:
        """Entries for `app`, newest first. With `tenant` (anyone but the admin): only that
        tenant's, and only since the name last passed to it from another tenant, so a later
        owner of a reused name sees nothing of an earlier one, nor an earlier one of it."""
        sql = f"SELECT {columns} FROM events WHERE app=?"
        args: list[Any] = [app]
        if tenant is not None:
            sql += " AND tenant=? AND id > coalesce((SELECT max(id) FROM events WHERE app=? AND tenant IS NOT ?), 0)"
            args += [tenant, app, tenant]
        rows = self.query(sql + " ORDER BY id DESC LIMIT ?", *args, limit)
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows

    # -- deploy locks (leases) ---------------------------------------------------------------
    def lock(self, app: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM locks WHERE app=?", app)
        return rows[0] if rows else None

    def acquire_lock(self, app: str, tenant: str, token_hash: str, holder: str, machine: str, pid: int, ttl: float,
                     actor: str | None = None, now: float | None = None) -> tuple[bool, dict[str, Any]]:
        """Take the app's lease if nobody holds it (a stale one included): `(True, new row)`,
        else `(False, the holder's row)`. One IMMEDIATE transaction: two callers never both win."""
        now = time.time() if now is None else now
        with self.tx() as db:
            held = db.execute("SELECT * FROM locks WHERE app=?", (app,)).fetchone()
            if held is not None:
                return False, dict(held)
            row = {"app": app, "token_hash": token_hash, "holder": holder, "machine": machine, "pid": pid,
                   "since": now, "renewed": now, "ttl": ttl, "tenant": tenant}
            db.execute("INSERT INTO locks (app, token_hash, holder, machine, pid, since, renewed, ttl, tenant) "
                       "VALUES (:app, :token_hash, :holder, :machine, :pid, :since, :renewed, :ttl, :tenant)", row)
            self.event(db, app, "lock-acquire", actor=actor, tenant=tenant, holder=holder, machine=machine, pid=pid,
                       ttl=ttl)
        return True, row

    def renew_lock(self, app: str, token_hash: str, now: float | None = None) -> dict[str, Any] | None:
        """Extend the lease held with this token; None when the caller does not hold it (lost)."""
        now = time.time() if now is None else now
        with self.tx() as db:
            held = db.execute("SELECT * FROM locks WHERE app=?", (app,)).fetchone()
            if held is None or not hmac.compare_digest(held["token_hash"], token_hash):
                return None
            db.execute("UPDATE locks SET renewed=? WHERE app=?", (now, app))
        return {**dict(held), "renewed": now}

    def release_lock(self, app: str, token_hash: str | None, force: bool = False,
                     actor: str | None = None) -> tuple[bool, dict[str, Any] | None]:
        """Release the lease held with this token (or, with `force`, whoever holds it).
        Returns whether it was released and the lease as it was (None when there was none)."""
        with self.tx() as db:
            held = db.execute("SELECT * FROM locks WHERE app=?", (app,)).fetchone()
            if held is None:
                return False, None
            mine = token_hash is not None and hmac.compare_digest(held["token_hash"], token_hash)
            if not (mine or force):
                return False, dict(held)
            db.execute("DELETE FROM locks WHERE app=?", (app,))
            who = {"holder": held["holder"], "machine": held["machine"], "pid": held["pid"], "since": held["since"]}
            self.event(db, app, "lock-release" if mine else "lock-force-release", actor=actor, tenant=held["tenant"],
                       **who)
        return True, dict(held)

    # -- the async queue ---------------------------------------------------------------------
    def enqueue(self, app: str, tenant: str, method: str, path: str, headers: dict[str, str], body: bytes,
                max_attempts: int, max_pending: int) -> str | None:
        """A new queued invocation's id, or None when `app` already has `max_pending` waiting or running."""
        inv = uuid.uuid4().hex
        now = time.time()
        with self.tx() as db:
            pending = db.execute("SELECT count(*) FROM invocations WHERE app=? AND status IN ('queued','running')",
                                 (app,)).fetchone()[0]
            if pending >= max_pending:
                return None
            db.execute("INSERT INTO invocations (id, app, tenant, method, path, headers, body, status, max_attempts,"
                       " next_attempt, created, updated) VALUES (?,?,?,?,?,?,?,'queued',?,?,?,?)",
                       (inv, app, tenant, method, path, json.dumps(headers), body, max_attempts, now, now, now))
        return inv

    def purge_finished(self, before: float) -> int:
        """Forget done, failed and dead invocations last updated before `before`."""
        with self.tx() as db:
            return db.execute("DELETE FROM invocations WHERE status IN ('done','failed','dead') AND updated<?",
                              (before,)).rowcount

    def claim_due(self, now: float, worker: str | None = None) -> dict[str, Any] | None:
        """Atomically take the oldest due job (two workers never get the same one)."""
        with self.tx() as db:
            row = db.execute("SELECT * FROM invocations WHERE status='queued' AND next_attempt<=? "
                             "ORDER BY next_attempt, rowid LIMIT 1", (now,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE invocations SET status='running', attempts=attempts+1, worker=?, updated=? WHERE id=?",
                       (worker, now, row["id"]))
        job = dict(row)
        job["attempts"] += 1
        job["worker"] = worker
        job["headers"] = json.loads(job["headers"])
        return job

    def finish(self, inv: str, status: str, *, result_status: int | None = None, result_headers: dict | None = None,
               result_body: bytes | None = None, error: str | None = None, retry_at: float | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE invocations SET status=?, result_status=?, result_headers=?, result_body=?, error=?,"
                       " next_attempt=coalesce(?, next_attempt), worker=NULL, updated=? WHERE id=?",
                       (status, result_status, json.dumps(result_headers or {}), result_body, error, retry_at,
                        time.time(), inv))

    def requeue_running(self, claimed_before: float | None = None) -> int:
        """Jobs that were mid-delivery go back to the queue: all of them after a restart, or
        (with `claimed_before`) those whose worker has held them since before that time."""
        sql = "UPDATE invocations SET status='queued', worker=NULL, updated=? WHERE status='running'"
        args: list[Any] = [time.time()]
        if claimed_before is not None:
            sql += " AND updated<?"
            args.append(claimed_before)
        with self.tx() as db:
            return db.execute(sql, args).rowcount

    def invocation(self, inv: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM invocations WHERE id=?", inv)
        return rows[0] if rows else None

    def invocations(self, tenant: str | None, app: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT id, app, method, path, status, attempts, result_status, error, created, updated FROM invocations"
        where, args = [], []
        if tenant:
            where.append("tenant=?")
            args.append(tenant)
        if app:
            where.append("app=?")
            args.append(app)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.query(sql + " ORDER BY created DESC LIMIT ?", *args, limit)
