#!/usr/bin/env python3
"""Cold starts: first 200 for an app scaled to zero, per idle tier, against a bare `docker run`.

Side by side in one run, same image (examples/hello-go), median of N:
  paused ÷ docker run     (target ≤ 0.1)
  created ÷ docker run    (target ≤ 0.8)
  image only ÷ docker run (target ≤ 1.05)
  warm-pool claim ÷ steady-state request (target ≤ 1.05)
The reference is the docker SDK's `containers.run` on the same private network, polled to its
first 200 — what the pool does when it has nothing in any tier.
Usage: bench/coldstart.py [--runs 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import docker
from _agent import ROOT, BenchAgent, first_200

TIERS = {"paused": {"PLAT_AGENT_MAX_PAUSED": "1", "PLAT_AGENT_MAX_STOPPED": "1"},
         "created": {"PLAT_AGENT_MAX_PAUSED": "0", "PLAT_AGENT_MAX_STOPPED": "1"},
         "image only": {"PLAT_AGENT_MAX_PAUSED": "0", "PLAT_AGENT_MAX_STOPPED": "0"}}
STATE = {"paused": {"paused"}, "created": {"exited", "created"}, "image only": set()}


def app_containers(client: docker.DockerClient) -> list:
    return client.containers.list(all=True, filters={"label": ["plat.role=instance", "plat.app=hello-go"]})


def wait_tier(client: docker.DockerClient, tier: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = app_containers(client)
        states = {c.status for c in found}
        if (tier == "image only" and not found) or (found and states <= STATE[tier] and states):
            return
        time.sleep(0.05)
    raise TimeoutError(f"instances never reached the {tier} tier")


def reference(client: docker.DockerClient, image: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        c = client.containers.run(image, detach=True, network="plat", environment={"PORT": "8080"},
                                  labels={"plat.bench": "agent"})
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"]["plat"]["IPAddress"]
        first_200(f"http://{ip}:8080/healthz")
        times.append(time.perf_counter() - t0)
        c.remove(force=True)
    return times


def request_ms(url: str) -> float:
    return first_200(url) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    args = ap.parse_args()
    client = docker.from_env()
    agent = BenchAgent(PLAT_AGENT_IDLE_TIMEOUT="0.5", PLAT_AGENT_TICK="0.1", PLAT_AGENT_PAUSED_TTL="3600",
                       PLAT_AGENT_STOPPED_TTL="3600")
    results: dict[str, list[float]] = {}
    try:
        for tier, settings in TIERS.items():
            info = agent.up(**settings)
            deployed = agent.deploy(ROOT / "examples/hello-go")
            url = f"{info['gateway']}/hello-go/healthz"
            results[tier] = []
            for _ in range(args.runs):
                wait_tier(client, tier)
                results[tier].append(first_200(url))
        image = deployed["image"]
        results["docker run"] = reference(client, image, args.runs)
        # Warm claim: a ready instance, a request after a pause vs. back-to-back requests.
        agent.run("scale", "hello-go", "--min", "1")
        url = f"{info['gateway']}/hello-go/healthz"
        first_200(url)
        steady = [request_ms(url) for _ in range(50)]
        claim = []
        for _ in range(args.runs):
            time.sleep(0.3)
            claim.append(request_ms(url))
    finally:
        agent.down()
    ref = statistics.median(results["docker run"])
    print(f"cold start to first 200, median of {args.runs} (same image, same machine):")
    print(f"  {'docker run (reference)':24} {ref * 1000:8.1f} ms")
    targets = {"paused": 0.1, "created": 0.8, "image only": 1.05}
    for tier, target in targets.items():
        m = statistics.median(results[tier])
        print(f"  {tier:24} {m * 1000:8.1f} ms   ratio {m / ref:.3f}  (target <= {target})")
    s, c = statistics.median(steady), statistics.median(claim)
    print(f"  warm claim {c:.2f} ms ÷ steady request {s:.2f} ms = {c / s:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
