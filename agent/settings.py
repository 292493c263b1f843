"""Agent settings, read once from an injected environment mapping (tests pass a dict).

Every value is checked here, at the edge: a bad one stops the agent at start with the
variable's name, its value and what was expected, instead of failing later mid-request.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from plat_contract.patterns import MAX_INSTANCES, MEMORY

T = TypeVar("T", int, float)
_HOST = re.compile(r"^[A-Za-z0-9.:-]+$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


FAULT_POINTS = ("after-pull", "after-warm", "after-switch")
"""Where a deploy can be cut short by PLAT_AGENT_FAULT: after the image is there, after the new
instances are healthy, after traffic moved to them but before the store records it."""


class ConfigError(ValueError):
    """A PLAT_AGENT_* variable with a value the agent cannot use."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    api_bind: str = "127.0.0.1"
    api_port: int = 7070
    gateway_bind: str = "127.0.0.1"
    gateway_port: int = 8080
    activator_port: int = 7071
    domain: str = "plat.localhost"
    network: str = "plat"
    haproxy: str = "haproxy"
    """The HAProxy binary (a name on PATH or a path)."""
    workers: int = 2
    """Async invocation workers."""
    max_attempts: int = 5
    keep_versions: int = 3
    """Retired versions kept for rollback."""
    max_body: int = 10 * 1024 * 1024
    """Bytes a request body may have on the control API and the activator."""
    request_timeout: float = 30.0
    start_timeout: float = 60.0
    """Seconds a new instance has to pass its health check before its start counts as failed."""
    tick: float = 1.0
    idle_timeout_override: float | None = None
    paused_ttl: float = 600.0
    """Seconds an idle instance stays paused before it is stopped."""
    stopped_ttl: float = 3600.0
    """Seconds a stopped (created) instance is kept before it is removed (image only)."""
    max_paused: int = 1
    max_stopped: int = 1
    max_instances: int = 64
    """The most instances a tenant's app may ask for on this host (`max_instances` above it is refused)."""
    default_memory: str = "512m"
    """Memory limit of an instance whose manifest sets none."""
    default_cpus: float = 1.0
    """CPU limit of an instance whose manifest sets none."""
    async_queue_max: int = 10_000
    """Async invocations an app may have queued or running; more get 429 with Retry-After."""
    async_retention: float = 7 * 86400.0
    """Seconds a finished (done, failed, dead) async invocation is kept for its status and result."""
    fault: str | None = None
    """Test-only: the named deploy step (FAULT_POINTS) at which the agent kills itself, as a
    `kill -9` would, to prove what a restart recovers. Never set it in production."""
    agent_id: str = "default"
    """Labels this agent's instances, so agents sharing an engine leave each other's alone."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    """PEM certificate (chain) and key: when both are set, the control API serves HTTPS only."""

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from `PLAT_AGENT_*` variables; unset (or empty) ones take the defaults."""

        def get(key: str, default: str) -> str:
            return env.get(key) or default

        def num(key: str, default: T, kind: Callable[[str], T], low: T, high: T | None = None) -> T:
            raw = env.get(key)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise ConfigError(f"{key}={raw!r}: expected {'an integer' if kind is int else 'a number'}") from None
            if value < low or (high is not None and value > high):
                bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
                raise ConfigError(f"{key}={raw!r}: expected a value {bounds}")
            return value

        def host(key: str) -> str:
            value = get(key, "127.0.0.1")
            if not _HOST.fullmatch(value):
                raise ConfigError(f"{key}={value!r}: expected an IP address or host name to bind")
            return value

        domain = get("PLAT_AGENT_DOMAIN", "plat.localhost").lower()
        if not _DOMAIN.fullmatch(domain):
            raise ConfigError(f"PLAT_AGENT_DOMAIN={domain!r}: expected a DNS name such as apps.example.com")
        idle = env.get("PLAT_AGENT_IDLE_TIMEOUT")
        api_bind = host("PLAT_AGENT_API_BIND")
        cert, key = _tls_files(env)
        if not is_loopback(api_bind) and cert is None:
            raise ConfigError(f"PLAT_AGENT_API_BIND={api_bind!r}: the control API on a public address needs TLS: "
                              "set PLAT_AGENT_TLS_CERT and PLAT_AGENT_TLS_KEY")
        return cls(
            state_dir=Path(get("PLAT_AGENT_STATE", "/var/lib/plat-agent")),
            api_bind=api_bind,
            api_port=num("PLAT_AGENT_API_PORT", 7070, int, 0, 65535),
            gateway_bind=host("PLAT_AGENT_GATEWAY_BIND"),
            gateway_port=num("PLAT_AGENT_GATEWAY_PORT", 8080, int, 0, 65535),
            activator_port=num("PLAT_AGENT_ACTIVATOR_PORT", 7071, int, 0, 65535),
            domain=domain,
            network=get("PLAT_AGENT_NETWORK", "plat"),
            haproxy=get("PLAT_AGENT_HAPROXY", "haproxy"),
            workers=num("PLAT_AGENT_WORKERS", 2, int, 1, 64),
            max_attempts=num("PLAT_AGENT_MAX_ATTEMPTS", 5, int, 1),
            keep_versions=num("PLAT_AGENT_KEEP_VERSIONS", 3, int, 0),
            max_body=num("PLAT_AGENT_MAX_BODY", 10 * 1024 * 1024, int, 0),
            request_timeout=num("PLAT_AGENT_REQUEST_TIMEOUT", 30.0, float, 0.001),
            start_timeout=num("PLAT_AGENT_START_TIMEOUT", 60.0, float, 1.0, 3600.0),
            tick=num("PLAT_AGENT_TICK", 1.0, float, 0.01),
            idle_timeout_override=num("PLAT_AGENT_IDLE_TIMEOUT", 0.0, float, 0.0) if idle else None,
            paused_ttl=num("PLAT_AGENT_PAUSED_TTL", 600.0, float, 0.0),
            stopped_ttl=num("PLAT_AGENT_STOPPED_TTL", 3600.0, float, 0.0),
            max_paused=num("PLAT_AGENT_MAX_PAUSED", 1, int, 0),
            max_stopped=num("PLAT_AGENT_MAX_STOPPED", 1, int, 0),
            max_instances=num("PLAT_AGENT_MAX_INSTANCES", 64, int, 1, MAX_INSTANCES),
            default_memory=_memory(get("PLAT_AGENT_DEFAULT_MEMORY", "512m")),
            default_cpus=num("PLAT_AGENT_DEFAULT_CPUS", 1.0, float, 0.01, 1024.0),
            async_queue_max=num("PLAT_AGENT_ASYNC_QUEUE_MAX", 10_000, int, 1),
            async_retention=num("PLAT_AGENT_ASYNC_RETENTION", 7 * 86400.0, float, 1.0),
            fault=_fault(env.get("PLAT_AGENT_FAULT") or None),
            agent_id=get("PLAT_AGENT_ID", "default"),
            tls_cert=cert,
            tls_key=key,
        )


