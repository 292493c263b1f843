"""The agent: apps and their warm pools, deploys (warm-then-swap), rollback, scale, status."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from agent import locks
from agent.db import Store
from agent.docker_driver import InstanceSpec
from agent.haproxy_config import AppRoute, Server
from agent.images import all_chains, pull_secrets, redact
from agent.pool import AppPool, Driver, Member, Router, StartFailed
from agent.scaling import Policy, Tier
from agent.secret_store import SecretStore
from agent.settings import Settings
from agent.tokens import new_token, token_hash
from plat_contract.api import ErrorCode, Pull
from plat_contract.manifest import RunManifest

log = logging.getLogger("plat.agent")
SECRET_REDACT_MIN = 3
"""Secret values this long or longer are masked in agent-made error messages (shorter ones,
like "1", would mask half of any message and are no secret anyway)."""


_CODES = {400: ErrorCode.INVALID, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.APP_OWNED_ELSEWHERE,
          404: ErrorCode.NOT_FOUND, 409: ErrorCode.CONFLICT, 413: ErrorCode.TOO_LARGE, 422: ErrorCode.START_FAILED,
          503: ErrorCode.UNAVAILABLE}


class AgentError(Exception):
    """A request the agent refuses: `status` is the HTTP status to answer with, `code` the
    stable error code clients branch on (by default the status's usual one); `extra` adds
    fields to the error body (a 409's current lock holder, say)."""

    def __init__(self, status: int, message: str, detail: str = "", extra: dict[str, Any] | None = None,
                 code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail, self.extra = status, message, detail, extra or {}
        self.code = code or _CODES.get(status, ErrorCode.INTERNAL)


def owned_elsewhere(app: str) -> AgentError:
    """The one answer for a name another tenant owns or is claiming (a race looks the same)."""
    return AgentError(403, f"app {app!r} belongs to another tenant", code=ErrorCode.APP_OWNED_ELSEWHERE)


def policy_of(manifest: RunManifest, settings: Settings, app_row: dict[str, Any] | None = None) -> Policy:
    scale = manifest.scale
    min_warm, max_instances = scale.min_warm, scale.max_instances
    if app_row:
        min_warm = app_row["min_warm"] if app_row.get("min_warm") is not None else min_warm
        max_instances = app_row["max_instances"] if app_row.get("max_instances") is not None else max_instances
    return Policy(min_warm=min_warm, max_instances=max_instances, concurrency=scale.concurrency,
                  idle_timeout=settings.idle_timeout_override or scale.idle_seconds, paused_ttl=settings.paused_ttl,
                  stopped_ttl=settings.stopped_ttl, max_paused=settings.max_paused, max_stopped=settings.max_stopped)


def spec_of(app: str, version: str, image: str, manifest: RunManifest, tenant: str) -> InstanceSpec:
    """The instance to run. A deploy has put the agent's default limits into the manifest
    (`with_limits`); a version an older agent stored without them runs as it always did."""
    res = manifest.resources
    return InstanceSpec(app=app, version=version, image=image, port=manifest.port, env=dict(manifest.env),
                        tenant=tenant, memory=res.memory, cpus=float(res.cpus) if res.cpus else None)


def check_ceilings(min_warm: int, max_instances: int, tenant_cap: int) -> None:
    """`min_warm ≤ max_instances ≤` the agent's per-tenant cap, or a 422 that says which."""
    if min_warm > max_instances:
        raise AgentError(422, f"min_warm ({min_warm}) is more than max_instances ({max_instances})",
                         code=ErrorCode.LIMIT)
    if max_instances > tenant_cap:
        raise AgentError(422, f"max_instances ({max_instances}) is over this agent's cap of {tenant_cap} per app "
                         "(PLAT_AGENT_MAX_INSTANCES)", code=ErrorCode.LIMIT)


class Agent:
    def __init__(self, settings: Settings, store: Store, driver: Driver, router: Router) -> None:
        self.settings = settings
        self.store = store
        self.driver = driver
        self.router = router
        self.pools: dict[str, AppPool] = {}
        self._purged = 0.0
        self._app_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.reload_gateway = lambda: None
        """Set by the runner: re-render the proxy config when the set of apps changes."""
        self.secrets = SecretStore(settings.state_dir / "secrets")

    # -- routing state ---------------------------------------------------------------------
    def routes(self) -> list[AppRoute]:
        out = []
        for app, pool in list(self.pools.items()):
            servers = tuple(Server(m.name, m.address, pool.policy.concurrency) for m in pool.members.values()
                            if m.tier == Tier.READY and m.address and pool.routed)
            key = (self.store.app(app) or {}).get("api_key_hash")
            out.append(AppRoute(app, self.settings.request_timeout, servers, api_key_sha256=key))
        return out

    def _app_lock(self, app: str) -> threading.Lock:
        with self._lock:
            return self._app_locks.setdefault(app, threading.Lock())

    def _pool(self, app: str, version: str, image: str, manifest: RunManifest, tenant: str) -> AppPool:
        return AppPool(spec_of(app, version, image, manifest, tenant),
                       policy_of(manifest, self.settings, self.store.app(app)),
                       manifest.health, self.driver, self.router,
                       extra_env=lambda: self.secrets.env(app, tenant),
                       start_timeout=self.settings.start_timeout)

    # -- startup -----------------------------------------------------------------------------
    def _fault(self, step: str) -> None:
        if self.settings.fault == step:
            log.critical("PLAT_AGENT_FAULT=%s: the agent kills itself here (a test of recovery)", step)
            os._exit(137)

    def reconcile(self) -> None:
        """Make the store agree with what was serving when the agent last stopped.

        A deploy marks its version `switching` just before traffic moves to it (after its health
        check passed). An agent killed from then until the version is recorded live finds it so:
        traffic had moved, so it becomes live. A version still `warming` never took traffic: the
        recorded version stays live, and the half-made one is kept as `retired` (a rollback
        target that will be health-checked again), or, on a first deploy, dropped with its name.
        Its instances go as strays."""
        who = "agent (recovered at start)"
        for row in self.store.apps():
            app, live = row["name"], row["live_version"]
            versions = self.store.versions(app)  # newest first
            for v in versions:
                if v["version"] == live and v["status"] != "live":  # a redeploy of the live version
                    self.store.set_version_status(app, live, "live")
            leftovers = [v for v in versions if v["status"] in ("warming", "switching") and v["version"] != live]
            switched = next((v for v in leftovers if v["status"] == "switching"), None)
            if switched is not None:
                self.store.activate(app, switched["version"], self.settings.keep_versions, who)
                log.warning("%s: traffic had moved to %s when the agent stopped; it is live now", app,
                            switched["version"])
                live = switched["version"]
            for v in leftovers:
                if v is switched:
                    continue
                if live:
                    self.store.set_version_status(app, v["version"], "retired")
                else:
                    self.store.fail_version(app, v["version"], "the agent stopped before this deploy finished", who)

    def adopt(self) -> None:
        """Re-adopt containers by label after a restart; remove strays. Never duplicates."""
        self.reconcile()
        found = self.driver.list()
        keep: set[str] = set()
        for row in self.store.apps():
            live = row["live_version"] and self.store.version(row["name"], row["live_version"])
            if not live:
                continue
            try:
                manifest = RunManifest.from_stored(live["manifest"])
            except ValueError as exc:  # its instances are kept (not strays): a redeploy takes them over
                log.error("not adopting %s %s: %s; redeploy it", row["name"], live["version"], exc)
                keep.add(row["name"])
                continue
            pool = self._pool(row["name"], live["version"], live["image"], manifest, row["tenant"])
            pool.adopt([i for i in found if i.app == row["name"] and i.version == live["version"]])
            pool.routed = True
            self.pools[row["name"]] = pool
        adopted = {m.id for p in self.pools.values() for m in p.members.values()}
        for inst in found:
            if inst.id not in adopted and inst.app not in keep:
                self.driver.remove(inst.id)

    # -- deploy, rollback, restart, destroy, scale ------------------------------------------
    def deploy(self, tenant: str, app: str, version: str, image: str, manifest: RunManifest,
               digest: str | None = None, *, actor: str | None = None, pull: Pull | None = None) -> dict[str, Any]:
        """Pull if needed, warm the new version, switch the route, drain the old one.

        `pull` carries registry credentials; without it an image missing locally is still
        pulled, anonymously. Ownership is checked inside the app's lock: of two tenants racing
        for a new name, the first to hold the lock owns it and the other gets 403."""
        actor = actor or tenant
        with self._app_lock(app):
            owner = self.store.app(app)
            if owner and owner["tenant"] != tenant:
                raise owned_elsewhere(app)
            scale = manifest.scale
            row_min = owner.get("min_warm") if owner else None
            row_max = owner.get("max_instances") if owner else None
            check_ceilings(scale.min_warm if row_min is None else row_min,
                           scale.max_instances if row_max is None else row_max, self.settings.max_instances)
            started = time.monotonic()
            manifest = manifest.with_limits(self.settings.default_memory, self.settings.default_cpus)
            self.store.add_version(app, tenant, version, image, digest, manifest.model_dump(mode="json"), actor)

            def fail(reason: str) -> None:
                self.store.fail_version(app, version, reason, actor)

            self._pull(image, pull, fail)
            self._fault("after-pull")
            pool = self._pool(app, version, image, manifest, tenant)
            self._warm(pool, f"new version {version}", "the old version keeps serving", fail)
            self._fault("after-warm")
            self.store.set_version_status(app, version, "switching")  # what a restart makes live if we die now
            try:
                self._swap(app, pool)
            except Exception as exc:
                fail(f"the switch failed: {exc}")
                raise
            self._fault("after-switch")
            self.store.activate(app, version, self.settings.keep_versions, actor)
            return self._result(app, version, image, pool, started)

    def restart(self, tenant: str, app: str, *, actor: str | None = None) -> dict[str, Any]:
        """Replace the live version's instances, warm-then-swap: new ones read current secrets."""
        row = self._owned(tenant, app)
        live = row["live_version"] and self.store.version(app, row["live_version"])
        if not live:
            raise AgentError(404, f"{app} has no live version to restart")
        actor = actor or tenant
        with self._app_lock(app):
            started = time.monotonic()
            version, image = live["version"], live["image"]
            self.store.record(app, "restart", actor=actor, version=version)

            def fail(reason: str) -> None:
                self.store.record(app, "restart-failed", actor=actor, version=version, reason=reason[-2000:])

            pool = self._pool(app, version, image, RunManifest.from_stored(live["manifest"]), row["tenant"])
            self._warm(pool, f"the restarted {version}", "the running instances keep serving", fail)
            self._swap(app, pool)
            return self._result(app, version, image, pool, started)

    def _pull(self, image: str, pull: Pull | None, fail: Callable[[str], None]) -> None:
        auth = pull.auth.model_dump() if pull and pull.auth else None
        try:
            self.driver.ensure_image(image, auth, bool(pull and pull.always))
        except Exception as exc:  # noqa: BLE001 - the engine's reason, never the credentials
            message = f"could not pull {image}: {redact(str(exc), pull_secrets(pull))}"
            fail(message)
            raise AgentError(422, message) from None

    def _warm(self, pool: AppPool, what: str, fallback: str, fail: Callable[[str], None]) -> None:
        try:
            pool.warm(max(1, pool.policy.min_warm))
        except StartFailed as exc:
            tail = self._redacted(pool, exc.log_tail)  # the app's own output may print its secrets
            fail(f"{exc}\n{tail}")
            raise AgentError(422, f"{what} failed its health check; {fallback}", tail,
                             code=ErrorCode.UNHEALTHY) from None
        except Exception as exc:  # noqa: BLE001 - an engine error (image missing, ...)
            reason = self._redacted(pool, str(exc))
            fail(reason)
            raise AgentError(422, f"could not start {pool.spec.image}: {reason}") from None

    def _swap(self, app: str, pool: AppPool) -> None:
        """Route the warmed pool and drain the one it replaces (the caller holds the app lock)."""
        old = self.pools.get(app)
        if old is None:
            pool.routed = True
            self.pools[app] = pool
            self.reload_gateway()
        else:
            pool.route()
            self.pools[app] = pool
            old.retire()

    @staticmethod
    def _result(app: str, version: str, image: str, pool: AppPool, started: float) -> dict[str, Any]:
        return {"app": app, "version": version, "image": image, "instances": pool.snapshot(),
                "seconds": round(time.monotonic() - started, 3)}

    def rollback(self, tenant: str, app: str, version: str | None = None, *,
                 actor: str | None = None) -> dict[str, Any]:
        row = self._owned(tenant, app)
        candidates = [v for v in self.store.versions(app) if v["version"] != row["live_version"]
                      and v["status"] in ("retired", "live")]
        target = next((v for v in candidates if v["version"] == version), None) if version else \
            (candidates[0] if candidates else None)
        if target is None:
            raise AgentError(404, f"no earlier version {version or ''} of {app} to roll back to".replace("  ", " "))
        self.store.record(app, "rollback", actor=actor or tenant, version=target["version"],
                          previous=row["live_version"])
        return self.deploy(tenant, app, target["version"], target["image"], RunManifest.from_stored(target["manifest"]),
                           target["digest"], actor=actor)

    def destroy(self, tenant: str, app: str, *, actor: str | None = None, keep_secrets: bool = False) -> None:
        """Remove the app and its instances, and its secrets unless `keep_secrets` (a fleet undoing
        a first deploy keeps them for the next try). Locks stay with their holders."""
        self._owned(tenant, app)
        with self._app_lock(app):
            pool = self.pools.pop(app, None)
            if pool:
                pool.retire()
            removed = 0 if keep_secrets else self.secrets.remove_all(app)
            self.store.delete_app(app, actor or tenant, secrets_removed=removed)
            self.reload_gateway()

    def scale(self, tenant: str, app: str, min_warm: int | None, max_instances: int | None, *,
              actor: str | None = None) -> dict[str, Any]:
        self._owned(tenant, app)
        pool = self.pools.get(app)
        current = pool.policy if pool else None
        check_ceilings(min_warm if min_warm is not None else (current.min_warm if current else 0),
                       max_instances if max_instances is not None else (current.max_instances if current else 1),
                       self.settings.max_instances)
        self.store.set_scale(app, min_warm, max_instances, actor or tenant)
        if pool:
            p = pool.policy
            pool.policy = Policy(**{**p.__dict__, **({"min_warm": min_warm} if min_warm is not None else {}),
                                    **({"max_instances": max_instances} if max_instances is not None else {})})
            pool.tick()
        return self.app_status(app)

    def set_api_key(self, tenant: str, app: str, required: bool, *, actor: str | None = None) -> str | None:
        """Require a new API key for the app's gateway routes (returned once), or make it public."""
        self._owned(tenant, app)
        key = new_token() if required else None
        with self._app_lock(app):
            self.store.set_api_key(app, token_hash(key) if key else None, actor or tenant)
            self.reload_gateway()
        return key

    # -- secrets -----------------------------------------------------------------------------
    def set_secret(self, tenant: str, app: str, key: str, value: str, *, actor: str | None = None) -> dict[str, Any]:
        """Store a secret (running instances keep their env until a restart or a new instance)."""
        updated = self.secrets.set(app, tenant, key, value)
        self.store.record(app, "secret-set", actor=actor or tenant, tenant=tenant, key=key)
        return {"app": app, "key": key, "updated": updated}

    def delete_secret(self, tenant: str, app: str, key: str, *, actor: str | None = None) -> dict[str, Any]:
        if not self.secrets.delete(app, key):
            raise AgentError(404, f"{app} has no secret {key}")
        self.store.record(app, "secret-rm", actor=actor or tenant, tenant=tenant, key=key)
        return {"app": app, "key": key, "deleted": True}

    # -- deploy locks ------------------------------------------------------------------------
    def lock(self, tenant: str, app: str, holder: str, machine: str, pid: int, ttl: float, *,
             actor: str | None = None) -> dict[str, Any]:
        """Take the app's deploy lease: its token (shown once) and the lease, or 409 naming the holder."""
        token = new_token()
        got, row = self.store.acquire_lock(app, tenant, token_hash(token), holder, machine, pid, ttl,
                                           actor or tenant)
        lock = locks.view(row, time.time())
        assert lock is not None
        if not got:
            raise AgentError(409, locks.held_message(lock), extra={"lock": lock}, code=ErrorCode.LOCKED)
        return {"token": token, "lock": lock}

    def renew_lock(self, app: str, token: str) -> dict[str, Any]:
        row = self.store.renew_lock(app, token_hash(token))
        if row is None:
            current = locks.view(self.store.lock(app), time.time())
            why = locks.held_message(current) if current else f"{app} is not locked"
            raise AgentError(409, f"this lock on {app} was lost: {why}", extra={"lock": current}, code=ErrorCode.LOCKED)
        lock = locks.view(row, time.time())
        assert lock is not None
        return lock

    def release_lock(self, app: str, token: str | None, force: bool, *, actor: str | None = None) -> dict[str, Any]:
        released, row = self.store.release_lock(app, token_hash(token) if token else None, force, actor)
        return {"released": released, "lock": locks.view(row, time.time())}

    def lock_status(self, app: str) -> dict[str, Any] | None:
        return locks.view(self.store.lock(app), time.time())

    # -- images ------------------------------------------------------------------------------
    def layer_chains(self) -> list[str]:
        """Every layer chain ID on this engine (the CLI sends only layers the host lacks)."""
        return all_chains(self.driver.layer_diff_ids())

    def _redacted(self, pool: AppPool, text: str) -> str:
        """`text` without the values of the app's secrets (audit trails and answers outlive them)."""
        return redact(text, self.secrets.env(pool.app, pool.spec.tenant).values(), SECRET_REDACT_MIN)

    def claim(self, app: str) -> Member:
        pool = self.pools.get(app)
        if pool is None:
            raise AgentError(404, f"no such app {app!r}")
        try:
            return pool.claim()
        except StartFailed as exc:
            raise AgentError(503, f"{app}: no instance could be started", self._redacted(pool, exc.log_tail),
                             code=ErrorCode.UNAVAILABLE) from None

    # -- views -------------------------------------------------------------------------------
    def _owned(self, tenant: str, app: str) -> dict[str, Any]:
        row = self.store.app(app)
        if row is None or row["tenant"] != tenant:
            raise AgentError(404, f"no such app {app!r}")
        return row

    def app_status(self, app: str) -> dict[str, Any]:
        row = self.store.app(app) or {}
        pool = self.pools.get(app)
        return {
            "app": app, "tenant": row.get("tenant"), "live_version": row.get("live_version"),
            "public": row.get("api_key_hash") is None,
            "policy": pool.policy.__dict__ if pool else None,
            "instances": pool.snapshot() if pool else [],
            "crash_looping": pool.crash_looping() if pool else False,
            "versions": [{k: v[k] for k in ("version", "image", "status", "created")}
                         for v in self.store.versions(app)],
        }

    def status(self, tenant: str | None) -> list[dict[str, Any]]:
        return [self.app_status(r["name"]) for r in self.store.apps(tenant)]

    # -- the control loop --------------------------------------------------------------------
    def tick(self) -> None:
        now = time.time()
        if now - self._purged > 60:
            self._purged = now
            self.store.purge_finished(now - self.settings.async_retention)
        for app, pool in list(self.pools.items()):
            lock = self._app_lock(app)
            if not lock.acquire(blocking=False):
                continue  # a deploy is under way
            try:
                pool.tick()
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("control loop: %s", app)
            finally:
                lock.release()
