"""The control API: HTTP + JSON, bearer tokens on every route, tenants see only their apps.

Also the gateway's `/async/<app>/…` entry (HAProxy forwards it here): 202 and an id, with the
job in the durable queue.
"""

from __future__ import annotations

import functools
import logging
import queue
import re
import select
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from agent import __version__
from agent.core import Agent, AgentError, owned_elsewhere
from agent.httpserver import HOP_BY_HOP, BodyTooLarge, Handler, Server
from agent.openapi import document
from agent.routes import ROUTES
from agent.secret_store import check_key, check_value
from agent.tokens import Principal, authenticate, key_allows, new_token, token_hash
from plat_contract.api import (
    DeployRequest,
    ErrorCode,
    LockRelease,
    LockRenew,
    LockRequest,
    RollbackRequest,
    ScaleRequest,
    SecretValue,
    TenantCreate,
)
from plat_contract.models import Strict

log = logging.getLogger("plat.agent.api")
_APP = r"(?P<app>[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
ASYNC = re.compile(rf"^/async/{_APP}(?P<path>/.*)?$")
ASYNC_STATUS = re.compile(rf"^/async/{_APP}/~invocations/(?P<inv>[0-9a-f]{{32}})$")


ACTOR_HEADER = "X-Plat-Actor"
MAX_ACTOR = 200
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")


def _int(q: dict[str, list[str]], key: str) -> int | None:
    v = q.get(key, [None])[0]
    return int(v) if v is not None and v.lstrip("-").isdigit() else None


def parse_actor(header: str | None, default: str) -> str:
    """Who the audit trail names: `X-Plat-Actor` (printable ASCII, at most 200 characters) or,
    when absent or blank, the caller's tenant. ValueError for anything else."""
    value = (header or "").strip()
    if not value:
        return default
    if len(value) > MAX_ACTOR or not _PRINTABLE_ASCII.fullmatch(value):
        raise ValueError(f"{ACTOR_HEADER} must be printable ASCII of at most {MAX_ACTOR} characters")
    return value


M = TypeVar("M", bound=Strict)
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a key named in an error; others are not echoed
_UNION_TAG = re.compile(r"^(str|int|float|bool|none|function-[a-z]+\[.*\]|constrained-[a-z]+)$")


def parse_body(model: type[M], raw: bytes) -> M:
    """A request body held to the contract; ValueError naming each bad field (never its value,
    which may be a credential)."""
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for e in exc.errors(include_input=False):
            # A union's members show as extra parts (`idle_timeout.str`): name the field once.
            where = ".".join(str(p) if isinstance(p, int) or _SAFE_KEY.fullmatch(p) else "<unknown key>"
                             for p in e["loc"] if not _UNION_TAG.fullmatch(str(p))) or "body"
            problems.setdefault(where, e["msg"])
        raise ValueError("; ".join(f"{k}: {v}" for k, v in list(problems.items())[:5])) from None


def _limit(q: dict[str, list[str]], default: int = 100, most: int = 1000) -> int:
    """`?limit=N` (1..most), or the default when absent."""
    raw = q.get("limit", [None])[0]
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ValueError(f"limit must be an integer from 1 to {most}")
    return int(raw)


