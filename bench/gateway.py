#!/usr/bin/env python3
"""Gateway throughput and latency: through plat's gateway ÷ through nginx ÷ direct, same container.

Side by side in one run with wrk (-t1 -c50) against one instance of examples/hello-go:
  direct:  the container's address on the private network
  nginx:   Debian's nginx on 127.0.0.1, upstream keep-alive to the same container
  gateway: the local agent's gateway (HAProxy driven by the agent), /hello-go/
Targets: gateway ≥ 0.8× nginx throughput; ≤ 0.5 ms added p50 over direct.
Also prints the agent's idle RSS (target ≤ 60 MB), HAProxy reported separately.
Needs: wrk and nginx (apt-get install wrk nginx-light).
Usage: bench/gateway.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import docker
from _agent import ROOT, BenchAgent, first_200, free_port

NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream app {{ server {upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""


def wrk(url: str, seconds: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds}s", "--latency", url], capture_output=True, text=True,
                         check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"rps": rps, "p50": pct("50"), "p99": pct("99")}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def agent_rss(client: docker.DockerClient) -> tuple[float, float]:
    top = client.containers.get("plat-agent").top(ps_args="-eo pid,comm")
    agent = haproxy = 0.0
    for pid, comm in top["Processes"]:
        if "haproxy" in comm:
            haproxy += rss_mb(int(pid))
        else:
            agent += rss_mb(int(pid))
    return agent, haproxy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing: apt-get install wrk nginx-light")
    client = docker.from_env()
    agent = BenchAgent()
    nginx_dir = Path(tempfile.mkdtemp(prefix="plat-bench-nginx-"))
    try:
        info = agent.up()
        # Per-instance concurrency above wrk's 50 connections: measure the proxy, not the queue
        # that the app's `scale.concurrency` would (rightly) impose.
        app = Path(tempfile.mkdtemp(prefix="plat-bench-app-")) / "hello-go"
        shutil.copytree(ROOT / "examples/hello-go", app)
        (app / "plat.yaml").write_text((app / "plat.yaml").read_text() + "scale:\n  concurrency: 256\n")
        agent.deploy(app)
        agent.run("scale", "hello-go", "--min", "1", "--max", "1")  # one instance: the same upstream for all three
        gateway = f"{info['gateway']}/hello-go/"
        first_200(gateway)
        time.sleep(1.0)
        idle_agent, idle_haproxy = agent_rss(client)
        inst = client.containers.list(filters={"label": ["plat.role=instance", "plat.app=hello-go"]})[0]
        ip = inst.attrs["NetworkSettings"]["Networks"]["plat"]["IPAddress"]
        direct = f"http://{ip}:8080/"
        port = free_port()
        (nginx_dir / "nginx.conf").write_text(NGINX_CONF.format(dir=nginx_dir, upstream=f"{ip}:8080", port=port))
        nginx = subprocess.Popen(["nginx", "-c", str(nginx_dir / "nginx.conf"), "-g", "daemon off;"],
                                 stderr=subprocess.DEVNULL)
        try:
            first_200(f"http://127.0.0.1:{port}/")
            results = {}
            for name, url in (("direct", direct), ("nginx", f"http://127.0.0.1:{port}/"), ("gateway", gateway)):
                wrk(url, 2)  # warm-up
                results[name] = wrk(url, args.seconds)
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
    finally:
        agent.down()
        shutil.rmtree(nginx_dir, ignore_errors=True)
    print(f"wrk -t1 -c50 -d{args.seconds}s, one hello-go instance:")
    for name, r in results.items():
        print(f"  {name:8} {r['rps']:10.0f} req/s   p50 {r['p50']:.3f} ms   p99 {r['p99']:.3f} ms")
    g, n, d = results["gateway"], results["nginx"], results["direct"]
    print(f"  gateway ÷ nginx throughput {g['rps'] / n['rps']:.3f}  (target >= 0.8)")
    print(f"  gateway ÷ direct throughput {g['rps'] / d['rps']:.3f}")
    print(f"  added p50 over direct: gateway {g['p50'] - d['p50']:.3f} ms (target <= 0.5), "
          f"nginx {n['p50'] - d['p50']:.3f} ms")
    print(f"agent idle RSS {idle_agent:.1f} MB (target <= 60), HAProxy {idle_haproxy:.1f} MB (reported separately)")


if __name__ == "__main__":
    main()
