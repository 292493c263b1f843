"""The one place that imports the docker SDK and opens an Engine connection.

Every other module takes `docker` from here. The SDK imports paramiko (about 0.2 s, a third
of a short command's run time) only to support `ssh://` engines; unless DOCKER_HOST is one,
plat imports the SDK without it. plat's own SSH transport imports paramiko when it needs it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docker import DockerClient


def _import_sdk():
    if "docker" in sys.modules or os.environ.get("DOCKER_HOST", "").startswith("ssh://") or "paramiko" in sys.modules:
        import docker as sdk

        return sdk
    sys.modules["paramiko"] = None  # type: ignore[assignment]  # makes the SDK skip its ssh:// adapter
    try:
        import docker as sdk
    finally:
        del sys.modules["paramiko"]
    return sdk


docker = _import_sdk()

from docker.errors import DockerException  # noqa: E402

from plat.errors import PlatError  # noqa: E402


def connect(timeout: int = 120) -> DockerClient:
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