def _fault(value: str | None) -> str | None:
    if value is not None and value not in FAULT_POINTS:
        raise ConfigError(f"PLAT_AGENT_FAULT={value!r}: expected one of {', '.join(FAULT_POINTS)}")
    return value


def _memory(value: str) -> str:
    if not MEMORY.fullmatch(value):
        raise ConfigError(f"PLAT_AGENT_DEFAULT_MEMORY={value!r}: expected a size like 256m or 1g")
    return value


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a socket on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def _tls_files(env: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    """PLAT_AGENT_TLS_CERT and PLAT_AGENT_TLS_KEY: both (existing files) or neither."""
    cert, key = env.get("PLAT_AGENT_TLS_CERT") or None, env.get("PLAT_AGENT_TLS_KEY") or None
    if (cert is None) != (key is None):
        missing = "PLAT_AGENT_TLS_KEY" if key is None else "PLAT_AGENT_TLS_CERT"
        raise ConfigError(f"{missing} is not set: TLS needs both PLAT_AGENT_TLS_CERT and PLAT_AGENT_TLS_KEY")
    if cert is None or key is None:
        return None, None
    for name, value in (("PLAT_AGENT_TLS_CERT", cert), ("PLAT_AGENT_TLS_KEY", key)):
        if not Path(value).is_file():
            raise ConfigError(f"{name}={value!r}: no such file (expected a PEM file)")
    return Path(cert), Path(key)
