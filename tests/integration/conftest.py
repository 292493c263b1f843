"""Integration fixtures: a real Docker engine; everything a test creates is labelled and removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import docker
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Stable per test run even if this module is imported twice (as `conftest` and by path).
SESSION = os.environ.setdefault("PLAT_TEST_SESSION", uuid.uuid4().hex[:10])
LABEL = f"plat.test={SESSION}"


T = TypeVar("T")


def _ensure_base_images() -> None:
    """Without a registry the runtimes need local base images (scripts/offline-images)."""
    if os.environ.get("PLAT_BASE_IMAGE_PYTHON_FLASK") or os.environ.get("PLAT_USE_UPSTREAM_IMAGES"):
        return
    out = subprocess.run([str(ROOT / "scripts/offline-images")], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        os.environ[key] = value
    if not os.environ.get("PLAT_EXTRA_CA_CERTS") and os.environ.get("PIP_CERT"):
        os.environ["PLAT_EXTRA_CA_CERTS"] = os.environ["PIP_CERT"]


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env(timeout=300)
    client.ping()
    _ensure_base_images()
    os.environ["PLAT_LABELS"] = LABEL
    yield client
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        c.remove(force=True)
    for img in client.images.list(filters={"label": LABEL}):
        try:
            client.images.remove(img.id, force=True)
        except docker.errors.APIError:
            pass


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def plat(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> Result:
    """Run the real CLI in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "plat", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    return Result(proc.returncode, proc.stdout, proc.stderr)


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, what: str | Callable[[], str] = "the condition",
             interval: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail after `timeout`
    seconds, saying `what` was awaited (a callable is asked only then, e.g. for a log tail)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


@contextmanager
def local_agent(home: Path, **settings: str) -> Iterator[dict[str, str]]:
    """A local agent under its own PLAT_HOME on free ports (`plat agent up`), purged after;
    `settings` are extra PLAT_AGENT_* values. Yields `plat agent up --json` plus token and home."""
    env = {"PLAT_HOME": str(home), "PLAT_AGENT_API_PORT": str(free_port()), "PLAT_AGENT_GATEWAY_PORT": str(free_port()),
           "PLAT_AGENT_ACTIVATOR_PORT": str(free_port()), **settings}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        res = plat("agent", "up", "--json")
        assert res.code == 0, res.stderr
        info = json.loads(res.stdout)
        info["token"] = (home / "agent" / "admin-token").read_text().strip()
        info["home"] = str(home)
        yield info
    finally:
        plat("agent", "down", "--purge")
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry (Debian's docker-registry) on 127.0.0.1; yields `127.0.0.1:PORT`."""
    import shutil
    import time

    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/test installs it)"
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("docker-registry did not start")
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
