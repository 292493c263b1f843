"""Shared bench helpers: a local agent on free ports with given settings, and timing utilities."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plat(*args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "plat", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"plat {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


class BenchAgent:
    """`plat agent up` with its own PLAT_HOME and ports; `down --purge` at the end."""

    def __init__(self, **settings: str) -> None:
        self.home = tempfile.mkdtemp(prefix="plat-bench-home-")
        self.env = {"PLAT_HOME": self.home, "PLAT_AGENT_API_PORT": str(free_port()),
                    "PLAT_AGENT_GATEWAY_PORT": str(free_port()), "PLAT_AGENT_ACTIVATOR_PORT": str(free_port()),
                    "PLAT_LABELS": "plat.bench=agent", **settings}

    def up(self, **settings: str) -> dict[str, Any]:
        self.env.update(settings)
        return json.loads(plat("agent", "up", "--json", env=self.env))

    def run(self, *args: str) -> str:
        return plat(*args, env=self.env)

    def deploy(self, source: Path) -> dict[str, Any]:
        return json.loads(self.run("deploy", str(source), "--json"))

    def down(self) -> None:
        plat("agent", "down", "--purge", env=self.env)


def first_200(url: str, timeout: float = 60.0) -> float:
    """Seconds until `url` answers 200 (new connection per try)."""
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        try:
            conn.request("GET", u.path or "/")
            if conn.getresponse().status == 200:
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.002)
        finally:
            conn.close()
    raise TimeoutError(url)
