"""The control API over real HTTP on 127.0.0.1, backed by the real store and agent core, with a
fake container driver (instances are loopback HTTP servers) and a recording router.

Auth is checked for every route in the route table, so a new route is covered the day it lands.
"""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

import agent.httpserver
from agent.api import ROUTES, make_api
from agent.core import Agent
from agent.db import Store
from agent.docker_driver import Instance, InstanceSpec, PullFailed
from agent.openapi import document
from agent.pool import ServerLoad
from agent.settings import Settings
from agent.tokens import bootstrap_admin
from tests.integration.conftest import wait_for

MAX_BODY = 4096


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeDriver:
    """Containers as records; a started instance answers health checks from a loopback server.
    Images with "broken" in their name die at start (their log says why)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.instances: dict[str, Instance] = {}
        self.images: dict[str, str] = {}
        self.env: dict[str, dict[str, str]] = {}
        self.local_images: set[str] = set()
        self.pulls: list[tuple[str, Any, bool]] = []
        self.layers: list[list[str]] = []
        self.streams: list[FakeStream] = []
        self._ids = itertools.count(1)

    def create(self, spec: InstanceSpec) -> Instance:
        n = next(self._ids)
        inst = Instance(f"id{n:04d}", f"plat-{spec.app}-{n}", spec.app, spec.version, "created", None)
        self.instances[inst.id], self.images[inst.id], self.env[inst.id] = inst, spec.image, dict(spec.env)
        return inst

    def ensure_image(self, image: str, auth: Any = None, always: bool = False) -> bool:
        """Images are local unless their name says "remote"; pulls of "denied" ones fail, quoting
        the credentials back (an engine could), so the agent must redact them."""
        if "remote" not in image and not always:
            return False
        self.pulls.append((image, auth, always))
        if "denied" in image:
            user, password = (auth or {}).get("username"), (auth or {}).get("password")
            raise PullFailed(f"pull access denied for {image}: user {user} with password {password} is unauthorized")
        return True

    def layer_diff_ids(self) -> list[list[str]]:
        return self.layers

    def start(self, instance_id: str) -> Instance:
        broken = "broken" in self.images[instance_id]
        inst = replace(self.instances[instance_id], state="exited" if broken else "running",
                       address="127.0.0.1:9" if broken else self.address)
        self.instances[instance_id] = inst
        return inst

    def pause(self, instance_id: str) -> None:
        self.instances[instance_id] = replace(self.instances[instance_id], state="paused")

    def unpause(self, instance_id: str) -> None:
        self.instances[instance_id] = replace(self.instances[instance_id], state="running")

    def stop(self, instance_id: str, timeout: int = 10) -> None:
        self.instances[instance_id] = replace(self.instances[instance_id], state="exited", address=None)

    def remove(self, instance_id: str) -> None:
        self.instances.pop(instance_id, None)

    def inspect(self, instance_id: str) -> Instance | None:
        return self.instances.get(instance_id)

    def logs(self, instance_id: str, tail: int = 50, since: float | None = None) -> str:
        if "broken" in self.images.get(instance_id, ""):
            return "Traceback: ImportError: no module named app\n"
        return "listening on :8080\nGET / 200\n"

    def follow(self, instance_id: str, since: float | None = None) -> FakeStream:
        stream = FakeStream()
        self.streams.append(stream)
        return stream

    def list(self, app: str | None = None) -> list[Instance]:
        return [i for i in self.instances.values() if app is None or i.app == app]


class FakeStream:
    """An engine log stream that yields one line, then waits until it is closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield b"2026-12-04T00:00:00Z a new line\n"
        self.closed.wait()

    def close(self) -> None:
        self.closed.set()


class FakeRouter:
    def __init__(self) -> None:
        self.servers: dict[str, set[str]] = {}

    def add(self, app: str, server: str, address: str, maxconn: int) -> None:
        self.servers.setdefault(app, set()).add(server)

    def remove(self, app: str, server: str) -> None:
        self.servers.get(app, set()).discard(server)

    def load(self, app: str) -> tuple[int, dict[str, ServerLoad]]:
        return 0, {}


