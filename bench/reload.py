#!/usr/bin/env python3
"""Save → first response with the new code: `plat dev` beside host reloaders and a full
`docker build && docker run` loop, side by side in one run (median of N edits each).

  python-flask: plat dev ÷ `flask run --reload` on the host (flask in a temp venv)  target ≤ 1.2
  nodejs:       plat dev ÷ `node --watch` on the host                               target ≤ 1.2
  go:           plat dev absolute (target ≤ 2 s) and ÷ host `go build && run` (when the host has Go)
  each:         plat dev ÷ docker build && docker run of the production image      target ≤ 0.1

Each edit rewrites the source in place (as most editors save) with a new greeting, then polls
until the app serves it; edits are spaced by a random 0.4–0.9 s so no reloader's poll interval
lines up with them. Run after `. scripts/setup` (local base images). Everything the bench
creates carries the label plat.bench=reload and is removed at the end.
Usage: bench/reload.py [--runs 7] [--docker-runs 3] [--runtime python-flask|nodejs|go]...
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _agent import ROOT, free_port

LABEL = "plat.bench=reload"
EXAMPLE = {"python-flask": "hello-python-flask", "nodejs": "hello-node", "go": "hello-go"}
SOURCE = {"python-flask": "app.py", "nodejs": "server.js", "go": "main.go"}


def wait_for(url: str, text: str, timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    with httpx.Client(timeout=2) as http:
        while time.perf_counter() < deadline:
            try:
                if text in http.get(url).text:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.002)
    raise TimeoutError(f"{url} never served {text!r}")


def edits(app: Path, runtime: str, url: str, runs: int,
          after_save: Callable[[], None] = lambda: None) -> list[float]:
    """Seconds from each save to the first response that carries it."""
    path = app / SOURCE[runtime]
    original = path.read_text()
    times = []
    for i in range(runs):
        time.sleep(random.uniform(0.4, 0.9))
        marker = f"edit{i}x{time.time_ns()}"
        t0 = time.perf_counter()
        with open(path, "w") as fh:  # in place: same inode, like most editors' save
            fh.write(original.replace("hello from", f"hello from {marker}", 1))
        after_save()
        wait_for(url, marker)
        times.append(time.perf_counter() - t0)
    return times


def spawn(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def end(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def copy_example(runtime: str, dest: Path) -> Path:
    shutil.copytree(ROOT / "examples" / EXAMPLE[runtime], dest)
    return dest


def plat_dev(runtime: str, work: Path, runs: int) -> list[float]:
    app = copy_example(runtime, work / "dev" / EXAMPLE[runtime])
    port = free_port()
    proc = spawn([sys.executable, "-m", "plat", "dev", str(app), "--no-tui", "--port", str(port)], app,
                 {"PLAT_LABELS": LABEL}, work / f"plat-dev-{runtime}.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/", "hello from", timeout=600)
        return edits(app, runtime, f"http://127.0.0.1:{port}/", runs)
    finally:
        end(proc)


def host_go() -> str | None:
    """`go` on the host: on PATH, or Debian's golang-go if it is installed (never installed here)."""
    found = shutil.which("go")
    if found:
        return found
    return "/usr/lib/go/bin/go" if Path("/usr/lib/go/bin/go").is_file() else None


def host_reference(runtime: str, work: Path, runs: int) -> tuple[str, list[float] | None]:
    app = copy_example(runtime, work / "host" / EXAMPLE[runtime])
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {"PORT": str(port)}
    log = work / f"host-{runtime}.log"
    if runtime == "python-flask":
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "flask>=3,<4"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        argv = [str(venv / "bin/flask"), "--app", "app", "run", "--reload", "--port", str(port)]
        name = "flask run --reload"
    elif runtime == "nodejs":
        argv, name = ["node", "--watch", "server.js"], "node --watch"
    else:
        go = host_go()
        if go is None:
            return "host go build && run", None
        return "host go build && run", go_loop(go, app, url, runs, log)
    proc = spawn(argv, app, env, log)
    try:
        wait_for(url, "hello from")
        return name, edits(app, runtime, url, runs)
    finally:
        end(proc, signal.SIGTERM)


