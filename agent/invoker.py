"""Async invocations: workers take due jobs from the store's queue and deliver them through
the gateway, with retries, exponential backoff, a max-attempts setting and a dead-letter state."""

from __future__ import annotations

import http.client
import logging
import threading
import time

from agent.db import Store

log = logging.getLogger("plat.agent.invoker")
BACKOFF_BASE = 0.5
BACKOFF_MAX = 60.0


def backoff(attempt: int, base: float = BACKOFF_BASE) -> float:
    """Seconds before retry number `attempt` (1-based): base, 2·base, 4·base, … capped."""
    return min(BACKOFF_MAX, base * 2 ** (attempt - 1))


def outcome(status: int | None) -> str:
    """done, failed (the app refused it: not retried) or retry (5xx, 429, no answer)."""
    if status is None or status >= 500 or status == 429:
        return "retry"
    return "done" if status < 400 else "failed"


class Invoker:
    def __init__(self, store: Store, gateway: str, workers: int = 2, timeout: float = 30.0,
                 base_backoff: float = BACKOFF_BASE, internal_key: str | None = None) -> None:
        """`internal_key`: the gateway's stand-in for an app's API key (the queue keeps none)."""
        self.store = store
        self.internal_key = internal_key
        self.gateway = gateway
        self.workers = workers
        self.timeout = timeout
        self.base_backoff = base_backoff
        self.stop = threading.Event()

    def start(self) -> None:
        self.store.requeue_running()
        for i in range(self.workers):
            threading.Thread(target=self._loop, args=(f"invoker-{i}",), name=f"invoker-{i}", daemon=True).start()

    def _loop(self, name: str) -> None:
        while not self.stop.is_set():
            try:
                job = self.store.claim_due(time.time(), worker=name)
            except Exception:
                log.exception("claiming a job")
                job = None
            if job is None:
                self.stop.wait(0.1)
                continue
            try:
                self.deliver(job)
            except Exception as exc:  # a bug must not kill the worker or strand the job in 'running'
                log.exception("delivering %s", job["id"])
                error = f"agent error: {type(exc).__name__}: {exc}"
                if job["attempts"] < job["max_attempts"]:
                    self.store.finish(job["id"], "queued", error=error,
                                      retry_at=time.time() + backoff(job["attempts"], self.base_backoff))
                else:
                    self.store.finish(job["id"], "dead", error=error)

    def deliver(self, job: dict) -> None:
        host, _, port = self.gateway.rpartition(":")
        status, headers, body, error = None, {}, b"", None
        conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
        try:
            # The stored headers hold no framing (api.stored_headers): http.client frames the body
            # itself with one Content-Length, so a chunked original can never be read two ways.
            hdrs = {**job["headers"], "X-Plat-Invocation": job["id"], "X-Plat-Attempt": str(job["attempts"])}
            if self.internal_key:
                hdrs["X-Plat-Internal"] = self.internal_key
            conn.request(job["method"], f"/{job['app']}{job['path']}", body=job["body"] or None, headers=hdrs)
            resp = conn.getresponse()
            status, headers, body = resp.status, dict(resp.getheaders()), resp.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, truncated reply
            status, error = None, f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        result = outcome(status)
        if result == "retry" and job["attempts"] < job["max_attempts"]:
            self.store.finish(job["id"], "queued", result_status=status, result_body=body, error=error,
                              retry_at=time.time() + backoff(job["attempts"], self.base_backoff))
            return
        final = "dead" if result == "retry" else result
        self.store.finish(job["id"], final, result_status=status, result_headers=headers, result_body=body,
                          error=error)
