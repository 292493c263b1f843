"""Where commands send their work: the hosts plat.yaml names, or else the local agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from plat.agent_client import AgentClient
from plat.config import AgentSettings, Manifest, load_manifest
from plat.errors import PlatError
from plat.fleet.select import Fleet, fleet_of

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    name: str
    client: AgentClient
    gateway_url: str

    def agent(self) -> AgentClient:
        """As a host's connection offers it (the deploy lock takes either)."""
        return self.client


def local(start: bool = False) -> Target:
    """The local agent; with `start`, brought up (image built) if it is not running."""
    from plat.hostagent import local as local_agent

    if start:
        from plat.docker_client import connect

        info = local_agent.up(connect())
    else:
        info = local_agent.connect_info()
    from plat.fleet.connect import actor

    return Target("local", AgentClient(info.api_url, info.token, actor=actor()), info.gateway_url)


@dataclass(frozen=True)
class Scope:
    """What a command acts on: a fleet of hosts, or (fleet None) the local agent."""

    manifest: Manifest | None
    fleet: Fleet | None

    @property
    def settings(self) -> AgentSettings:
        return self.manifest.agent if self.manifest else AgentSettings()


def scope(app_dir: str = ".", environment: str | None = None, hosts: list[str] | None = None,
          labels: list[str] | None = None) -> Scope:
    manifest = load_manifest(Path(app_dir))
    if manifest is None:
        if environment or hosts or labels:
            raise PlatError(f"{Path(app_dir).resolve() / 'plat.yaml'}: not found, so no hosts are known",
                            "run the command in the app's folder, or pass --app-dir")
        return Scope(None, None)
    fleet = fleet_of(manifest, environment, hosts, labels)
    return Scope(manifest, fleet if fleet.hosts else None)


@contextmanager
def connected(fleet: Fleet, settings: AgentSettings) -> Iterator[dict]:
    """Open every host of the fleet (all or none) and close them afterwards."""
    from plat.fleet.connect import open_all

    conns = open_all(list(fleet.hosts), settings, fleet.deploy.parallel)
    try:
        yield conns
    finally:
        for c in conns.values():
            c.close()


def each_agent(sc: Scope, fn: Callable[[AgentClient], T]) -> list[tuple[str, T | None, PlatError | None]]:
    """Run `fn` against every agent in scope: (host, result, error) per host, in host order."""
    if sc.fleet is None:
        return [("local", fn(local().client), None)]
    from plat.parallel import each

    with connected(sc.fleet, sc.settings) as conns:
        return [(c.name, r, e) for c, r, e in each(sorted(conns.values(), key=lambda c: c.name),
                                                   lambda c: fn(c.agent()), sc.fleet.deploy.parallel)]


def raise_failures(results: Sequence[tuple[str, object, PlatError | None]]) -> None:
    """One error naming every host that failed (after the others' results were shown)."""
    failed = [(h, e) for h, _, e in results if e is not None]
    if failed:
        raise PlatError("\n".join(e.message if e.message.startswith(h) else f"{h}: {e.message}" for h, e in failed),
                        failed[0][1].hint)


@contextmanager
def gateways(sc: Scope, timeout: float) -> Iterator[list[tuple[str, object]]]:
    """(host, httpx client of its gateway) for every host in scope; the local gateway otherwise."""
    import httpx

    if sc.fleet is None:
        with httpx.Client(base_url=local().gateway_url, timeout=timeout) as http:
            yield [("local", http)]
        return
    with connected(sc.fleet, sc.settings) as conns:
        yield [(name, conns[name].gateway(timeout)) for name in sorted(conns)]
