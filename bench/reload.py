#!/usr/bin/env python3
"""Save → first response with the new code: `plat dev` against host reloaders and a full
`docker build && docker run` loop, side by side in one run (median of N edits).

  python-flask: plat dev ÷ `flask run --reload` on the host   (target ≤ 1.2)
  nodejs:       plat dev ÷ `node --watch` on the host          (target ≤ 1.2)
  go:           plat dev absolute (target ≤ 2 s) and ÷ host `go build && run` when Go is installed
  each:         plat dev ÷ docker build && docker run           (target ≤ 0.1)
Usage: bench/reload.py [--runs 5] [--runtime python-flask|nodejs|go]...
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _agent import ROOT, free_port

EXAMPLE = {"python-flask": "hello-python-flask", "nodejs": "hello-node", "go": "hello-go"}
SOURCE = {"python-flask": "app.py", "nodejs": "server.js", "go": "main.go"}


def wait_for_text(url: str, text: str, timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    with httpx.Client(timeout=2) as http:
        while time.perf_counter() - t0 < timeout:
            try:
                if text in http.get(url).text:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise TimeoutError(f"{url} never served {text!r}")


def edit_loop(app: Path, runtime: str, url: str, runs: int, tag: str) -> list[float]:
    path = app / SOURCE[runtime]
    times = []
    for i in range(runs):
        marker = f"{tag}_edit_{i}_{time.time_ns()}"
        path.write_text(path.read_text().replace("hello from", f"hello from {marker}", 1))
        times.append(wait_for_text(url, marker))
        time.sleep(0.3)
    return times


def start(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def plat_dev(runtime: str, work: Path, runs: int) -> list[float]:
    app = work / "dev" / EXAMPLE[runtime]
    shutil.copytree(ROOT / "examples" / EXAMPLE[runtime], app)
    port = free_port()
    proc = start([sys.executable, "-m", "plat", "dev", str(app), "--no-tui", "--port", str(port)], app)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_text(url, "hello from", 300)
        return edit_loop(app, runtime, url, runs, "plat")
    finally:
        stop(proc)


def host_reloader(runtime: str, work: Path, runs: int) -> list[float] | None:
    app = work / "host" / EXAMPLE[runtime]
    shutil.copytree(ROOT / "examples" / EXAMPLE[runtime], app)
    port = free_port()
    env = {"PORT": str(port)}
    if runtime == "python-flask":
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin/pip"), "install", "-q", "flask>=3,<4"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        argv = [str(venv / "bin/flask"), "--app", "app", "run", "--reload", "--port", str(port)]
    elif runtime == "nodejs":
        argv = ["node", "--watch", "server.js"]
    else:
        if not shutil.which("go"):
            return None
        argv = ["sh", "-c", "go build -o /tmp/plat-bench-go . && exec /tmp/plat-bench-go"]
    proc = start(argv, app, env)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_text(url, "hello from", 120)
        if runtime == "go":  # no watcher: rebuild and restart on each edit, as a developer would
            return None
        return edit_loop(app, runtime, url, runs, "host")
    finally:
        stop(proc)


def docker_loop(runtime: str, work: Path, runs: int) -> list[float]:
    """A full `docker build` of the generated context, then `docker run`, to the new response."""
    sys.path.insert(0, str(ROOT))
    from plat.app import resolve_app
    from plat.build.context import materialize, plan_context

    app = work / "docker" / EXAMPLE[runtime]
    shutil.copytree(ROOT / "examples" / EXAMPLE[runtime], app)
    times = []
    for i in range(runs):
        marker = f"docker_edit_{i}_{time.time_ns()}"
        path = app / SOURCE[runtime]
        path.write_text(path.read_text().replace("hello from", f"hello from {marker}", 1))
        t0 = time.perf_counter()
        ctx = Path(tempfile.mkdtemp(dir=work))
        spec = resolve_app(app)
        plan = plan_context(spec)
        materialize(plan, ctx)
        tag = f"plat-bench-reload:{runtime}-{i}"
        subprocess.run(["docker", "build", "-q", "-f", str(ctx / plan.dockerfile), "-t", tag, "--label", "plat.bench=reload",
                        str(ctx)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"})
        port = free_port()
        cid = subprocess.run(["docker", "run", "-d", "--label", "plat.bench=reload", "-p", f"127.0.0.1:{port}:8080",
                              "-e", "PORT=8080", tag], check=True, capture_output=True, text=True).stdout.strip()
        wait_for_text(f"http://127.0.0.1:{port}/", marker)
        times.append(time.perf_counter() - t0)
        subprocess.run(["docker", "rm", "-f", cid], stdout=subprocess.DEVNULL)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runtime", action="append", choices=sorted(EXAMPLE))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="plat-bench-reload-"))
    lines = []
    try:
        for runtime in args.runtime or ["python-flask", "nodejs", "go"]:
            dev = statistics.median(plat_dev(runtime, work, args.runs))
            host = host_reloader(runtime, work, args.runs)
            full = statistics.median(docker_loop(runtime, work, max(2, args.runs // 2)))
            line = f"{runtime:13} plat dev {dev * 1000:7.0f} ms"
            if host:
                h = statistics.median(host)
                line += f" | host reloader {h * 1000:7.0f} ms, ratio {dev / h:.2f} (target <= 1.2)"
            else:
                line += " | host reloader: not available here" + (" (no Go on the host)" if runtime == "go" else "")
            if runtime == "go":
                line += f" | absolute target <= 2000 ms"
            line += f" | docker build+run {full * 1000:7.0f} ms, ratio {dev / full:.3f} (target <= 0.1)"
            lines.append(line)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=plat.bench=reload"], capture_output=True,
                             text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], stdout=subprocess.DEVNULL)
        imgs = subprocess.run(["docker", "images", "-q", "--filter", "label=plat.bench=reload"], capture_output=True,
                              text=True).stdout.split()
        if imgs:
            subprocess.run(["docker", "rmi", "-f", *set(imgs)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"save -> first response with the new code, median of {args.runs} edits:")
    for line in lines:
        print("  " + line)


if __name__ == "__main__":
    main()
