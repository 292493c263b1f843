#!/usr/bin/env python3
"""Deploy to many hosts, side by side with the references, in one run.

1. Wall time of `plat deploy` of a one-line change to 3 hosts ÷ to 1 host (target ≤ 1.3).
2. Bytes sent for that one-layer change ÷ bytes of `docker save IMAGE | ssh HOST docker load`
   (target ≤ 0.2), and the time of both.

Hosts are the e2e test bed's (containers with their own sshd and dockerd, tools/testbed.py).
    python bench/deploy.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import yaml  # noqa: E402

from tools import testbed as tb  # noqa: E402

APP = ROOT / "tests" / "fixtures" / "flaky"


def plat(app: Path, env: dict[str, str], *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "plat", "deploy", "--json", *args], cwd=app, capture_output=True,
                          text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        raise SystemExit(f"plat deploy failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout)


def bump(app: Path, n: int) -> None:
    src = app / "app.py"
    lines = [ln for ln in src.read_text().splitlines() if not ln.startswith("BENCH_CHANGE = ")]
    src.write_text("\n".join(lines) + f"\nBENCH_CHANGE = {n}\n")


def save_and_load(client: docker.DockerClient, ref: str, env: tb.SshEnv, host: str) -> tuple[int, float]:
    """The reference: `docker save IMAGE | ssh HOST docker load`, bytes and seconds."""
    from plat.remote.ssh import connect, load_ssh_config, parse_address, resolve

    config = load_ssh_config(env.config)
    ssh = connect(resolve(parse_address(host), config), config)
    try:
        t0 = time.perf_counter()
        chan = ssh.get_transport().open_session()
        chan.exec_command("docker load")
        sent = 0
        for chunk in client.images.get(ref).save(chunk_size=1 << 20, named=ref):
            chan.sendall(chunk)
            sent += len(chunk)
        chan.shutdown_write()
        while chan.recv(65536):
            pass
        if chan.recv_exit_status() != 0:
            raise SystemExit("docker load on the host failed")
        return sent, time.perf_counter() - t0
    finally:
        ssh.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    client = docker.from_env(timeout=600)
    session = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="plat-bench-deploy-"))
    key = tb.generate_keypair(work / "key")
    bed = tb.Testbed(client, network=f"plat-bench-{session}", prefix=f"plat-bench-{session}-",
                     labels={"plat.bench": session}, authorized_keys=[key.public_line], workdir=work / "bed")
    try:
        hosts = bed.make_hosts(["b1", "b2", "b3"])
        env_ = tb.write_ssh_env(work / "ssh", hosts, key.private)
        env = {**env_.env, "PLAT_HOME": str(work / "home")}
        app = work / "app"
        shutil.copytree(APP, app)
        manifest = yaml.safe_load((app / "plat.yaml").read_text())
        manifest.update(name="benchapp", hosts=[h.name for h in hosts], scale={"min_warm": 1, "max_instances": 2})
        (app / "plat.yaml").write_text(yaml.safe_dump(manifest))
        print("bootstrapping 3 hosts and a first deploy (not timed)...", file=sys.stderr)
        plat(app, env)

        one, three, sent = [], [], []
        for r in range(args.rounds):
            bump(app, 2 * r)
            t0 = time.perf_counter()
            res1 = plat(app, env, "--host", "b1")
            one.append(time.perf_counter() - t0)
            print(f"  1 host:  {one[-1]:.2f}s {res1['phases']}", file=sys.stderr)
            sent.append(res1["hosts"][0]["bytes_sent"])
            bump(app, 2 * r + 1)
            t0 = time.perf_counter()
            res3 = plat(app, env)
            three.append(time.perf_counter() - t0)
            print(f"  3 hosts: {three[-1]:.2f}s {res3['phases']}", file=sys.stderr)
        image = res1["image"]
        ref_bytes, ref_seconds = save_and_load(client, image, env_, "b1")

        t1, t3 = statistics.median(one), statistics.median(three)
        b = statistics.median(sent)
        print(f"deploy, one-line change (median of {args.rounds}):")
        print(f"  to 1 host   {t1:6.2f} s")
        print(f"  to 3 hosts  {t3:6.2f} s")
        print(f"  ratio 3 hosts / 1 host: {t3 / t1:.2f}  (target <= 1.3)")
        print("bytes for a one-layer change, one host:")
        print(f"  plat (missing layers, gzip)      {b / 1e3:10.1f} kB  in {t1:.2f} s (whole deploy)")
        print(f"  docker save | ssh docker load    {ref_bytes / 1e3:10.1f} kB  in {ref_seconds:.2f} s (transfer only)")
        print(f"  ratio plat / save|load: {b / ref_bytes:.4f}  (target <= 0.2)")
    finally:
        bed.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