class Api:
    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, token: str | None = None, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        hdrs = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=raw, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            is_json = resp.getheader("Content-Type", "").startswith("application/json")
            return resp.status, json.loads(data) if is_json else data.decode()
        finally:
            conn.close()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, Any]]:
    instance = agent.httpserver.Server(("127.0.0.1", 0), _Ok)  # quiet about health probes hanging up
    threading.Thread(target=instance.serve_forever, args=(0.05,), daemon=True).start()
    settings = Settings.from_env({"PLAT_AGENT_STATE": str(tmp_path), "PLAT_AGENT_MAX_BODY": str(MAX_BODY),
                                  "PLAT_AGENT_KEEP_VERSIONS": "2"})
    store = Store(tmp_path / "agent.db")
    bootstrap_admin(store, tmp_path)
    driver, router = FakeDriver(f"127.0.0.1:{instance.server_port}"), FakeRouter()
    core = Agent(settings, store, driver, router)
    server = make_api(core, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    api = Api(server.server_address[1])
    admin = (tmp_path / "admin-token").read_text().strip()
    tokens = {"admin": admin}
    for name in ("acme", "other"):
        status, data = api.call("POST", "/v1/tenants", admin, {"name": name})
        assert status == 201, data
        tokens[name] = data["token"]
    try:
        yield {"api": api, "tokens": tokens, "driver": driver, "router": router, "core": core, "store": store}
    finally:
        server.shutdown()
        server.server_close()
        instance.shutdown()
        instance.server_close()


def sample_path(pattern: re.Pattern[str]) -> str:
    """A concrete path for a route regex: every group gets a valid sample value."""
    samples = {"app": "web", "inv": "0" * 32, "key": "API_TOKEN", "tenant": "other"}
    path = pattern.pattern.strip("^$")
    for name, value in samples.items():
        path = re.sub(rf"\(\?P<{name}>(?:[^()]|\([^()]*\))*\)", value, path)
    assert pattern.match(path), path
    return path


ROUTE_CASES = [pytest.param(r.method, sample_path(r.pattern), r.admin, id=f"{r.method} {r.handler}") for r in ROUTES]


def deploy(env: dict[str, Any], token: str, version: str, image: str | None = None, app: str = "web") -> tuple:
    body = {"version": version, "image": image or f"{app}:{version}", "manifest": {"port": 8080, "health": "/h"}}
    return env["api"].call("POST", f"/v1/apps/{app}/deploy", token, body)


# -- who may call what -------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "admin_only"), ROUTE_CASES)
def test_every_route_refuses_a_missing_or_wrong_token(env: dict[str, Any], method: str, path: str,
                                                       admin_only: bool) -> None:
    api = env["api"]
    for headers in ({}, {"Authorization": "Bearer plat_wrong"}, {"Authorization": f"Basic {env['tokens']['acme']}"},
                    {"Authorization": "Bearer"}):
        status, data = api.call(method, path, headers=headers, body={} if method == "POST" else None)
        assert status == 401, (headers, data)
        assert data["error"] == "missing or invalid bearer token"


@pytest.mark.parametrize(("method", "path", "admin_only"), [c for c in ROUTE_CASES if c.values[2]])
def test_admin_routes_refuse_tenant_tokens(env: dict[str, Any], method: str, path: str, admin_only: bool) -> None:
    status, data = env["api"].call(method, path, env["tokens"]["acme"],
                                   body={"name": "x"} if method == "POST" else None)
    assert status == 403 and "admin" in data["error"]


PRINCIPALS = ("none", "wrong", "other tenant", "owner", "admin")


@pytest.mark.security
@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.handler}")
def test_auth_matrix(env: dict[str, Any], route: Any, principal: str) -> None:
    """Every route of the table × every kind of caller, on an app (and an invocation) the
    tenant `acme` owns: only the owner and the admin get past auth, never another tenant."""
    api, t = env["api"], env["tokens"]
    assert deploy(env, t["acme"], "v1")[0] == 200
    assert api.call("PUT", "/v1/apps/web/secrets/API_TOKEN", t["acme"], {"value": "s3cret"})[0] == 200
    inv = api.call("POST", "/async/web/job", body=b"payload")[1]["id"]
    path = sample_path(route.pattern).replace("0" * 32, inv)
    token = {"none": None, "wrong": "plat_wrong", "other tenant": t["other"], "owner": t["acme"],
             "admin": t["admin"]}[principal]
    status, data = api.call(route.method, path, token, body={} if route.body else None)
    owned = bool({"app", "inv"} & set(route.params))
    if principal in ("none", "wrong"):
        assert status == 401 and data["code"] == "unauthorized"
    elif route.admin and principal != "admin":
        assert status == 403 and data["code"] == "admin_only"
    elif principal == "other tenant" and owned:
        assert status in (403, 404) and data["code"] in ("app_owned_elsewhere", "not_found"), data
    elif principal == "other tenant":
        assert status == 200 and "web" not in json.dumps(data) and "s3cret" not in json.dumps(data), data
    else:
        assert status not in (401, 403), data
    assert "s3cret" not in json.dumps(data), "no route shows a secret's value"


