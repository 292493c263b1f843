"""`plat dev` on a real engine, as a user runs it (a subprocess on a copy of each example):
edit → the new response; a syntax or compile error → reported, then fixed → serving again;
a dependency file → rebuilt and serving; SIGINT → no container left behind."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from tests.integration.conftest import LABEL, ROOT, free_port, wait_for

pytestmark = pytest.mark.integration


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    log_path: Path
    urls: list[str]

    @property
    def url(self) -> str:
        return self.urls[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> None:
        assert self.proc.poll() is None, f"plat dev ended:\n{self.log()[-3000:]}"

    def wait_log(self, text: str, count: int = 1, timeout: float = 60.0) -> None:
        def logged() -> bool:
            self.alive()
            return self.log().count(text) >= count

        wait_for(logged, timeout, what=lambda: f"{text!r} logged {count}x:\n{self.log()[-3000:]}", interval=0.05)

    def poll(self, path: str, predicate: Callable[[str], bool], timeout: float = 60.0, base: str | None = None) -> str:
        url = (base or self.url) + path
        last = [""]

        def matched() -> str | None:
            self.alive()
            try:
                last[0] = httpx.get(url, timeout=5).text
            except httpx.HTTPError as exc:
                last[0] = repr(exc)
                return None
            return last[0] if predicate(last[0]) else None

        return wait_for(matched, timeout, what=lambda: f"{url} to match; last answer {last[0]!r}\n{self.log()[-3000:]}",
                        interval=0.05)


def _read_lines(proc: subprocess.Popen[bytes], count: int, timeout: float, log: Path) -> list[str]:
    """The first `count` lines of stdout (raw reads: a buffered reader would hide lines from select)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    data = b""
    deadline = time.monotonic() + timeout
    while data.count(b"\n") < count and time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    lines = data.decode().splitlines()[:count]
    assert len(lines) == count, f"plat dev printed {lines}:\n{log.read_text()[-3000:]}"
    return lines


@contextmanager
def plat_dev(app: Path, *args: str, urls: int = 1) -> Iterator[Dev]:
    log_path = app.parent / f"{app.name}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "plat", "dev", str(app), "--no-tui", *args],
                                stdout=subprocess.PIPE, stderr=log, env={**os.environ})
    try:
        yield Dev(proc, log_path, _read_lines(proc, urls, 300, log_path))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise


def left_behind(engine: docker.DockerClient) -> list[str]:
    return [c.name for c in engine.containers.list(all=True, filters={"label": [LABEL, "plat.managed=true"]})
            if c.labels.get("plat.role", "").startswith("dev")]


@pytest.fixture(scope="module", autouse=True)
def cache_volumes(engine: docker.DockerClient) -> Iterator[None]:
    yield
    for volume in engine.volumes.list(filters={"label": LABEL}):
        try:
            volume.remove(force=True)
        except docker.errors.APIError:
            pass


@dataclass(frozen=True)
class Case:
    source: str
    broken: str
    """Appended to `source`: a syntax or compile error."""
    dep_file: str
    dep_change: Callable[[str], str]


CASES = {
    "hello-python-flask": Case("app.py", "\ndef broken(:\n", "requirements.txt", lambda t: t + "# plat dev test\n"),
    "hello-node": Case("server.js", "\nfunction (\n", "package.json",
                       lambda t: t.replace('"version": "0.1.0"', '"version": "0.1.1"')),
    "hello-go": Case("main.go", "\nfunc broken( {\n", "go.mod", lambda t: t + "// plat dev test\n"),
}


@pytest.mark.parametrize("example", sorted(CASES))
def test_edit_break_fix_dependency_and_ctrl_c(engine: docker.DockerClient, tmp_path: Path, example: str) -> None:
    case = CASES[example]
    app = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, app)
    source = app / case.source
    original = source.read_text()
    held = None
    args: list[str] = []
    if example == "hello-node":
        # The manifest's port is taken on the host: plat dev picks another one and says so.
        held = socket.socket()
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        (app / "plat.yaml").write_text((app / "plat.yaml").read_text().replace("port: 8080", f"port: {taken}"))
    else:
        args = ["--port", str(free_port())]
    try:
        with plat_dev(app, *args) as dev:
            if held is not None:
                assert not dev.url.endswith(f":{taken}")
                assert f"port {taken} is in use on 127.0.0.1: using {dev.url.rsplit(':', 1)[1]}" in dev.log()
            dev.poll("/", lambda body: "hello from" in body, timeout=180)

            source.write_text(original.replace("hello from", "edited by the test,"))
            dev.poll("/", lambda body: "edited by the test" in body)
            dev.wait_log("reloaded in")

            source.write_text(original + case.broken)
            dev.wait_log("the app exited with code")
            assert dev.proc.poll() is None, "a syntax error does not end the loop"
            source.write_text(original.replace("hello from", "recovered,"))
            dev.poll("/", lambda body: "recovered" in body)

            dep = app / case.dep_file
            dep.write_text(case.dep_change(dep.read_text()))
            dev.wait_log("rebuilt in", timeout=240)
            source.write_text(original.replace("hello from", "after the rebuild,"))
            dev.poll("/", lambda body: "after the rebuild" in body)
            assert len(left_behind(engine)) == 1, "the rebuild replaced the container"
        assert dev.proc.returncode == 0, dev.log()[-2000:]
        assert "dev containers removed" in dev.log()
        assert left_behind(engine) == [], "Ctrl-C removes the dev container"
    finally:
        if held is not None:
            held.close()


