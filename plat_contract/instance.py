"""How an app instance runs: the hardening every instance gets, wherever it is started.

The agent starts instances with it, and `plat build`'s boot check starts the image the same
way, so an image that cannot run read-only, without capabilities, within its limits, fails on
the developer's machine instead of on a host.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MEMORY = "512m"
DEFAULT_CPUS = 1.0
DEFAULT_PIDS = 256
TMPFS = {"/tmp": "rw,nosuid,nodev,size=64m"}


def hardening(memory: str | None, cpus: float | None, pids: int = DEFAULT_PIDS) -> dict[str, Any]:
    """Keyword arguments for the Docker SDK's `containers.create`/`run`."""
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": dict(TMPFS),
        "pids_limit": pids,
        "mem_limit": memory,
        "nano_cpus": int(cpus * 1e9) if cpus else None,
        "init": True,
    }