def go_loop(go: str, app: Path, url: str, runs: int, log: Path) -> list[float]:
    """No watcher: after each save, `go build` and restart the binary, as a developer would."""
    binary = app / "app.bin"
    port = url.rsplit(":", 1)[1].strip("/")
    proc: list[subprocess.Popen[bytes]] = []

    def rebuild() -> None:
        if proc:
            end(proc.pop(), signal.SIGTERM)
        subprocess.run([go, "build", "-o", str(binary), "."], cwd=app, check=True)
        proc.append(spawn([str(binary)], app, {"PORT": port}, log))

    rebuild()
    try:
        wait_for(url, "hello from")
        return edits(app, "go", url, runs, rebuild)
    finally:
        if proc:
            end(proc.pop(), signal.SIGTERM)


def docker_loop(runtime: str, work: Path, runs: int) -> list[float]:
    """A full rebuild of the production image (plat's generated Dockerfile, the engine's layer
    cache warm) and a fresh `docker run`, to the first response with the new code."""
    from plat.app import resolve_app
    from plat.builder.context import plan_context, with_labels
    from plat.builder.docker_backend import build
    from plat.docker_client import connect

    client = connect()
    app = copy_example(runtime, work / "docker" / EXAMPLE[runtime])
    spec = resolve_app(app)
    tag = f"plat-bench-reload/{EXAMPLE[runtime]}:latest"
    labels = dict([LABEL.split("=")])

    def build_and_run() -> None:
        plan = with_labels(plan_context(spec), labels)
        assert plan is not None
        build(client, plan, tag, labels={})
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        container = client.containers.run(tag, detach=True, labels=labels, environment={"PORT": str(spec.port)},
                                          ports={f"{spec.port}/tcp": ("127.0.0.1", port)})
        state["url"], state["container"] = url, container

    state: dict = {}
    path = app / SOURCE[runtime]
    original = path.read_text()
    build_and_run()  # warm the layer cache (dependencies), not measured
    wait_for(state["url"], "hello from", 120)
    times = []
    try:
        for i in range(runs):
            state.pop("container").remove(force=True)
            marker = f"docker{i}x{time.time_ns()}"
            t0 = time.perf_counter()
            path.write_text(original.replace("hello from", f"hello from {marker}", 1))
            build_and_run()
            wait_for(state["url"], marker)
            times.append(time.perf_counter() - t0)
    finally:
        if "container" in state:
            state["container"].remove(force=True)
    return times


def cleanup() -> None:
    from plat.docker_client import docker

    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        c.remove(force=True)
    for image in client.images.list(filters={"label": LABEL}):
        try:
            client.images.remove(image.id, force=True)
        except docker.errors.APIError:
            pass
    for volume in client.volumes.list(filters={"label": LABEL}):
        volume.remove(force=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="edits per loop (median)")
    ap.add_argument("--docker-runs", type=int, default=3, help="edits for the docker build && run loop")
    ap.add_argument("--runtime", action="append", choices=sorted(EXAMPLE))
    args = ap.parse_args()
    if not os.environ.get("PLAT_BASE_IMAGE_PYTHON_FLASK"):
        print("note: no PLAT_BASE_IMAGE_* set; without a registry, run `. scripts/setup` first", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="plat-bench-reload-"))
    rows = []
    try:
        for runtime in args.runtime or ["python-flask", "nodejs", "go"]:
            print(f"{runtime}: plat dev ...", file=sys.stderr, flush=True)
            dev = plat_dev(runtime, work, args.runs)
            print(f"{runtime}: host reference ...", file=sys.stderr, flush=True)
            host_name, host = host_reference(runtime, work, args.runs)
            print(f"{runtime}: docker build && run ...", file=sys.stderr, flush=True)
            full = docker_loop(runtime, work, args.docker_runs)
            rows.append((runtime, dev, host_name, host, full))
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)

    print(f"save -> first response with the new code (median of {args.runs} edits; "
          f"docker build && run: median of {args.docker_runs})")
    for runtime, dev, host_name, host, full in rows:
        d, f = statistics.median(dev), statistics.median(full)
        print(f"  {runtime}")
        print(f"    plat dev                {ms(d):>9}   (min {ms(min(dev))}, max {ms(max(dev))})")
        if host:
            h = statistics.median(host)
            target = "" if runtime == "go" else "   target <= 1.2"
            print(f"    {host_name:<23} {ms(h):>9}   ratio plat dev / host = {d / h:.2f}{target}")
        else:
            print(f"    {host_name:<23}   unavailable: no `go` on this host (Debian's golang-go is not installed)")
        if runtime == "go":
            print(f"    absolute                {ms(d):>9}   target <= 2000 ms: {'met' if d <= 2 else 'missed'}")
        print(f"    docker build && run     {ms(f):>9}   ratio plat dev / docker = {d / f:.3f}   target <= 0.1")


if __name__ == "__main__":
    main()
