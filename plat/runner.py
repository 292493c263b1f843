"""Run a built image locally: a hardened container on 127.0.0.1, polled until healthy."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import httpx

from plat.app import AppSpec
from plat.docker_client import docker, extra_labels
from plat.errors import PlatError

HEALTHY = range(200, 400)


def _nano_cpus(cpus: float | int | None) -> int | None:
    return int(cpus * 1e9) if cpus else None


def container_spec(app: AppSpec, image: str, *, host_port: int | None = None, role: str = "run",
                   env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `containers.run`: hardened, published on 127.0.0.1 only."""
    labels = {"plat.managed": "true", "plat.app": app.name, "plat.role": role, **extra_labels()}
    res = app.manifest.resources
    return {
        "image": image,
        "name": f"plat-{role}-{app.name}-{secrets.token_hex(3)}",
        "detach": True,
        "environment": {**app.manifest.env, **(env or {}), "PORT": str(app.port)},
        "ports": {f"{app.port}/tcp": ("127.0.0.1", host_port)},
        "labels": labels,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},
        "pids_limit": 256,
        "mem_limit": res.memory,
        "nano_cpus": _nano_cpus(res.cpus),
        "init": True,
    }


def published_port(container: docker.models.containers.Container, port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    if not bindings:
        raise PlatError(f"container {container.name} has no published port for {port}")
    return int(bindings[0]["HostPort"])


def log_tail(container: docker.models.containers.Container, lines: int = 20) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip()
    except docker.errors.APIError:
        return ""


def wait_healthy(container: docker.models.containers.Container, url: str, timeout: float = 60.0) -> float:
    """Poll `url` until it answers 2xx/3xx; fail fast if the container exits. Returns seconds."""
    start = time.monotonic()
    deadline = start + timeout
    with httpx.Client(timeout=2.0) as http:
        while time.monotonic() < deadline:
            try:
                if http.get(url).status_code in HEALTHY:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            container.reload()
            if container.status in ("exited", "dead"):
                code = container.attrs["State"].get("ExitCode")
                raise PlatError(f"the app exited (code {code}) before answering {url}:\n{_indent(log_tail(container))}")
            time.sleep(0.05)
    raise PlatError(f"the app did not answer {url} with 2xx/3xx within {timeout:.0f}s:\n{_indent(log_tail(container))}",
                    "check `health:` and `port:` in plat.yaml (the app must listen on $PORT)")


def _indent(text: str) -> str:
    return "\n".join(f"  | {line}" for line in text.splitlines()) or "  | (no output)"


def start(client: docker.DockerClient, spec: Mapping[str, Any]) -> docker.models.containers.Container:
    try:
        return client.containers.run(**spec)
    except docker.errors.APIError as exc:
        raise PlatError(f"could not start {spec['image']}: {exc.explanation or exc}") from exc


def remove(container: docker.models.containers.Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
