"""Agent settings, read once from an injected environment mapping (tests pass a dict)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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
    workers: int = 2
    max_attempts: int = 5
    keep_versions: int = 3
    max_body: int = 10 * 1024 * 1024
    request_timeout: float = 30.0
    tick: float = 1.0
    idle_timeout_override: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def num(key: str, default: float) -> float:
            return float(env.get(key, default))

        idle = env.get("PLAT_AGENT_IDLE_TIMEOUT")
        return cls(
            state_dir=Path(env.get("PLAT_AGENT_STATE", "/var/lib/plat-agent")),
            api_bind=env.get("PLAT_AGENT_API_BIND", "127.0.0.1"),
            api_port=int(num("PLAT_AGENT_API_PORT", 7070)),
            gateway_bind=env.get("PLAT_AGENT_GATEWAY_BIND", "127.0.0.1"),
            gateway_port=int(num("PLAT_AGENT_GATEWAY_PORT", 8080)),
            activator_port=int(num("PLAT_AGENT_ACTIVATOR_PORT", 7071)),
            domain=env.get("PLAT_AGENT_DOMAIN", "plat.localhost"),
            network=env.get("PLAT_AGENT_NETWORK", "plat"),
            haproxy=env.get("PLAT_AGENT_HAPROXY", "haproxy"),
            workers=int(num("PLAT_AGENT_WORKERS", 2)),
            max_attempts=int(num("PLAT_AGENT_MAX_ATTEMPTS", 5)),
            keep_versions=int(num("PLAT_AGENT_KEEP_VERSIONS", 3)),
            max_body=int(num("PLAT_AGENT_MAX_BODY", 10 * 1024 * 1024)),
            request_timeout=num("PLAT_AGENT_REQUEST_TIMEOUT", 30.0),
            tick=num("PLAT_AGENT_TICK", 1.0),
            idle_timeout_override=float(idle) if idle else None,
        )
