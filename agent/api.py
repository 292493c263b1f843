"""The control API: HTTP + JSON, bearer tokens on every route, tenants see only their apps.

Also the gateway's `/async/<app>/…` entry (HAProxy forwards it here): 202 and an id, with the
job in the durable queue.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent import __version__
from agent.core import Agent, AgentError
from agent.httpserver import BodyTooLarge, Handler, Server
from agent.openapi import OPENAPI
from agent.tokens import Principal, authenticate, key_allows, new_token, token_hash

log = logging.getLogger("plat.agent.api")
_APP = r"(?P<app>[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)"
Route = tuple[str, re.Pattern[str], str, bool]


def _routes() -> list[Route]:
    table = [
        ("GET", r"/v1/health", "health", False),
        ("GET", r"/v1/openapi.json", "openapi", False),
        ("GET", r"/v1/apps", "list_apps", False),
        ("GET", rf"/v1/apps/{_APP}", "get_app", False),
        ("DELETE", rf"/v1/apps/{_APP}", "delete_app", False),
        ("POST", rf"/v1/apps/{_APP}/deploy", "deploy", False),
        ("POST", rf"/v1/apps/{_APP}/rollback", "rollback", False),
        ("POST", rf"/v1/apps/{_APP}/scale", "scale", False),
        ("GET", rf"/v1/apps/{_APP}/logs", "logs", False),
        ("GET", rf"/v1/apps/{_APP}/events", "events", False),
        ("POST", rf"/v1/apps/{_APP}/api-key", "create_api_key", False),
        ("DELETE", rf"/v1/apps/{_APP}/api-key", "delete_api_key", False),
        ("GET", r"/v1/invocations", "list_invocations", False),
        ("GET", r"/v1/invocations/(?P<inv>[0-9a-f]{32})", "get_invocation", False),
        ("GET", r"/v1/tenants", "list_tenants", True),
        ("POST", r"/v1/tenants", "create_tenant", True),
    ]
    return [(m, re.compile(f"^{p}$"), name, admin) for m, p, name, admin in table]


ROUTES = _routes()
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
ASYNC = re.compile(rf"^/async/{_APP}(?P<path>/.*)?$")
ASYNC_STATUS = re.compile(rf"^/async/{_APP}/~invocations/(?P<inv>[0-9a-f]{{32}})$")


def _int(q: dict[str, list[str]], key: str) -> int | None:
    v = q.get(key, [None])[0]
    return int(v) if v is not None and v.lstrip("-").isdigit() else None


def make_api(agent: Agent, bind: str, port: int) -> Server:
    class Api(Handler):
        max_body = agent.settings.max_body

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            try:
                if url.path.startswith("/async/"):
                    self._async(url.path, url.query)
                    return
                for method, pattern, name, admin in ROUTES:
                    m = pattern.match(url.path)
                    if m and method == self.command:
                        who = authenticate(self.headers.get("Authorization"), agent.store.tenant_hashes())
                        if who is None:
                            self.send_error_json(401, "missing or invalid bearer token",
                                                 hint="pass Authorization: Bearer <token>")
                            return
                        if admin and not who.admin:
                            self.send_error_json(403, "this route needs the admin token")
                            return
                        getattr(self, "r_" + name)(who, parse_qs(url.query), **m.groupdict())
                        return
                allowed = sorted({method for method, p, _, _ in ROUTES if p.match(url.path)})
                if allowed:
                    self.send_json(405, {"error": "method not allowed", "allowed": allowed},
                                   headers={"Allow": ", ".join(allowed)})
                else:
                    self.send_error_json(404, "no such route")
            except AgentError as exc:
                self.send_error_json(exc.status, exc.message, detail=exc.detail[-4000:])
            except BodyTooLarge:
                self.send_error_json(413, "request body too large")
            except (ValueError, KeyError, TypeError) as exc:
                self.send_error_json(400, f"bad request: {exc}")
            except Exception:  # a bug: answer 500 and log it, never drop the connection silently
                log.exception("%s %s", self.command, url.path)
                self.send_error_json(500, "internal error; see the agent's log")

        def __getattr__(self, name: str) -> Callable[[], None]:
            # Every method (QUERY, TRACE, …) is dispatched: unknown ones get a 405 with Allow, not a 501.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def _json_body(self) -> dict[str, Any]:
            raw = self.read_body()
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            return data

        def _tenant(self, who: Principal) -> str | None:
            return None if who.admin else who.tenant

        def _owned(self, who: Principal, app: str) -> None:
            row = agent.store.app(app)
            if row is None or (not who.admin and row["tenant"] != who.tenant):
                raise AgentError(404, f"no such app {app!r}")

        # -- routes --------------------------------------------------------------------------
        def r_health(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, {"status": "ok", "version": __version__, "tenant": who.tenant})

        def r_openapi(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, OPENAPI)

        def r_list_apps(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, agent.status(self._tenant(who)))

        def r_get_app(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            self.send_json(200, agent.app_status(app))

        def r_delete_app(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            agent.destroy(agent.store.app(app)["tenant"], app)
            self.send_json(200, {"app": app, "destroyed": True})

        def r_deploy(self, who: Principal, q: dict, app: str, **_: str) -> None:
            row = agent.store.app(app)
            if row is not None and row["tenant"] != who.tenant:
                raise AgentError(403, f"app {app!r} belongs to another tenant")
            body = self._json_body()
            for key in ("version", "image", "manifest"):
                if key not in body:
                    raise ValueError(f"missing {key!r}")
            if not VERSION.match(str(body["version"])) or not str(body["image"]).strip():
                raise ValueError("version must match [A-Za-z0-9._-]{1,128} and image must be an image reference")
            if not isinstance(body["manifest"], dict):
                raise ValueError("manifest must be an object")
            if not isinstance(body.get("digest"), (str, type(None))):
                raise ValueError("digest must be a string")
            result = agent.deploy(who.tenant, app, str(body["version"]), str(body["image"]), body["manifest"],
                                  body.get("digest"))
            self.send_json(200, result)

        def r_rollback(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            version = self._json_body().get("version")
            self.send_json(200, agent.rollback(agent.store.app(app)["tenant"], app, version))

        def r_scale(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            body = self._json_body()
            lo, hi = body.get("min_warm"), body.get("max_instances")
            for v in (lo, hi):
                if v is not None and (not isinstance(v, int) or v < 0):
                    raise ValueError("min_warm and max_instances must be non-negative integers")
            self.send_json(200, agent.scale(agent.store.app(app)["tenant"], app, lo, hi))

        def r_events(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            self.send_json(200, agent.store.events(app, _int(q, "limit") or 100))

        def r_logs(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            pool = agent.pools.get(app)
            members = list(pool.members.values()) if pool else []
            tail, since = _int(q, "tail") or 100, _int(q, "since")
            follow = q.get("follow", ["0"])[0] in ("1", "true")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            write = self._chunk
            for m in members:
                for line in agent.driver.logs(m.id, tail=tail, since=since).splitlines():
                    write(f"{m.name} {line}\n".encode())
            if follow:
                self._follow(members, write)
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _follow(self, members: list, write: Callable[[bytes], None]) -> None:
            lines: queue.Queue[bytes] = queue.Queue()

            def pump(member: Any) -> None:
                try:
                    for raw in agent.driver.follow(member.id, since=time.time()):  # type: ignore[attr-defined]
                        lines.put(f"{member.name} ".encode() + raw)
                except Exception:
                    return

            for m in members:
                threading.Thread(target=pump, args=(m,), daemon=True).start()
            try:
                while True:
                    try:
                        write(lines.get(timeout=15))
                    except queue.Empty:
                        write(b"")  # keep-alive probe: fails once the client is gone
            except OSError:
                return

        def r_create_api_key(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            key = agent.set_api_key(agent.store.app(app)["tenant"], app, required=True)
            self.send_json(201, {"app": app, "public": False, "api_key": key,
                                 "hint": "send it as X-Plat-Key; it is shown only once"})

        def r_delete_api_key(self, who: Principal, q: dict, app: str, **_: str) -> None:
            self._owned(who, app)
            agent.set_api_key(agent.store.app(app)["tenant"], app, required=False)
            self.send_json(200, {"app": app, "public": True})

        def r_list_invocations(self, who: Principal, q: dict, **_: str) -> None:
            app = q.get("app", [None])[0]
            self.send_json(200, agent.store.invocations(self._tenant(who), app, _int(q, "limit") or 100))

        def r_get_invocation(self, who: Principal, q: dict, inv: str, **_: str) -> None:
            row = agent.store.invocation(inv)
            if row is None or (not who.admin and row["tenant"] != who.tenant):
                raise AgentError(404, "no such invocation")
            self.send_json(200, _public(row))

        def r_list_tenants(self, who: Principal, q: dict, **_: str) -> None:
            self.send_json(200, agent.store.tenants())

        def r_create_tenant(self, who: Principal, q: dict, **_: str) -> None:
            name = self._json_body().get("name", "")
            if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", name):
                raise ValueError("tenant name must be lowercase letters, digits and '-'")
            if any(t["name"] == name for t in agent.store.tenants()):
                raise AgentError(409, f"tenant {name!r} exists")
            token = new_token()
            agent.store.add_tenant(name, token_hash(token))
            self.send_json(201, {"name": name, "token": token})

        # -- data plane: async invocations ---------------------------------------------------
        def _async(self, path: str, query: str) -> None:
            status = ASYNC_STATUS.match(path)
            if status and self.command == "GET":
                row = agent.store.invocation(status["inv"])
                if row is None or row["app"] != status["app"]:
                    raise AgentError(404, "no such invocation")
                self._check_app_key(agent.store.app(status["app"]))
                self.send_json(200, _public(row))
                return
            m = ASYNC.match(path)
            if not m or agent.store.app(m["app"]) is None:
                raise AgentError(404, "no such app")
            row = agent.store.app(m["app"])
            self._check_app_key(row)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "content-length", "x-plat-callback", "connection")}
            body = self.read_body()
            target = (m["path"] or "/") + (f"?{query}" if query else "")
            inv = agent.store.enqueue(m["app"], row["tenant"], self.command, target, headers, body,
                                      agent.settings.max_attempts, self.headers.get("X-Plat-Callback"))
            self.send_json(202, {"id": inv, "status": "queued",
                                 "status_url": f"/async/{m['app']}/~invocations/{inv}"})

        def _check_app_key(self, row: dict[str, Any] | None) -> None:
            """The gateway checks keys on sync calls; async ones reach the agent directly."""
            if row is not None and not key_allows(self.headers.get("X-Plat-Key"), row.get("api_key_hash")):
                raise AgentError(401, "missing or wrong X-Plat-Key")

    return Server((bind, port), Api)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "app", "method", "path", "status", "attempts", "max_attempts", "result_status",
                               "error", "created", "updated")}
    body = row.get("result_body")
    out["result_body"] = body.decode(errors="replace") if isinstance(body, bytes) else body
    return out
