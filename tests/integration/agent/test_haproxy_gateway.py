"""The gateway on a real HAProxy (Debian's 2.6), all on 127.0.0.1: rendered config, routing by
path and host, the activator as backup, dynamic servers over the runtime API, per-server
maxconn with queueing, live load, drain and delete, seamless reload, per-app timeout and key.

Upstreams are small Python HTTP servers on loopback ports; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.gateway import Gateway, GatewayError
from agent.haproxy_config import AppRoute, GatewayConfig, Server
from tests.integration.conftest import wait_for

HAPROXY = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy)")
DOMAIN = "plat.test"


class Upstream(ThreadingHTTPServer):
    """A loopback HTTP server answering JSON about the request it got (`/slow?s=N` waits first)."""

    daemon_threads = True

    def __init__(self, name: str, extra_headers: dict[str, str] | None = None) -> None:
        self.name, self.extra_headers = name, extra_headers or {}
        super().__init__(("127.0.0.1", 0), _Echo)
        threading.Thread(target=self.serve_forever, name=f"upstream-{name}", daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # HAProxy closing pooled idle connections is not an error


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def _answer(self) -> None:
        url = urlsplit(self.path)
        if url.path.endswith("/slow"):
            time.sleep(float(parse_qs(url.query).get("s", ["0.5"])[0]))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps({"via": self.server.name, "path": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "body": self.rfile.read(length).decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in self.server.extra_headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, path: str, headers: dict[str, str] | None = None, method: str = "GET",
                body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read()
            data = json.loads(raw) if resp.getheader("Content-Type", "").startswith("application/json") else raw
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Upstream]]:
    servers = {"activator": Upstream("activator", {"X-Plat-Cold-Start": "1"}), "control": Upstream("control"),
               "a": Upstream("a"), "b": Upstream("b")}
    yield servers
    for s in servers.values():
        s.shutdown()
        s.server_close()


@pytest.fixture
def gw(upstreams: dict[str, Upstream]) -> Iterator[tuple[Gateway, Client, dict[str, AppRoute]]]:
    state = Path(tempfile.mkdtemp(prefix="plat-gw-"))  # short: a unix socket path has ~100 bytes
    routes: dict[str, AppRoute] = {"web": AppRoute("web", timeout_s=5.0)}
    cfg = GatewayConfig(bind="127.0.0.1", port=free_port(), domain=DOMAIN, state_dir=str(state),
                        activator=upstreams["activator"].address, control=upstreams["control"].address,
                        activator_name="_activator_" + "5e" * 16)
    gateway = Gateway(cfg, lambda: list(routes.values()), HAPROXY or "haproxy")
    gateway.start()
    try:
        yield gateway, Client(cfg.port), routes
    finally:
        gateway.stop()
        assert gateway.proc is not None and gateway.proc.poll() is not None
        shutil.rmtree(state, ignore_errors=True)


def in_background(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run `fn` in a thread; the returned callable joins it and gives its result."""
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.update(value=fn()), daemon=True)
    t.start()

    def join() -> Any:
        t.join(20)
        assert not t.is_alive()
        return box["value"]

    return join


def test_an_app_with_no_instance_falls_through_to_the_activator(gw: tuple) -> None:
    _, client, _ = gw
    gateway = gw[0]
    status, headers, data = client.request("/web/hello?x=1", {"X-Plat-App": "forged", "X-Plat-Via": "forged"})
    assert status == 200 and data["via"] == "activator"
    assert data["path"] == "/hello?x=1", "the /<app> prefix is stripped"
    assert data["headers"]["x-plat-app"] == "web", "the gateway names the app; a client cannot"
    assert data["headers"]["x-plat-via"] == gateway.cfg.activator_name, "the gateway vouches with its secret name"
    assert headers["x-plat-cold-start"] == "1"
    assert "x-plat-instance" not in headers, "the activator's secret name never reaches a client"


def test_a_dynamic_server_is_routed_by_path_and_by_host(gw: tuple, upstreams: dict[str, Upstream]) -> None:
    gateway, client, _ = gw
    gateway.add("web", "web-i1", upstreams["a"].address, 4)
    cases = [
        ("/web/a/b?q=1", {}, "/a/b?q=1"),
        ("/web", {}, "/"),
        ("/web/", {}, "/"),
        ("/a/b", {"Host": f"web.{DOMAIN}"}, "/a/b"),
        ("/", {"Host": f"WEB.{DOMAIN.upper()}:8080"}, "/"),
    ]
    for path, headers, seen in cases:
        status, resp_headers, data = client.request(path, headers)
        assert (status, data["via"], data["path"]) == (200, "a", seen), path
        assert resp_headers["x-plat-instance"] == "web-i1" and resp_headers["x-plat-cold-start"] == "0"


def test_unknown_apps_get_a_json_404_and_async_goes_to_the_agent(gw: tuple) -> None:
    _, client, _ = gw
    status, _, data = client.request("/nope/x")
    assert (status, data) == (404, {"error": "no such app"})
    status, _, data = client.request("/x", {"Host": "nope.elsewhere.test"})
    assert status == 404
    status, _, data = client.request("/async/web/job", method="POST", body=b"payload")
    assert (status, data["via"], data["path"], data["body"]) == (200, "control", "/async/web/job", "payload")