def make_api(agent: Agent, bind: str, port: int, ssl_context: ssl.SSLContext | None = None) -> Server:
    class Api(Handler):
        max_body = agent.settings.max_body

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            try:
                if url.path.startswith("/async/"):
                    self._async(url.path, url.query)
                    return
                for route in ROUTES:
                    m = route.pattern.fullmatch(url.path)
                    if m and route.method == self.command:
                        who = authenticate(self.headers.get("Authorization"), agent.store.tenant_hashes())
                        if who is None:
                            self.send_error_json(401, "missing or invalid bearer token", code=ErrorCode.UNAUTHORIZED,
                                                 hint="pass Authorization: Bearer <token>")
                            return
                        if route.admin and not who.admin:
                            self.send_error_json(403, "this route needs the admin token", code=ErrorCode.ADMIN_ONLY)
                            return
                        self.actor = parse_actor(self.headers.get(ACTOR_HEADER), who.tenant)
                        if route.body is None and self._body_pending():
                            self.read_body()  # unused, but read under the deadline, which then stops
                        query = parse_qs(url.query, keep_blank_values=True)
                        route.check_query(query)
                        getattr(self, "r_" + route.handler)(who, query, **m.groupdict())
                        return
                allowed = sorted({r.method for r in ROUTES if r.pattern.fullmatch(url.path)})
                if allowed:
                    self.send_json(405, {"error": "method not allowed", "code": ErrorCode.METHOD_NOT_ALLOWED,
                                         "allowed": allowed}, headers={"Allow": ", ".join(allowed)})
                else:
                    self.send_error_json(404, "no such route", code=ErrorCode.NO_SUCH_ROUTE)
            except AgentError as exc:
                self.send_error_json(exc.status, exc.message, code=exc.code, detail=exc.detail[-4000:], **exc.extra)
            except BodyTooLarge:
                self.send_error_json(413, "request body too large", code=ErrorCode.TOO_LARGE)
            except (ValueError, KeyError, TypeError) as exc:
                self.send_error_json(400, f"bad request: {exc}", code=ErrorCode.INVALID)
            except Exception:  # a bug: answer 500 and log it, never drop the connection silently
                log.exception("%s %s", self.command, url.path)
                self.send_error_json(500, "internal error; see the agent's log", code=ErrorCode.INTERNAL)

        def __getattr__(self, name: str) -> Callable[[], None]:
            # Every method (QUERY, TRACE, …) is dispatched: unknown ones get a 405 with Allow, not a 501.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def _tenant(self, who: Principal) -> str | None:
            return None if who.admin else who.tenant

        def _owned(self, who: Principal, app: str) -> str:
            """The tenant owning `app`, when the caller may act on it (its owner, or the admin); else 404."""
            row = agent.store.app(app)
            if row is None or (not who.admin and row["tenant"] != who.tenant):
                raise AgentError(404, f"no such app {app!r}")
            return str(row["tenant"])

        def _acting_tenant(self, who: Principal, app: str, claimed_by: str | None) -> str:
            """The tenant a lock or secret of `app` belongs to: the app's owner when it exists, else
            the tenant that claimed the name first (`claimed_by`), else the caller's. 403 for another's."""
            row = agent.store.app(app)
            owner = row["tenant"] if row else claimed_by
            if owner is not None and owner != who.tenant and not who.admin:
                raise owned_elsewhere(app)
            return owner or who.tenant

        def _lock_tenant(self, who: Principal, app: str) -> str:
            return self._acting_tenant(who, app, (agent.store.lock(app) or {}).get("tenant"))

        def _secrets_tenant(self, who: Principal, app: str) -> str:
            return self._acting_tenant(who, app, agent.secrets.tenant(app))

        # -- routes --------------------------------------------------------------------------
        def r_health(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, {"status": "ok", "version": __version__, "tenant": who.tenant})

        def r_openapi(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, openapi())

        def r_list_apps(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, agent.status(self._tenant(who)))

        def r_get_app(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            self.send_json(200, agent.app_status(app))

        def r_delete_app(self, who: Principal, q: dict, app: str, **_: str) -> None:
            owner = self._owned(who, app)
            agent.destroy(owner, app, actor=self.actor,
                          keep_secrets=q.get("keep_secrets", ["0"])[0] in ("1", "true"))
            self.send_json(200, {"app": app, "destroyed": True})

        def r_deploy(self, who: Principal, q: dict, app: str, **_: str) -> None:
            row = agent.store.app(app)
            # The admin deploys on the owner's behalf; a tenant only its own apps or a new name.
            tenant = row["tenant"] if row is not None and who.admin else who.tenant
            if row is not None and row["tenant"] != tenant:
                raise owned_elsewhere(app)  # early, before reading the body; deploy checks again under the lock
            body = parse_body(DeployRequest, self.read_body())
            self.send_json(200, agent.deploy(tenant, app, body.version, body.image, body.manifest, body.digest,
                                             actor=self.actor, pull=body.pull))

        def r_rollback(self, who: Principal, q: dict, app: str, **_: str) -> None:
            owner = self._owned(who, app)
            body = parse_body(RollbackRequest, self.read_body())
            self.send_json(200, agent.rollback(owner, app, body.version, actor=self.actor))

        def r_scale(self, who: Principal, q: dict, app: str, **_: str) -> None:
            owner = self._owned(who, app)
            body = parse_body(ScaleRequest, self.read_body())
            self.send_json(200, agent.scale(owner, app, body.min_warm, body.max_instances, actor=self.actor))

        def r_events(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            self.send_json(200, agent.store.events(app, self._tenant(who), _limit(q)))

        def r_logs(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            pool = agent.pools.get(app)
            members = list(pool.members.values()) if pool else []
            tail, since = _int(q, "tail"), _int(q, "since")
            tail = 100 if tail is None else tail
            follow = q.get("follow", ["0"])[0] in ("1", "true")
            # Read before the headers go out: a failure here is still an error answer, not a cut stream.
            backlog = [f"{m.name} {line}\n".encode()
                       for m in members for line in agent.driver.logs(m.id, tail=tail, since=since).splitlines()]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            write = self._chunk
            for chunk in backlog:
                write(chunk)
            if follow:
                self._follow(members, write)
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _follow(self, members: list, write: Callable[[bytes], None]) -> None:
            """Stream new lines until the client goes (then the engine's streams are closed too)."""
            lines: queue.Queue[bytes] = queue.Queue(maxsize=10_000)
            streams = [agent.driver.follow(m.id, since=time.time()) for m in members]
            done = threading.Event()

            def pump(name: str, stream: Any) -> None:
                try:
                    for raw in stream:
                        while not done.is_set():  # a reader that stopped reading must not pin this thread
                            try:
                                lines.put(f"{name} ".encode() + raw, timeout=1)
                                break
                            except queue.Full:
                                continue
                        if done.is_set():
                            return
                except Exception:  # noqa: BLE001 - the stream was closed, or the instance went
                    return

            for m, stream in zip(members, streams, strict=True):
                threading.Thread(target=pump, args=(m.name, stream), daemon=True).start()
            # A follower sends nothing after its GET: anything readable (the EOF, a TLS
            # close_notify, stray bytes) ends the stream. poll(), not select(): no fd limit.
            watch = select.poll()
            watch.register(self.connection, select.POLLIN | select.POLLHUP | select.POLLERR)
            try:
                while not watch.poll(0):
                    try:
                        write(lines.get(timeout=1))
                    except queue.Empty:
                        continue
            except OSError:
                pass
            finally:
                self.close_connection = True
                done.set()
                for stream in streams:
                    getattr(stream, "close", lambda: None)()

        def r_create_api_key(self, who: Principal, q: dict, app: str, **_: str) -> None:
            owner = self._owned(who, app)
            key = agent.set_api_key(owner, app, required=True, actor=self.actor)
            self.send_json(201, {"app": app, "public": False, "api_key": key,
                                 "hint": "send it as X-Plat-Key; it is shown only once"})

        def r_delete_api_key(self, who: Principal, q: dict, app: str, **_: str) -> None:
            owner = self._owned(who, app)
            agent.set_api_key(owner, app, required=False, actor=self.actor)
            self.send_json(200, {"app": app, "public": True})

        def r_restart(self, who: Principal, q: dict, app: str, **_: str) -> None:
            owner = self._owned(who, app)
            self.send_json(200, agent.restart(owner, app, actor=self.actor))

        def r_audit(self, who: Principal, q: dict, app: str, **_: str) -> None:
            """An existing app's trail for its owner; a name that does not exist (yet, or any more)
            shows the caller's own entries (a lock taken or a secret set before a first deploy)."""
            row = agent.store.app(app)
            if row is not None:
                self._owned(who, app)
            self.send_json(200, agent.store.audit(app, self._tenant(who), _limit(q)))

        # -- deploy locks --------------------------------------------------------------------
        def r_get_lock(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._lock_tenant(who, app)
            self.send_json(200, {"lock": agent.lock_status(app)})

        def r_lock(self, who: Principal, q: dict, app: str, **_: str) -> None:
            tenant = self._lock_tenant(who, app)
            body = parse_body(LockRequest, self.read_body())
            self.send_json(200, agent.lock(tenant, app, body.holder, body.machine, body.pid, float(body.ttl),
                                           actor=self.actor))

        def r_renew_lock(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._lock_tenant(who, app)
            self.send_json(200, agent.renew_lock(app, parse_body(LockRenew, self.read_body()).token))

        def r_release_lock(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._lock_tenant(who, app)
            body = parse_body(LockRelease, self.read_body())
            self.send_json(200, agent.release_lock(app, body.token, body.force, actor=self.actor))

        # -- secrets -------------------------------------------------------------------------
        def r_list_secrets(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._secrets_tenant(who, app)
            self.send_json(200, agent.secrets.listing(app))

        def r_set_secret(self, who: Principal, q: dict, app: str, key: str, **_: str) -> None:
            tenant = self._secrets_tenant(who, app)
            check_key(key)
            value = check_value(parse_body(SecretValue, self.read_body()).value)
            self.send_json(200, agent.set_secret(tenant, app, key, value, actor=self.actor))

        def r_delete_secret(self, who: Principal, q: dict, app: str, key: str, **_: str) -> None:
            tenant = self._secrets_tenant(who, app)
            check_key(key)
            self.send_json(200, agent.delete_secret(tenant, app, key, actor=self.actor))

        def r_layers(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, {"chains": agent.layer_chains()})

        def r_list_invocations(self, who: Principal, q: dict, **_: str) -> None:
            app = q.get("app", [None])[0]
            self.send_json(200, agent.store.invocations(self._tenant(who), app, _limit(q)))

        def r_get_invocation(self, who: Principal, q: dict, inv: str, **_: str) -> None:
            row = agent.store.invocation(inv)
            if row is None or (not who.admin and row["tenant"] != who.tenant):
                raise AgentError(404, "no such invocation")
            self.send_json(200, _public(row))

        def r_list_tenants(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, agent.store.tenants())

        def r_create_tenant(self, who: Principal, q: dict, **_: str) -> None:
            name = parse_body(TenantCreate, self.read_body()).name
            if any(t["name"] == name for t in agent.store.tenants()):
                raise AgentError(409, f"tenant {name!r} exists", code=ErrorCode.CONFLICT)
            token = new_token()
            agent.store.add_tenant(name, token_hash(token))
            self.send_json(201, {"name": name, "token": token})

        def r_rotate_token(self, who: Principal, q: dict, tenant: str, **_: str) -> None:
            if not any(t["name"] == tenant and not t["admin"] for t in agent.store.tenants()):
                raise AgentError(404, f"no such tenant {tenant!r} (the admin's token is rotated on the host)")
            token = new_token()
            agent.store.set_token_hash(tenant, token_hash(token))
            self.send_json(200, {"name": tenant, "token": token})

        def r_revoke_token(self, who: Principal, q: dict, tenant: str, **_: str) -> None:
            if not agent.store.revoke_tenant(tenant):
                raise AgentError(404, f"no such tenant {tenant!r} (the admin's token is rotated on the host)")
            self.send_json(200, {"name": tenant, "revoked": True})

        # -- data plane: async invocations ---------------------------------------------------
        def _async(self, path: str, query: str) -> None:
            status = ASYNC_STATUS.fullmatch(path)
            if status and self.command == "GET":
                row = agent.store.invocation(status["inv"])
                if row is None or row["app"] != status["app"]:
                    raise AgentError(404, "no such invocation")
                self._check_app_key(agent.store.app(status["app"]))
                self.send_json(200, _public(row))
                return
            m = ASYNC.fullmatch(path)
            row = agent.store.app(m["app"]) if m else None
            if m is None or row is None:
                raise AgentError(404, "no such app")
            self._check_app_key(row)
            body = self.read_body()
            target = (m["path"] or "/") + (f"?{query}" if query else "")
            inv = agent.store.enqueue(m["app"], row["tenant"], self.command, target, stored_headers(self.headers),
                                      body, agent.settings.max_attempts, agent.settings.async_queue_max)
            if inv is None:
                self.send_error_json(429, f"{m['app']}: the async queue is full "
                                          f"({agent.settings.async_queue_max} waiting or running)",
                                     code=ErrorCode.QUEUE_FULL, headers={"Retry-After": "5"})
                return
            self.send_json(202, {"id": inv, "status": "queued",
                                 "status_url": f"/async/{m['app']}/~invocations/{inv}"})

        def _check_app_key(self, row: dict[str, Any] | None) -> None:
            """The gateway checks keys on sync calls; async ones reach the agent directly."""
            if row is not None and not key_allows(self.headers.get("X-Plat-Key"), row.get("api_key_hash")):
                raise AgentError(401, "missing or wrong X-Plat-Key")

    server = Server((bind, port), Api)
    server.ssl_context = ssl_context
    return server


NOT_STORED = HOP_BY_HOP | {"host", "x-plat-key", "authorization", "cookie", "x-plat-callback"}


def stored_headers(headers: Any) -> dict[str, str]:
    """The headers an async request is stored and replayed with: no framing or hop-by-hop
    headers (the invoker frames the body anew), and no credentials (the queue outlives them)."""
    return {k: v for k, v in headers.items()
            if k.lower() not in NOT_STORED and not k.lower().startswith("proxy-")}


@functools.cache
def openapi() -> dict[str, Any]:
    """Made on first request: the JSON Schema machinery it needs is not kept in an idle agent."""
    return document(ROUTES)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "app", "method", "path", "status", "attempts", "max_attempts", "result_status",
                               "error", "created", "updated")}
    body = row.get("result_body")
    out["result_body"] = body.decode(errors="replace") if isinstance(body, bytes) else body
    return out