def test_the_openapi_schema_documents_every_route(env: dict[str, Any]) -> None:
    status, schema = env["api"].call("GET", "/v1/openapi.json", env["tokens"]["acme"])
    assert status == 200 and schema == json.loads(json.dumps(document(ROUTES)))
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    documented = set()
    for template, ops in schema["paths"].items():
        concrete = template.replace("{app}", "web").replace("{inv}", "0" * 32).replace("{key}", "API_TOKEN") \
            .replace("{tenant}", "other")
        for method in ops:
            documented.add((method.upper(), concrete))
    served = {(r.method, sample_path(r.pattern)) for r in ROUTES}
    assert served == documented


def test_tenants_see_and_touch_only_their_own_apps(env: dict[str, Any]) -> None:
    api, t = env["api"], env["tokens"]
    assert deploy(env, t["acme"], "v1")[0] == 200
    assert [a["app"] for a in api.call("GET", "/v1/apps", t["acme"])[1]] == ["web"]
    assert api.call("GET", "/v1/apps", t["other"])[1] == []
    assert [a["app"] for a in api.call("GET", "/v1/apps", t["admin"])[1]] == ["web"], "admin sees every tenant"
    for method, path, body in [("GET", "/v1/apps/web", None), ("DELETE", "/v1/apps/web", None),
                               ("POST", "/v1/apps/web/rollback", {}), ("POST", "/v1/apps/web/scale", {"min_warm": 0}),
                               ("GET", "/v1/apps/web/logs", None), ("GET", "/v1/apps/web/events", None),
                               ("POST", "/v1/apps/web/api-key", None), ("DELETE", "/v1/apps/web/api-key", None)]:
        status, data = api.call(method, path, t["other"], body)
        assert status == 404 and data["error"] == "no such app 'web'", (method, path)
    status, data = deploy(env, t["other"], "evil")
    assert status == 403 and "another tenant" in data["error"]
    assert env["store"].app("web")["live_version"] == "v1"
    assert api.call("GET", "/v1/apps/web", t["acme"])[0] == 200


@pytest.mark.security
def test_tenant_tokens_can_be_rotated_and_revoked_by_the_admin(env: dict[str, Any]) -> None:
    api, t = env["api"], env["tokens"]
    assert deploy(env, t["acme"], "v1")[0] == 200
    status, rotated = api.call("POST", "/v1/tenants/acme/token", t["admin"])
    assert status == 200 and rotated["name"] == "acme" and rotated["token"] not in t.values()
    assert api.call("GET", "/v1/apps", t["acme"])[0] == 401, "the old token stops working at once"
    assert [a["app"] for a in api.call("GET", "/v1/apps", rotated["token"])[1]] == ["web"]
    assert api.call("DELETE", "/v1/tenants/acme/token", t["admin"]) == (200, {"name": "acme", "revoked": True})
    assert api.call("GET", "/v1/apps", rotated["token"])[0] == 401
    listed = {x["name"]: x for x in api.call("GET", "/v1/tenants", t["admin"])[1]}
    assert listed["acme"]["revoked"] and listed["other"]["revoked"] is None
    assert env["store"].app("web")["live_version"] == "v1", "a revoked tenant's apps keep serving"
    assert api.call("DELETE", "/v1/tenants/default/token", t["admin"])[0] == 404, "the admin's is rotated on the host"
    assert api.call("DELETE", "/v1/tenants/nobody/token", t["admin"])[0] == 404
    back = api.call("POST", "/v1/tenants/acme/token", t["admin"])[1]["token"]
    assert api.call("GET", "/v1/apps", back)[0] == 200 and not {x["name"]: x for x in api.call(
        "GET", "/v1/tenants", t["admin"])[1]}["acme"]["revoked"], "a rotation gives a revoked tenant a token again"


