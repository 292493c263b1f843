"""The agent's Docker driver: app instances as hardened containers on a private network.

`instance_spec` is a pure builder (unit-tested as data); `DockerDriver` is the I/O edge that
the pool calls. Containers are found again after an agent restart by their `plat.*` labels.
"""

from __future__ import annotations

import builtins
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import docker
from docker.models.containers import Container

from agent.images import auth_config
from plat_contract.images import parse_reference
from plat_contract.instance import DEFAULT_PIDS, hardening

log = logging.getLogger("plat.agent.driver")
MANAGED = "plat.managed"
ROLE_INSTANCE = "instance"
AGENT_LABEL = "plat.agent"
NETWORK_LABEL = "plat.network"


class PullFailed(Exception):
    """The engine could not pull an image; the message is the engine's (no credentials)."""


@dataclass(frozen=True)
class InstanceSpec:
    """What the pool asks for: one instance of one app version."""

    app: str
    version: str
    image: str
    port: int
    env: Mapping[str, str]
    tenant: str = "default"
    memory: str | None = None
    cpus: float | None = None
    pids: int = DEFAULT_PIDS


@dataclass(frozen=True)
class Instance:
    id: str
    name: str
    app: str
    version: str
    state: str
    """Docker's state: created, running, paused, exited, dead."""
    address: str | None
    """`ip:port` on the agent's network, when running or paused."""


def apps_network(base: str) -> str:
    """The bridge every instance runs on. Inter-container traffic is off on it (`enable_icc`
    false): no instance reaches another by its address, whoever's it is, while HAProxy and the
    agent, on the host's network, reach them all. One bridge, so any number of tenants fit in
    the engine's address pools (a bridge per tenant would run out at about thirty)."""
    return f"{base}-apps"


ISOLATED = {"com.docker.network.bridge.enable_icc": "false"}


def instance_spec(spec: InstanceSpec, network: str, extra_labels: Mapping[str, str] = {}) -> dict[str, Any]:
    """Keyword arguments for `containers.create`: hardened, unpublished, on the isolated bridge."""
    return {
        "image": spec.image,
        "name": f"plat-{spec.app}-{spec.version[:12]}-{secrets.token_hex(3)}",
        "environment": {**spec.env, "PORT": str(spec.port)},
        "labels": {
            MANAGED: "true", "plat.role": ROLE_INSTANCE, "plat.app": spec.app, "plat.version": spec.version,
            "plat.tenant": spec.tenant, "plat.port": str(spec.port), NETWORK_LABEL: network, **extra_labels,
        },
        "network": network,
        **hardening(spec.memory, spec.cpus, spec.pids),
        "restart_policy": {"Name": "no"},
    }


