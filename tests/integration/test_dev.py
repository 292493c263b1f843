"""`plat dev` on a real engine: edit → new response; syntax error → fix → serving; dependency
change → rebuilt and serving; SIGINT → no container left."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import httpx
import pytest

from tests.integration.conftest import LABEL, ROOT, free_port

pytestmark = pytest.mark.integration

CASES = {
    # example: (source file, text to change, a syntax error, dependency file, dependency change)
    "hello-python-flask": ("app.py", "hello from", "def broken(:\n", "requirements.txt", "\n# a comment\n"),
    "hello-node": ("server.js", "hello from", "function (\n", "package.json", None),
    "hello-go": ("main.go", "hello from", "func broken( {\n", "go.mod", "\n// a comment\n"),
}


def poll(url: str, predicate, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2).text
            if predicate(last):
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never matched; last answer: {last!r}")


def down(url: str, timeout: float = 60.0) -> None:
    """Wait until the broken code is live: the app stops answering."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code >= 500:
                return
        except httpx.HTTPError:
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} kept answering after a syntax error")


@pytest.mark.parametrize("example", sorted(CASES))
def test_dev_loop(engine: docker.DockerClient, tmp_path: Path, example: str) -> None:
    source, old, broken, dep_file, dep_change = CASES[example]
    app = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, app)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "plat", "dev", str(app), "--no-tui", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    url = f"http://127.0.0.1:{port}/"
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == url.rstrip("/"), proc.stderr.read() if proc.stderr else ""
        poll(url, lambda body: old in body)

        path = app / source
        original = path.read_text()
        path.write_text(original.replace(old, "edited by the test,"))
        poll(url, lambda body: "edited by the test" in body)

        path.write_text(path.read_text() + broken)
        down(url)
        path.write_text(original.replace(old, "recovered,"))
        poll(url, lambda body: "recovered" in body)

        if dep_change:
            (app / dep_file).write_text((app / dep_file).read_text() + dep_change)
            path.write_text(original.replace(old, "after the rebuild,"))
            poll(url, lambda body: "after the rebuild" in body, timeout=180)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    left = engine.containers.list(all=True, filters={"label": [LABEL, "plat.role=dev"]})
    assert left == [], "Ctrl-C removes the dev container"
    assert proc.returncode in (0, 130, -signal.SIGINT)