def test_tenant_creation_rules(env: dict[str, Any]) -> None:
    api, admin = env["api"], env["tokens"]["admin"]
    assert api.call("POST", "/v1/tenants", admin, {"name": "acme"})[0] == 409
    for bad in ({"name": "Bad Name"}, {"name": ""}, {}):
        assert api.call("POST", "/v1/tenants", admin, bad)[0] == 400
    names = [t["name"] for t in api.call("GET", "/v1/tenants", admin)[1]]
    assert names == ["acme", "default", "other"]
    assert all("token_hash" not in t for t in api.call("GET", "/v1/tenants", admin)[1])


# -- deploy, rollback, scale, logs, delete over the API ---------------------------------------
def test_deploy_rollback_scale_logs_delete(env: dict[str, Any]) -> None:
    api, acme, router = env["api"], env["tokens"]["acme"], env["router"]
    status, first = deploy(env, acme, "v1")
    assert status == 200 and first["version"] == "v1" and len(first["instances"]) == 1
    status, second = deploy(env, acme, "v2")
    assert status == 200
    new_instance = second["instances"][0]["name"]
    assert router.servers["web"] == {new_instance}, "switched to v2; v1 unrouted"
    app = api.call("GET", "/v1/apps/web", acme)[1]
    assert app["live_version"] == "v2" and {v["version"]: v["status"] for v in app["versions"]} == \
        {"v2": "live", "v1": "retired"}
    status, back = api.call("POST", "/v1/apps/web/rollback", acme, {})
    assert status == 200 and back["version"] == "v1"
    assert env["store"].app("web")["live_version"] == "v1"
    status, scaled = api.call("POST", "/v1/apps/web/scale", acme, {"min_warm": 2, "max_instances": 3})
    assert status == 200 and (scaled["policy"]["min_warm"], scaled["policy"]["max_instances"]) == (2, 3)
    assert api.call("POST", "/v1/apps/web/scale", acme, {"min_warm": -1})[0] == 400
    status, logs = api.call("GET", "/v1/apps/web/logs?tail=5", acme)
    assert status == 200 and "listening on :8080" in logs
    kinds = [e["kind"] for e in api.call("GET", "/v1/apps/web/events", acme)[1]]
    assert kinds[:2] == ["scaled", "switched"] and kinds.count("switched") == 3
    assert api.call("DELETE", "/v1/apps/web", acme) == (200, {"app": "web", "destroyed": True})
    assert api.call("GET", "/v1/apps/web", acme)[0] == 404
    assert env["driver"].instances == {}, "every instance removed"


def test_a_broken_version_is_refused_and_the_old_one_keeps_serving(env: dict[str, Any]) -> None:
    acme = env["tokens"]["acme"]
    assert deploy(env, acme, "v1")[0] == 200
    status, data = deploy(env, acme, "v2", image="web:broken")
    assert status == 422 and "old version keeps serving" in data["error"]
    assert "ImportError" in data["detail"], "the new container's log tail is reported"
    assert env["store"].app("web")["live_version"] == "v1"
    assert env["store"].version("web", "v2")["status"] == "failed"


def test_rollback_with_nothing_to_roll_back_to(env: dict[str, Any]) -> None:
    acme = env["tokens"]["acme"]
    deploy(env, acme, "v1")
    status, data = env["api"].call("POST", "/v1/apps/web/rollback", acme, {"version": "v0"})
    assert status == 404 and "no earlier version" in data["error"]