def test_an_app_with_a_key_refuses_requests_without_it(gw: tuple) -> None:
    gateway, client, routes = gw
    key = "k-" + "s3cret" * 4
    routes["private"] = AppRoute("private", api_key_sha256=hashlib.sha256(key.encode()).hexdigest())
    gateway.reload()
    for headers in ({}, {"X-Plat-Key": "wrong"}):
        status, _, data = client.request("/private/", headers)
        assert status == 401 and "X-Plat-Key" in data["error"]
    status, _, data = client.request("/private/", {"X-Plat-Key": key})
    assert status == 200 and "x-plat-key" not in data["headers"], "the key never reaches the app"


def test_maxconn_queues_and_load_reports_sessions_and_queue(gw: tuple, upstreams: dict[str, Upstream]) -> None:
    gateway, client, _ = gw
    gateway.add("web", "web-i1", upstreams["a"].address, 1)
    calls = [in_background(lambda: client.request("/web/slow?s=0.8")) for _ in range(3)]
    queued, servers = wait_for(lambda: (load := gateway.load("web"))[0] == 2 and load, 10, interval=0.02)
    assert servers["web-i1"].in_flight == 1
    results = [c() for c in calls]
    assert [(s, d["via"]) for s, _, d in results] == [(200, "a")] * 3, "queued, not sent to the activator"
    queued, servers = gateway.load("web")
    assert queued == 0 and servers["web-i1"].in_flight == 0 and servers["web-i1"].idle_for < 5


def test_leastconn_spreads_over_instances(gw: tuple, upstreams: dict[str, Upstream]) -> None:
    gateway, client, _ = gw
    gateway.add("web", "web-i1", upstreams["a"].address, 4)
    gateway.add("web", "web-i2", upstreams["b"].address, 4)
    calls = []
    for n in range(1, 5):  # each request is in flight before the next: leastconn always sees them all
        calls.append(in_background(lambda: client.request("/web/slow?s=2")))
        wait_for(lambda n=n: sum(s.in_flight for s in gateway.load("web")[1].values()) == n, 10, interval=0.02,
                 what=f"{n} requests in flight")
    assert sorted(c()[1]["x-plat-instance"] for c in calls) == ["web-i1", "web-i1", "web-i2", "web-i2"]


def test_drain_lets_in_flight_requests_finish_then_deletes(gw: tuple, upstreams: dict[str, Upstream]) -> None:
    gateway, client, _ = gw
    gateway.add("web", "web-i1", upstreams["a"].address, 4)
    slow = in_background(lambda: client.request("/web/slow?s=0.8"))
    wait_for(lambda: gateway.load("web")[1]["web-i1"].in_flight == 1, 10, interval=0.02)
    started = time.monotonic()
    assert gateway.remove("web", "web-i1") is True
    assert time.monotonic() - started > 0.3, "remove waited for the in-flight request"
    status, _, data = slow()
    assert (status, data["via"]) == (200, "a")
    assert "web-i1" not in gateway.load("web")[1]
    assert "app_web,web-i1," not in gateway.command("show stat")
    assert client.request("/web/")[2]["via"] == "activator"


def test_reload_adds_apps_and_keeps_instances(gw: tuple, upstreams: dict[str, Upstream]) -> None:
    gateway, client, routes = gw
    assert client.request("/api/")[0] == 404
    gateway.add("web", "web-i1", upstreams["a"].address, 4)
    # The agent's routes include ready instances, so a reload keeps serving them.
    routes["web"] = AppRoute("web", servers=(Server("web-i1", upstreams["a"].address, 4),))
    routes["api"] = AppRoute("api")
    pid_before = gateway._pid_of_worker()
    gateway.reload()
    assert gateway._pid_of_worker() != pid_before
    assert client.request("/api/")[2]["via"] == "activator"
    assert client.request("/web/")[2]["via"] == "a"
    # Adding a server the reload already knows re-points it instead of failing.
    gateway.add("web", "web-i1", upstreams["b"].address, 2)
    assert client.request("/web/")[2]["via"] == "b"
    assert gateway.remove("web", "web-i1") is True
    assert client.request("/web/")[2]["via"] == "activator"


def test_a_slow_instance_gets_a_504_after_the_app_timeout(gw: tuple, upstreams: dict[str, Upstream]) -> None:
    gateway, client, routes = gw
    routes["web"] = AppRoute("web", timeout_s=0.3)
    gateway.reload()
    gateway.add("web", "web-i1", upstreams["a"].address, 4)
    started = time.monotonic()
    status, _, _ = client.request("/web/slow?s=1.5")
    assert status == 504 and time.monotonic() - started < 1.4


def test_a_port_in_use_is_reported_with_haproxys_words(upstreams: dict[str, Upstream]) -> None:
    state = Path(tempfile.mkdtemp(prefix="plat-gw-"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cfg = GatewayConfig(bind="127.0.0.1", port=taken.getsockname()[1], domain=DOMAIN, state_dir=str(state),
                            activator=upstreams["activator"].address, control=upstreams["control"].address)
        gateway = Gateway(cfg, lambda: [], HAPROXY or "haproxy")
        try:
            with pytest.raises(GatewayError, match="haproxy exited: .*(bind|Address already in use)"):
                gateway.start()
        finally:
            gateway.stop()
            shutil.rmtree(state, ignore_errors=True)
