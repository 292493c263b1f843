"""Async delivery over real HTTP on 127.0.0.1: a scripted stand-in for the gateway, the real
store and the real worker threads. Retries with backoff, dead letter, refusals, truncated
replies, the per-app cap and retention, and jobs left running by a previous agent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.db import Store
from agent.invoker import Invoker
from tests.integration.conftest import wait_for

TERMINAL = {"done", "failed", "dead"}


class FakeGateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Script)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Script(BaseHTTPRequestHandler):
    """`/web/ok`, `/web/bad` (400), `/web/poison` (500), `/web/flaky/<k>?fail=N`, `/web/truncated/<k>`."""

    protocol_version = "HTTP/1.1"
    server: FakeGateway

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            n = self.server.attempts[url.path] = self.server.attempts.get(url.path, 0) + 1
            self.server.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if url.path == "/web/ok":
            return self._reply(200, b"done:" + body)
        if url.path == "/web/bad":
            return self._reply(400, b"nope")
        if url.path == "/web/poison":
            return self._reply(500, b"boom")
        if url.path.startswith("/web/flaky/"):
            fail = int(parse_qs(url.query)["fail"][0])
            return self._reply(503 if n <= fail else 200, f"attempt {n}".encode())
        if url.path.startswith("/web/truncated/") and n == 1:
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.close_connection = True
            return None
        return self._reply(200, b"fine")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    server = FakeGateway()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "agent.db")
    s.add_tenant("acme", "h")
    return s


def run_until_settled(store: Store, gateway: FakeGateway, ids: list[str], timeout: float = 20.0) -> Invoker:
    invoker = Invoker(store, gateway.address, workers=2, timeout=5, base_backoff=0.01)
    invoker.start()
    try:
        wait_for(lambda: all(store.invocation(i)["status"] in TERMINAL for i in ids), timeout, interval=0.02,
                 what=lambda: f"every job to settle: {({i: store.invocation(i)['status'] for i in ids})}")
        return invoker
    finally:
        invoker.stop.set()


def enqueue(store: Store, path: str, body: bytes = b"", attempts: int = 4, cap: int = 1000) -> str | None:
    return store.enqueue("web", "acme", "POST", path, {"X-Trace": "t1"}, body, attempts, cap)


def test_outcomes_retries_and_dead_letter(store: Store, gateway: FakeGateway) -> None:
    ok = enqueue(store, "/ok", b"payload")
    flaky = enqueue(store, "/flaky/a?fail=2")
    bad = enqueue(store, "/bad")
    poison = enqueue(store, "/poison", attempts=3)
    run_until_settled(store, gateway, [ok, flaky, bad, poison])
    rows = {i: store.invocation(i) for i in (ok, flaky, bad, poison)}
    assert (rows[ok]["status"], rows[ok]["result_status"], rows[ok]["result_body"]) == ("done", 200, b"done:payload")
    assert (rows[flaky]["status"], rows[flaky]["attempts"], rows[flaky]["result_body"]) == ("done", 3, b"attempt 3")
    assert (rows[bad]["status"], rows[bad]["attempts"], rows[bad]["result_status"]) == ("failed", 1, 400)
    assert (rows[poison]["status"], rows[poison]["attempts"]) == ("dead", 3)
    assert gateway.attempts["/web/poison"] == 3 and gateway.attempts["/web/flaky/a"] == 3
    first = next(s for s in gateway.seen if s["path"] == "/web/ok")
    assert first["headers"]["X-Trace"] == "t1" and first["headers"]["X-Plat-Invocation"] == ok


def test_a_truncated_reply_is_retried_and_the_worker_survives(store: Store, gateway: FakeGateway) -> None:
    jobs = [enqueue(store, f"/truncated/{n}") for n in range(3)]
    run_until_settled(store, gateway, jobs)
    for inv in jobs:
        row = store.invocation(inv)
        assert (row["status"], row["attempts"], row["result_body"]) == ("done", 2, b"fine")


def test_an_app_has_at_most_its_cap_waiting_and_finished_ones_free_room(store: Store, gateway: FakeGateway) -> None:
    first = [enqueue(store, f"/ok/{n}", cap=3) for n in range(3)]
    assert None not in first
    assert enqueue(store, "/ok/over", cap=3) is None, "a fourth waiting invocation is over the cap"
    run_until_settled(store, gateway, first)  # type: ignore[arg-type]
    assert enqueue(store, "/ok/after", cap=3) is not None, "finished invocations do not count"


def test_finished_invocations_are_forgotten_after_retention_and_waiting_ones_never(store: Store,
                                                                                   gateway: FakeGateway) -> None:
    done = enqueue(store, "/ok", b"x")
    run_until_settled(store, gateway, [done])  # type: ignore[list-item]
    waiting = store.enqueue("other", "acme", "POST", "/", {}, b"", 3, 10)
    assert store.purge_finished(before=time.time() - 3600) == 0, "younger than the retention: kept"
    assert store.purge_finished(before=time.time() + 1) == 1
    assert store.invocation(done) is None and store.invocation(waiting)["status"] == "queued"


def test_jobs_a_previous_agent_left_running_are_delivered(store: Store, gateway: FakeGateway) -> None:
    inv = enqueue(store, "/ok", b"again")
    assert store.claim_due(time.time(), worker="old-agent")["id"] == inv  # then that agent died
    run_until_settled(store, gateway, [inv])
    row = store.invocation(inv)
    assert (row["status"], row["attempts"], row["worker"]) == ("done", 2, None)


def test_an_agent_bug_requeues_the_job_instead_of_stranding_it(store: Store, gateway: FakeGateway,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = Invoker.deliver, []

    def buggy_once(self: Invoker, job: dict) -> None:
        calls.append(job["id"])
        if len(calls) == 1:
            raise KeyError("a bug")
        real(self, job)

    monkeypatch.setattr(Invoker, "deliver", buggy_once)
    inv = enqueue(store, "/ok")
    run_until_settled(store, gateway, [inv])
    assert store.invocation(inv)["status"] == "done" and len(calls) == 2
