"""The patterns and bounds every value crossing the plat↔agent edge is held to."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# An image reference: [registry[:port]/]path[:tag][@sha256:digest], or a bare image ID.
IMAGE_REF = re.compile(
    r"^(?:sha256:[0-9a-f]{64}|"
    r"(?:[A-Za-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?)$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# A URL path for health checks: printable ASCII, no spaces, no '#'.
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/%?-]{0,255}$")
MEMORY = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,3})?[kmgKMG]?[bB]?$")
DURATION = re.compile(r"^([0-9]{1,9})(ms|s|m|h)?$")

MAX_INSTANCES = 1000
"""The most instances any app may ask for on one host (an agent may cap tenants lower)."""
MAX_CONCURRENCY = 10_000
MAX_ENV = 500
MAX_ENV_VALUE = 32 * 1024

AppName = Annotated[str, StringConstraints(pattern=DNS_LABEL.pattern)]
Version = Annotated[str, StringConstraints(pattern=VERSION.pattern)]
TenantName = Annotated[str, StringConstraints(pattern=TENANT.pattern)]
EnvKey = Annotated[str, StringConstraints(pattern=ENV_KEY.pattern)]
EnvValue = Annotated[str, StringConstraints(max_length=MAX_ENV_VALUE, pattern=r"^[^\x00]*$")]
ImageRef = Annotated[str, StringConstraints(max_length=512, pattern=IMAGE_REF.pattern)]
Digest = Annotated[str, StringConstraints(pattern=DIGEST.pattern)]
HealthPath = Annotated[str, StringConstraints(pattern=HEALTH_PATH.pattern)]
Port = Annotated[int, Field(ge=1, le=65535)]


MAX_IDLE = 30 * 86400
"""The longest idle timeout an app may ask for (30 days)."""


def parse_duration(value: str | int, most: float | None = None) -> float:
    """Seconds from `30`, `30s`, `250ms`, `5m` or `1h` (at most `most`); ValueError for anything else."""
    seconds = _seconds(value)
    if most is not None and seconds > most:
        raise ValueError(f"at most {int(most)} seconds ({int(most) // 86400} days)" if most >= 86400
                         else f"at most {most:g} seconds")
    return seconds


def _seconds(value: str | int) -> float:
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration like 30s, 5m, 1h")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration is zero or more seconds")
        return float(value)
    m = DURATION.fullmatch(value)
    if not m:
        raise ValueError("expected seconds or a duration like 30s, 5m, 1h")  # never the value: it may be hostile
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