def test_react_flask_backend_and_vite_frontend(engine: docker.DockerClient, tmp_path: Path) -> None:
    app = tmp_path / "todo"
    shutil.copytree(ROOT / "examples/todo-react-flask", app)
    with plat_dev(app, "--port", str(free_port()), urls=2) as dev:
        api, web = dev.urls
        dev.poll("/healthz", lambda body: body == "ok", timeout=240)
        # The Vite dev server: the app's index with HMR, /api proxied to Flask.
        dev.poll("/", lambda body: "/@vite/client" in body, base=web, timeout=120)
        assert httpx.post(f"{web}/api/todos", json={"title": "through vite"}, timeout=10).status_code == 201
        assert "through vite" in httpx.get(f"{api}/api/todos", timeout=10).text

        # A frontend edit is Vite's (HMR): the module is served anew, Flask keeps running.
        jsx = app / "frontend/src/App.jsx"
        jsx.write_text(jsx.read_text().replace("What needs doing?", "What is next?"))
        dev.poll("/src/App.jsx", lambda body: "What is next?" in body, base=web)
        dev.wait_log("frontend dev server (HMR)")
        assert "through vite" in httpx.get(f"{api}/api/todos", timeout=10).text, "Flask was not restarted"

        # A backend edit restarts Flask, and Vite proxies to the new one.
        py = app / "app.py"
        py.write_text(py.read_text().replace('return "ok", 200', 'return "ok, edited", 200'))
        dev.poll("/healthz", lambda body: body == "ok, edited")
        dev.poll("/api/todos", lambda body: body.strip() == "[]", base=web)

        # A frontend dependency change rebuilds the frontend's image and dev server only.
        pkg = app / "frontend/package.json"
        pkg.write_text(pkg.read_text().replace('"version": "0.0.0"', '"version": "0.0.1"'))
        dev.wait_log("frontend dev server rebuilt in", timeout=240)
        dev.poll("/src/App.jsx", lambda body: "What is next?" in body, base=web, timeout=120)
        dev.poll("/healthz", lambda body: body == "ok, edited")
        assert len(left_behind(engine)) == 2
    assert dev.proc.returncode == 0
    assert left_behind(engine) == []


STANDBY_APP = """\
import http.server, os, signal, sys
ready = os.environ.pop("PLAT_DEV_READY", None)
if ready:  # plat's standby protocol: prepare, say so, wait for SIGUSR2
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    open(ready + ".tmp", "w").write(str(os.getpid()))
    os.rename(ready + ".tmp", ready)
    signal.sigwait({signal.SIGUSR2})
"""


@pytest.mark.parametrize("standby", [False, True], ids=["plain", "standby"])
def test_supervisor_restarts_in_place_and_survives_bursts(engine: docker.DockerClient, tmp_path: Path,
                                                          standby: bool) -> None:
    """plat's supervisor on its own: a burst of SIGHUPs is one (or a few) restarts and never two apps;
    an app that exits waits for the next SIGHUP; SIGTERM stops everything at once."""
    (tmp_path / "msg").write_text("v0")
    shutil.copy(ROOT / "plat/dev/supervise.sh", tmp_path / "supervise.sh")
    (tmp_path / "app.py").write_text(
        (STANDBY_APP if standby else "import http.server, sys\n") +
        "msg = open('/t/msg').read()\n"
        "if msg == 'crash': sys.exit(3)\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(msg.encode())\n"
        "http.server.HTTPServer(('0.0.0.0', 8000), H).serve_forever()\n")
    container = engine.containers.run(
        os.environ["PLAT_BASE_IMAGE_PYTHON_FLASK"], ["sh", "/t/supervise.sh", "python3", "/t/app.py"], detach=True,
        init=True, volumes={str(tmp_path): {"bind": "/t", "mode": "ro"}}, ports={"8000/tcp": ("127.0.0.1", None)},
        labels={LABEL.split("=")[0]: LABEL.split("=")[1]}, environment={"PLAT_DEV_STANDBY": "1" if standby else ""})
    try:
        container.reload()
        url = f"http://127.0.0.1:{container.attrs['NetworkSettings']['Ports']['8000/tcp'][0]['HostPort']}/"

        def serves(text: str) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url, timeout=2).text == text:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            raise AssertionError(f"never served {text!r}: {container.logs().decode()[-2000:]}")

        serves("v0")
        for round_ in range(1, 4):
            for _ in range(10):
                container.kill(signal="SIGHUP")
            (tmp_path / "msg").write_text(f"v{round_}")
            container.kill(signal="SIGHUP")
            serves(f"v{round_}")
        (tmp_path / "msg").write_text("crash")
        container.kill(signal="SIGHUP")
        deadline = time.monotonic() + 30
        while b"plat-dev: exit" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"plat-dev: exit" in container.logs()
        container.reload()
        assert container.status == "running", "the supervisor outlives the app"
        (tmp_path / "msg").write_text("fixed")
        container.kill(signal="SIGHUP")
        serves("fixed")
        top = container.top(ps_args="-eo pid,args")["Processes"]
        # the app, and with standby on, the next one waiting
        assert sum(p[-1].startswith("python3 /t/app.py") for p in top) == (2 if standby else 1), top
        if standby:
            assert b"plat-dev: exit 0" not in container.logs(), "every standby was put to use"
        t0 = time.monotonic()
        container.stop(timeout=10)
        assert time.monotonic() - t0 < 5, "SIGTERM stops the app and the supervisor"
    finally:
        container.remove(force=True)


def test_taken_port_and_no_engine(engine: docker.DockerClient, tmp_path: Path) -> None:
    app = tmp_path / "hello-node"
    shutil.copytree(ROOT / "examples/hello-node", app)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "plat", "dev", str(app), "--no-tui", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and f"--port {port}: already in use" in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "plat", "dev", str(app), "--no-tui"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0].startswith("error: no Docker engine answers"), proc.stderr