# -- async invocations -------------------------------------------------------------------------
def test_async_invocations_are_queued_and_visible_to_their_tenant_only(env: dict[str, Any]) -> None:
    api, t = env["api"], env["tokens"]
    deploy(env, t["acme"], "v1")
    status, data = api.call("POST", "/async/web/hook?x=1", body=b"payload", headers={
        "X-Plat-Callback": "http://169.254.169.254/", "Authorization": "Bearer caller", "Cookie": "s=1",
        "Proxy-Authorization": "Basic x", "X-Plat-Key": "k", "Keep-Alive": "timeout=5", "X-Trace": "t1"})
    assert status == 202 and data["status"] == "queued"
    inv = data["id"]
    status, row = api.call("GET", data["status_url"])
    assert status == 200 and (row["status"], row["path"], row["method"]) == ("queued", "/hook?x=1", "POST")
    assert [i["id"] for i in api.call("GET", "/v1/invocations", t["acme"])[1]] == [inv]
    assert api.call("GET", "/v1/invocations", t["other"])[1] == []
    assert api.call("GET", f"/v1/invocations/{inv}", t["acme"])[0] == 200
    assert api.call("GET", f"/v1/invocations/{inv}", t["other"])[0] == 404
    assert api.call("POST", "/async/nope/x", body=b"")[0] == 404
    stored = env["store"].invocation(inv)
    assert stored["body"] == b"payload" and stored["callback_url"] is None
    kept = {k.lower() for k in json.loads(stored["headers"])}
    assert "x-trace" in kept and not kept & {"authorization", "cookie", "proxy-authorization", "x-plat-key",
                                              "x-plat-callback", "keep-alive", "host", "content-length"}


# -- limits --------------------------------------------------------------------------------------
def test_bodies_over_the_limit_are_refused(env: dict[str, Any]) -> None:
    api, admin = env["api"], env["tokens"]["admin"]
    big = json.dumps({"name": "x" * (MAX_BODY + 10)}).encode()
    assert api.call("POST", "/v1/tenants", admin, big)[0] == 413
    deploy(env, env["tokens"]["acme"], "v1")
    assert api.call("POST", "/async/web/x", body=b"x" * (MAX_BODY + 1))[0] == 413