class DockerDriver:
    """Container operations for the pool. Every call is one Engine request or a short poll."""

    def __init__(self, client: docker.DockerClient, network: str, extra_labels: Mapping[str, str] = {},
                 agent_id: str = "default") -> None:
        self.client = client
        self.network = network
        self.extra_labels = {**extra_labels, AGENT_LABEL: agent_id}
        """Every instance carries its agent's id: two agents on one engine never adopt or
        remove each other's containers."""
        self.apps_network = apps_network(network)

    def ensure_network(self) -> None:
        """The instances' bridge, made isolated if it is not there (agents sharing an engine share it)."""
        found = [n for n in self.client.networks.list(names=[self.apps_network]) if n.name == self.apps_network]
        if found:
            if found[0].attrs.get("Options", {}).get("com.docker.network.bridge.enable_icc") != "false":
                log.warning("network %s lets its containers reach each other; remove it to have it made isolated",
                            self.apps_network)
            return
        try:
            self.client.networks.create(self.apps_network, driver="bridge", options=ISOLATED,
                                        labels={MANAGED: "true"}, check_duplicate=True)
        except docker.errors.APIError as exc:  # another agent on this engine made it first
            if exc.status_code != 409:
                raise

    def create(self, spec: InstanceSpec) -> Instance:
        container = self.client.containers.create(**instance_spec(spec, self.apps_network, self.extra_labels))
        return self._instance(container)

    def start(self, instance_id: str) -> Instance:
        container = self.client.containers.get(instance_id)
        container.start()
        return self._instance(container)

    def pause(self, instance_id: str) -> None:
        self.client.api.pause(instance_id)

    def unpause(self, instance_id: str) -> None:
        self.client.api.unpause(instance_id)

    def stop(self, instance_id: str, timeout: int = 10) -> None:
        self.client.api.stop(instance_id, timeout=timeout)

    def remove(self, instance_id: str) -> None:
        try:
            self.client.api.remove_container(instance_id, force=True)
        except docker.errors.NotFound:
            pass

    def inspect(self, instance_id: str) -> Instance | None:
        try:
            return self._instance(self.client.containers.get(instance_id))
        except docker.errors.NotFound:
            return None

    def list(self, app: str | None = None) -> list[Instance]:
        labels = [f"{MANAGED}=true", f"plat.role={ROLE_INSTANCE}", f"{AGENT_LABEL}={self.extra_labels[AGENT_LABEL]}"]
        if app:
            labels.append(f"plat.app={app}")
        return [self._instance(c) for c in self.client.containers.list(all=True, filters={"label": labels})]

    def ensure_image(self, image: str, auth: Mapping[str, str] | None = None, always: bool = False) -> bool:
        """Pull `image` unless it is present (`always`: pull anyway, e.g. a moved tag); whether it pulled.

        Streams the engine's progress so an error reported mid-pull is seen, not just the end."""
        if not always:
            try:
                self.client.images.get(image)
                return False
            except docker.errors.ImageNotFound:
                pass
        repository, tag = parse_reference(image).pull_args()
        try:
            for event in self.client.api.pull(repository, tag=tag, stream=True, decode=True,
                                              auth_config=auth_config(auth)):
                if isinstance(event, dict) and event.get("error"):
                    raise PullFailed(str(event["error"]))
        except docker.errors.APIError as exc:
            raise PullFailed(str(exc.explanation or exc)) from None
        return True

    def layer_diff_ids(self) -> builtins.list[builtins.list[str]]:  # `list` here is the method above
        out = []
        for image_id in self.client.api.images(quiet=True):
            try:
                out.append(list(self.client.api.inspect_image(image_id)["RootFS"].get("Layers") or []))
            except docker.errors.NotFound:
                continue  # removed while we looked
        return out

    def logs(self, instance_id: str, tail: int = 50, since: float | None = None) -> str:
        kw: dict[str, Any] = {"tail": tail}
        if since:
            kw["since"] = int(since)
        try:
            return self.client.api.logs(instance_id, **kw).decode(errors="replace")
        except docker.errors.APIError as exc:  # gone, or a value the engine refuses: no lines, and why
            log.info("logs of %s: %s", instance_id, exc)
            return ""

    def follow(self, instance_id: str, since: float | None = None) -> Iterator[bytes]:
        """The instance's log lines as they come; `close()` it to stop (it ends the engine's stream)."""
        kw: dict[str, Any] = {"stream": True, "follow": True, "timestamps": True}
        if since:
            kw["since"] = int(since)
        return self.client.api.logs(instance_id, **kw)

    def _instance(self, container: Container) -> Instance:
        container.reload()
        labels = container.labels
        port = labels.get("plat.port", "8080")
        net = container.attrs["NetworkSettings"]["Networks"].get(labels.get(NETWORK_LABEL, self.network)) or {}
        ip = net.get("IPAddress") or None
        return Instance(
            id=container.id, name=container.name, app=labels.get("plat.app", ""),
            version=labels.get("plat.version", ""), state=container.status,
            address=f"{ip}:{port}" if ip and container.status in ("running", "paused") else None,
        )


def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate()` until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
