#!/usr/bin/env python3
"""Slow clients against the agent's control API: other clients' p99, alone ÷ beside 500 slowloris.

Side by side in one run, against a real local agent (its own PLAT_HOME and ports):
  alone:  N sequential authenticated `GET /v1/apps` calls, each on a new connection
  beside: the same calls while 500 clients hold connections open, each trickling one header
          line every few seconds and never finishing (a slowloris)
Prints p50/p99 of both and the ratio (target: p99 beside ≤ 1.2× alone), and how many of the
slow connections the whole-request deadline has cut by the end (PLAT_AGENT's default: 30 s).
Usage: bench/slowclients.py [--slow 500] [--calls 400]
"""

from __future__ import annotations

import argparse
import http.client
import socket
import statistics
import threading
import time
from pathlib import Path

from _agent import BenchAgent


def calls(port: int, token: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/v1/apps", headers={"Authorization": f"Bearer {token}"})
        assert conn.getresponse().read() is not None
        conn.close()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1]


def slowloris(port: int, n: int, stop: threading.Event, cut: list[int]) -> None:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    while not stop.wait(3):
        for s in list(socks):
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                socks.remove(s)
                cut[0] += 1
    for s in socks:
        s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slow", type=int, default=500)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    agent = BenchAgent()
    try:
        info = agent.up()
        port = int(info["api"].rsplit(":", 1)[1])
        token = (Path(agent.home) / "agent" / "admin-token").read_text().strip()
        calls(port, token, 50)  # warm up
        alone = calls(port, token, args.calls)
        stop, cut = threading.Event(), [0]
        loris = threading.Thread(target=slowloris, args=(port, args.slow, stop, cut), daemon=True)
        loris.start()
        time.sleep(3)
        beside = calls(port, token, args.calls)
        time.sleep(40)  # past the whole-request deadline (30 s), and the slow clients' next sends
        stop.set()
        loris.join(20)
        for name, v in (("alone", alone), (f"beside {args.slow} slow clients", beside)):
            print(f"{name:>28}: p50 {pct(v, 50):6.2f} ms  p99 {pct(v, 99):6.2f} ms")
        print(f"p99 ratio (beside / alone): {pct(beside, 99) / pct(alone, 99):.2f} (target <= 1.2)")
        print(f"slow connections cut by the deadline: {cut[0]} of {args.slow}")
    finally:
        agent.down()


if __name__ == "__main__":
    main()
