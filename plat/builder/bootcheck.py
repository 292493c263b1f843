"""Boot check: start a built image the way the agent will, and probe it before any host sees it.

The container gets the agent's hardening (plat_contract.instance: read-only root, no
capabilities, limits, init), `PORT`, and the app's non-secret env; its port is published on
127.0.0.1 only. The probe sends the instance's own address as `Host`, as the agent's does, so
a framework's host check (Django's ALLOWED_HOSTS) fails here rather than on a host.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from plat.app import AppSpec, agent_manifest
from plat.docker_client import docker, extra_labels
from plat.errors import PlatError
from plat_contract.instance import DEFAULT_CPUS, DEFAULT_MEMORY, hardening
from plat_contract.manifest import RunManifest

HEALTHY = range(200, 400)
DEFAULT_TIMEOUT = 30.0
LOG_LINES = 20


@dataclass(frozen=True)
class BootResult:
    ok: bool
    seconds: float
    status: int | None
    """The last status the health path answered, or None when nothing answered."""
    exited: int | None
    """The container's exit code when it stopped by itself, else None."""
    logs: str


def boot_kwargs(image: str, port: int, env: Mapping[str, str], memory: str | None, cpus: float | None
                ) -> dict[str, Any]:
    """`containers.run` arguments: the agent's hardening, published on 127.0.0.1 only (pure)."""
    return {
        "image": image,
        "environment": {**env, "PORT": str(port)},
        "ports": {f"{port}/tcp": ("127.0.0.1", None)},
        "labels": {"plat.managed": "true", "plat.role": "boot-check", **extra_labels()},
        "detach": True,
        **hardening(memory or DEFAULT_MEMORY, cpus or DEFAULT_CPUS),
    }


def _probe(port: int, host: str, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host, "User-Agent": "plat-boot-check"})
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _published_port(container: Any, port: int) -> int | None:
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp") or []
    return int(bindings[0]["HostPort"]) if bindings else None


def _address(container: Any) -> str:
    networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    return next((n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "127.0.0.1")


def boot_check(client: docker.DockerClient, image: str, *, port: int, health: str, env: Mapping[str, str],
               memory: str | None = None, cpus: float | None = None, timeout: float = DEFAULT_TIMEOUT,
               clock: Callable[[], float] = time.monotonic) -> BootResult:
    """Run `image` until its health path answers 2xx/3xx, it exits, or `timeout` passes; then remove it."""
    start = clock()
    container = client.containers.run(**boot_kwargs(image, port, env, memory, cpus))
    status: int | None = None
    exited: int | None = None
    try:
        while clock() - start < timeout:
            container.reload()
            if container.status in ("exited", "dead"):
                exited = int(container.attrs.get("State", {}).get("ExitCode", 1))
                break
            published = _published_port(container, port)
            if published:
                status = _probe(published, f"{_address(container)}:{port}", health)
                if status in HEALTHY:
                    return BootResult(True, clock() - start, status, None, "")
            time.sleep(0.05)
        logs = container.logs(tail=LOG_LINES).decode("utf-8", "replace")
        return BootResult(False, clock() - start, status, exited, logs)
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError:
            pass


def started_with(app: AppSpec) -> str:
    """What the image starts, in words, for a failure message."""
    if app.user_dockerfile:
        return f"the image's own command ({app.user_dockerfile})"
    if app.procfile:
        return f"Procfile web: {app.procfile}"
    if app.entry:
        return f"{app.entry.target} ({app.entry.why})"
    return f"the {app.runtime.name if app.runtime else ''} runtime's launcher"


def require_boot(client: docker.DockerClient, app: AppSpec, image: str,
                 env: Mapping[str, str] | None = None) -> BootResult:
    """`boot_check` of a built image, or a PlatError with what it started and its last log lines."""
    run = RunManifest.model_validate(agent_manifest(app))
    cpus = float(run.resources.cpus) if run.resources.cpus else None
    result = boot_check(client, image, port=app.port, health=app.health, env=dict(run.env) if env is None else env,
                        memory=run.resources.memory, cpus=cpus)
    if result.ok:
        return result
    if result.exited is not None:
        what = f"exited with code {result.exited} after {result.seconds:.1f}s"
    elif result.status is not None:
        what = f"answered {app.health} with {result.status} for {result.seconds:.0f}s"
    else:
        what = f"did not answer on port {app.port} within {result.seconds:.0f}s"
    tail = "\n".join("  | " + line for line in result.logs.rstrip().splitlines()[-LOG_LINES:])
    raise PlatError(
        f"{app.name}: the image {what} (started {started_with(app)}, run as the agent runs it: read-only, "
        f"no capabilities, PORT={app.port}){chr(10) + tail if tail else ''}",
        "fix the app (or `health:` in plat.yaml) and build again; if it needs its secrets to start, "
        "skip this check with --no-check")
