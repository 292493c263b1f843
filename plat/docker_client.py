"""The one place that opens a Docker Engine connection."""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException

from plat.errors import PlatError


def connect(timeout: int = 120) -> docker.DockerClient:
    """A client for the engine in DOCKER_HOST (default: the local socket), or a clear error."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except DockerException as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise PlatError(
            f"no Docker engine answers at {where} ({type(exc).__name__})",
            "start one (`sudo scripts/engine`, `sudo systemctl start docker`) or set DOCKER_HOST",
        ) from exc


def extra_labels(env: dict[str, str] | None = None) -> dict[str, str]:
    """Labels from PLAT_LABELS="k=v,k2=v2", added to everything plat creates (tests use it)."""
    raw = (os.environ if env is None else env).get("PLAT_LABELS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {k.strip(): v.strip() for k, v in pairs if k.strip()}
