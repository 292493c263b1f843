"""Registry credentials, for every path that pushes or pulls (builds, fleet deploys, flows):
read from PLAT_REGISTRY_USERNAME / PLAT_REGISTRY_PASSWORD, never from argv or plat.yaml."""

from __future__ import annotations

import os
from collections.abc import Mapping


def registry_auth(env: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """`{"username", "password"}` when both are set, else None (an open registry)."""
    env = os.environ if env is None else env
    user, password = env.get("PLAT_REGISTRY_USERNAME"), env.get("PLAT_REGISTRY_PASSWORD")
    return {"username": user, "password": password} if user and password else None
