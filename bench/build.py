#!/usr/bin/env python3
"""Build speed: `plat build` against a plain `docker build` of the same generated context.

Measured side by side in one run, on the same engine and cache:
  1. after a one-line source change: plat build ÷ docker build   (target ≤ 1.05)
  2. no-op rebuild: plat build wall time                            (target ≤ 1 s)

Each side gets its own distinct edit, so neither profits from the other's cache.
Usage: bench/build.py [--runs 5] [--runtime python-flask]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plat.app import resolve_app  # noqa: E402
from plat.builder.context import materialize, plan_context  # noqa: E402
from plat.builder.pipeline import DIGEST_LABEL, plan_and_tag  # noqa: E402
from plat.builder.tagging import oci_labels  # noqa: E402

LABEL = "plat.bench=build"
SOURCE_FILE = {"python-flask": "app.py", "nodejs": "server.js", "go": "main.go"}
COMMENT = {"python-flask": "#", "nodejs": "//", "go": "//"}


def timed(argv: list[str], **kw: object) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t0


def edit(app: Path, runtime: str, marker: str) -> None:
    path = app / SOURCE_FILE[runtime]
    path.write_text(path.read_text() + f"\n{COMMENT[runtime]} edit {marker}\n")


def plat_build(app: Path) -> float:
    return timed([sys.executable, "-m", "plat", "build", str(app)])


def docker_build(app: Path, tag: str) -> float:
    """The reference: the docker CLI building exactly the context plat would send."""
    spec = resolve_app(app)
    plan, _ref, version, digest = plan_and_tag(spec)
    labels = {**oci_labels(spec.name, spec.runtime.name if spec.runtime else None, version, None),
              DIGEST_LABEL: digest, "plat.bench": "build"}
    with tempfile.TemporaryDirectory(prefix="plat-bench-") as ctx:
        materialize(plan_context(spec), Path(ctx))
        argv = ["docker", "build", "-q", "-f", f"{ctx}/{plan.dockerfile}", "-t", tag]
        argv += [f"--label={k}={v}" for k, v in labels.items()]
        return timed([*argv, ctx], env={**os.environ, "DOCKER_BUILDKIT": "0"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runtime", default="python-flask", choices=sorted(SOURCE_FILE))
    args = ap.parse_args()
    os.environ["PLAT_LABELS"] = LABEL
    work = Path(tempfile.mkdtemp(prefix="plat-bench-app-"))
    app = work / "bench-app"
    try:
        subprocess.run([sys.executable, "-m", "plat", "init", str(app), "--runtime", args.runtime], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        plat_build(app)  # warm: dependency layers cached for both sides
        plat_times, docker_times, noop_times = [], [], []
        for i in range(args.runs):
            edit(app, args.runtime, f"plat-{i}")
            plat_times.append(plat_build(app))
            edit(app, args.runtime, f"docker-{i}")
            docker_times.append(docker_build(app, f"bench-app:docker-{i}"))
        for _ in range(args.runs):
            noop_times.append(plat_build(app))
        p, d, n = (statistics.median(x) for x in (plat_times, docker_times, noop_times))
        print(f"runtime: {args.runtime}, runs: {args.runs} (medians)")
        print(f"one-line change: plat build {p:.3f}s   docker build {d:.3f}s   ratio {p / d:.3f}  (target <= 1.05)")
        print(f"no-op rebuild:   plat build {n:.3f}s   (target <= 1 s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ids = subprocess.run(["docker", "images", "-q", "--filter", f"label={LABEL}"], capture_output=True,
                             text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rmi", "-f", *sorted(set(ids))], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
