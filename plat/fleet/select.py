"""Which hosts a command works on: plat.yaml's hosts or an environment's, filtered. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from plat.config import Deploy, Host, Manifest
from plat.errors import PlatError


@dataclass(frozen=True)
class Fleet:
    hosts: tuple[Host, ...]
    registry: str | None
    deploy: Deploy
    environment: str | None = None

    @property
    def names(self) -> list[str]:
        return [h.host for h in self.hosts]


def _as_host(entry: str | Host) -> Host:
    return entry if isinstance(entry, Host) else Host(host=entry)


def fleet_of(manifest: Manifest, environment: str | None = None, only_hosts: list[str] | None = None,
             labels: list[str] | None = None) -> Fleet:
    """The hosts for this command; empty means the local agent."""
    manifest = manifest.for_environment(environment)
    entries, registry, deploy = manifest.hosts, manifest.registry, manifest.deploy
    hosts = [_as_host(e) for e in entries]
    seen: set[str] = set()
    for h in hosts:
        if h.host in seen:
            raise PlatError(f"plat.yaml: host {h.host!r} is listed twice")
        seen.add(h.host)
    if only_hosts:
        unknown = [h for h in only_hosts if h not in seen]
        if unknown:
            raise PlatError(f"--host {unknown[0]}: not one of this app's hosts ({', '.join(seen) or 'none'})")
        hosts = [h for h in hosts if h.host in only_hosts]
    for sel in labels or []:
        key, sep, value = sel.partition("=")
        if not sep:
            raise PlatError(f"--label {sel!r}: expected key=value")
        hosts = [h for h in hosts if h.labels.get(key) == value]
        if not hosts:
            raise PlatError(f"--label {sel}: no host carries this label")
    return Fleet(tuple(hosts), registry, deploy, environment)


def batches(names: list[str], batch: int | str | None) -> list[list[str]]:
    """Split hosts into switch batches: all at once, N at a time, or a percentage (rounded up)."""
    if not names:
        return []
    if batch is None:
        size = len(names)
    elif isinstance(batch, str):
        size = max(1, math.ceil(len(names) * int(batch.rstrip("%")) / 100))
    else:
        size = batch
    return [names[i:i + size] for i in range(0, len(names), size)]


def check_delivery(fleet: Fleet) -> None:
    """Hosts reached over transport http can only pull, so such a fleet needs a registry; said
    before anything is built."""
    http = [h.host for h in fleet.hosts if h.transport == "http"]
    if http and not fleet.registry:
        raise PlatError(f"{http[0]}: transport http needs `registry:` in plat.yaml "
                        "(its agent pulls the image: without SSH plat cannot send it layers)",
                        "set `registry:` (top level or the environment's); "
                        "PLAT_REGISTRY_USERNAME/PLAT_REGISTRY_PASSWORD when it needs a login")