def test_a_chunked_body_over_the_limit_is_refused(env: dict[str, Any]) -> None:
    """Refused at the chunk that would pass the limit, before it is read (the rest stays unread)."""
    head = (f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {env['tokens']['admin']}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    with socket.create_connection(("127.0.0.1", env["api"].port), timeout=10) as s:
        try:
            s.sendall(head + chunk * 8 + b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent answered and closed before taking it all
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413") and b"Connection: close" in reply, reply[:200]


@pytest.mark.security
def test_a_log_follower_that_goes_away_ends_its_stream(env: dict[str, Any]) -> None:
    """`logs?follow=1` streams until its client hangs up; then the engine's streams are closed
    (a gone client leaves no thread and no engine connection behind)."""
    deploy(env, env["tokens"]["acme"], "v1")
    request = (f"GET /v1/apps/web/logs?follow=1&tail=1 HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {env['tokens']['acme']}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", env["api"].port), timeout=10) as s:
        s.sendall(request)
        received = b""
        while b"a new line" not in received:
            try:
                received += s.recv(65536)
            except TimeoutError:
                raise AssertionError(received) from None
        assert b"200 OK" in received and b"0\r\n\r\n" not in received, "still streaming"
    streams = env["driver"].streams
    assert streams and all(st.closed.wait(10) for st in streams), "the engine's streams are closed"


def test_the_log_streams_parameters_are_checked(env: dict[str, Any]) -> None:
    api, acme = env["api"], env["tokens"]["acme"]
    deploy(env, acme, "v1")
    for bad in ("tail=-1", "tail=x", "tail=", "since=abc", "follow=yes", "tail=1&tail=2", "tail=100001"):
        status, data = api.call("GET", f"/v1/apps/web/logs?{bad}", acme)
        assert status == 400 and data["code"] == "invalid", bad
    assert api.call("GET", "/v1/apps/web/logs?tail=0", acme)[0] == 200
    status, text = api.call("GET", "/v1/apps/web/logs?tail=5&since=0&follow=0", acme)
    assert status == 200 and "listening on :8080" in text


def test_malformed_requests(env: dict[str, Any]) -> None:
    api, acme = env["api"], env["tokens"]["acme"]
    assert api.call("POST", "/v1/apps/web/deploy", acme, b"{not json")[0] == 400
    assert api.call("POST", "/v1/apps/web/deploy", acme, b"[1, 2]")[0] == 400
    assert api.call("POST", "/v1/apps/web/deploy", acme, {"version": "v1"})[0] == 400
    assert api.call("GET", "/v1/nothing", acme)[0] == 404
    assert api.call("PUT", "/v1/apps", acme)[0] == 405
    assert api.call("GET", "/v1/apps/Not_A_Label", acme)[0] == 404


def test_a_client_that_stalls_mid_headers_is_cut_off(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent.httpserver.Handler, "timeout", 0.5)
    with socket.create_connection(("127.0.0.1", env["api"].port), timeout=10) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert s.recv(1024) == b""
        assert time.monotonic() - started < 5


@pytest.mark.security
def test_a_client_trickling_its_request_is_cut_at_the_whole_request_deadline(
        env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each byte comes well within the socket timeout, but the request never ends: the deadline
    cuts it, while a normal client is served meanwhile."""
    monkeypatch.setattr(agent.httpserver.Server, "request_deadline", 1.0)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", env["api"].port), timeout=10) as s:
        s.sendall(b"GET /v1/health HTTP/1.1\r\n")
        try:
            while time.monotonic() - started < 8:
                s.sendall(b"X-Slow: x\r\n")
                assert env["api"].call("GET", "/v1/health", env["tokens"]["acme"])[0] == 200
                time.sleep(0.3)
            cut = False
        except (BrokenPipeError, ConnectionResetError):
            cut = True
        assert cut or s.recv(1024) == b"", "the trickling request was cut"
    assert time.monotonic() - started < 8


@pytest.mark.security
def test_connections_past_the_cap_get_a_503_at_once() -> None:
    class Small(agent.httpserver.Server):
        max_connections = 3

    server = Small(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    port = server.server_address[1]
    def extra_answer() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return extra.recv(1024)

    try:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        # The three are accepted one by one: once all hold a slot, the next is refused at once.
        assert wait_for(lambda: extra_answer().startswith(b"HTTP/1.1 503"), 10,
                        what="a connection past the cap to be refused"), "over the cap: refused, not queued"
        idle.pop().close()
        assert wait_for(lambda: extra_answer().startswith(b"HTTP/1.1 200"), 10,
                        what="the freed slot to serve again"), "a freed slot serves again"
        for s in idle:
            s.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_body_is_never_read_as_the_next_request(env: dict[str, Any]) -> None:
    """After a 413 the connection closes: the unread body (here, a whole request) is not served."""
    inner = (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
             + env["tokens"]["acme"].encode() + b"\r\n\r\n")
    body = inner * (MAX_BODY // len(inner) + 1)
    head = (f"POST /async/web/x HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    deploy(env, env["tokens"]["acme"], "v1")
    with socket.create_connection(("127.0.0.1", env["api"].port), timeout=10) as s:
        s.sendall(head + body)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 413") and b"Connection: close" in received
    assert received.count(b"HTTP/1.1 ") == 1, "nothing after the 413"


def test_an_app_can_require_an_api_key_and_become_public_again(env: dict[str, Any]) -> None:
    api, acme, core = env["api"], env["tokens"]["acme"], env["core"]
    deploy(env, acme, "v1")
    reloads: list[int] = []
    core.reload_gateway = lambda: reloads.append(1)
    assert api.call("GET", "/v1/apps/web", acme)[1]["public"] is True
    status, data = api.call("POST", "/v1/apps/web/api-key", acme)
    assert status == 201 and data["public"] is False
    key = data["api_key"]
    assert reloads == [1], "the gateway config is re-rendered with the key check"
    assert [r.api_key_sha256 for r in core.routes()] == [hashlib.sha256(key.encode()).hexdigest()]
    assert api.call("GET", "/v1/apps/web", acme)[1]["public"] is False
    for headers in ({}, {"X-Plat-Key": "wrong"}):
        assert api.call("POST", "/async/web/job", body=b"", headers=headers)[0] == 401
    status, queued = api.call("POST", "/async/web/job", body=b"", headers={"X-Plat-Key": key})
    assert status == 202
    assert api.call("GET", queued["status_url"])[0] == 401
    assert api.call("GET", queued["status_url"], headers={"X-Plat-Key": key})[0] == 200
    rotated = api.call("POST", "/v1/apps/web/api-key", acme)[1]["api_key"]
    assert rotated != key
    assert api.call("POST", "/async/web/job", body=b"", headers={"X-Plat-Key": key})[0] == 401
    assert api.call("DELETE", "/v1/apps/web/api-key", acme) == (200, {"app": "web", "public": True})
    assert [r.api_key_sha256 for r in core.routes()] == [None] and len(reloads) == 3
    assert api.call("POST", "/async/web/job", body=b"")[0] == 202
