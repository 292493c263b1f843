"""Get a host ready: Docker present, the agent image delivered, the agent running and answering.

Idempotent: a host already running this exact agent setup is left alone and reports no change.
The agent runs as a container with restart policy `unless-stopped` (dockerd supervises it);
`infra/` has a systemd unit and an Ansible role for those who prefer to manage it themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plat import __version__
from plat.config import AgentSettings
from plat.errors import PlatError
from plat.fleet.connect import HostConnection
from plat.hostagent.install import API_PORT, CONTAINER, NETWORK, STATE_DIR

INSTALL_DOCKER = ("set -e; if [ \"$(id -u)\" = 0 ]; then SUDO=; else SUDO='sudo -n'; fi; "
                  ". /etc/os-release; case \"$ID $ID_LIKE\" in *debian*|*ubuntu*) ;; "
                  "*) echo \"unsupported OS: $ID (plat installs Docker on Debian/Ubuntu only)\"; exit 3;; esac; "
                  "$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq; "
                  "$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io; "
                  "$SUDO systemctl enable --now docker 2>/dev/null || $SUDO service docker start")
"""Shell run on the host by `--install-docker` (Debian's own docker.io package)."""


@dataclass
class Bootstrap:
    host: str
    docker_version: str = ""
    agent_version: str = ""
    changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "docker": self.docker_version, "agent": self.agent_version,
                "changed": self.changed}


def remote_agent_env(settings: AgentSettings) -> dict[str, str]:
    """The agent's settings on a host: API on loopback only, gateway on every interface.

    Nothing here depends on how the host was named (an alias, an address, a jump), so reaching
    one host by two names never makes plat think its agent needs replacing.
    """
    env = {"PLAT_AGENT_NETWORK": NETWORK, "PLAT_AGENT_API_BIND": "127.0.0.1",
           "PLAT_AGENT_API_PORT": str(API_PORT), "PLAT_AGENT_GATEWAY_BIND": "0.0.0.0",
           "PLAT_AGENT_GATEWAY_PORT": str(settings.gateway_port), "PLAT_AGENT_ACTIVATOR_PORT": str(API_PORT + 1),
           "PLAT_AGENT_ID": "host"}
    if settings.domain:
        env["PLAT_AGENT_DOMAIN"] = settings.domain
    return env


def ensure_docker(conn: HostConnection, install: bool) -> str:
    """The host engine's version; installs Docker first when asked and it is missing."""
    from plat.remote.ssh import run

    code, _ = run(conn.ssh, "command -v docker >/dev/null")
    if code != 0:
        if not install:
            raise PlatError(f"{conn.name}: Docker is not installed",
                            f"install it, or run `plat hosts bootstrap {conn.name} --install-docker` (Debian/Ubuntu)")
        code, output = run(conn.ssh, INSTALL_DOCKER, timeout=900)
        if code != 0:
            tail = output.strip().splitlines()[-1:] or ["(no output)"]
            raise PlatError(f"{conn.name}: installing Docker failed: {tail[0]}",
                            "install Docker by hand (https://docs.docker.com/engine/install/) and rerun")
    try:
        return str(conn.docker.version().get("Version", "?"))
    except PlatError:
        raise
    except Exception as exc:  # noqa: BLE001 - the engine refused us: daemon down, socket permissions
        raise PlatError(f"{conn.name}: the Docker engine does not answer ({exc})",
                        "is dockerd running, and is the SSH user in the `docker` group?") from None


def wait_agent(conn: HostConnection, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.forget_agent()
            return conn.agent().health()
        except PlatError as exc:
            if time.monotonic() > deadline:
                raise PlatError(f"{conn.name}: the agent did not come up within {timeout:g}s ({exc.message})",
                                f"see its log on the host: `docker logs {CONTAINER}`") from None
            time.sleep(0.3)


def check_version(conn: HostConnection, health: dict[str, Any], upgrade: str | None = None) -> None:
    """An agent of another version is named with how to upgrade it (`upgrade`, when plat cannot)."""
    if health.get("version") != __version__:
        raise PlatError(f"{conn.name}: agent {health.get('version')} differs from this CLI ({__version__})",
                        upgrade or f"upgrade it with `plat hosts bootstrap {conn.name}`")


def bootstrap(conn: HostConnection, agent_image: Any, install_docker: bool = False,
              on_progress: Callable[[int, int], None] = lambda sent, total: None) -> Bootstrap:
    """Docker checked, agent image delivered, agent (re)started only if its setup changed.

    `agent_image` is a delivery.SavedImage of the local agent image, shared by every host.
    """
    from plat.docker_client import docker
    from plat.hostagent.install import SETUP_LABEL, container_spec
    from plat.remote.delivery import deliver

    report = Bootstrap(conn.name)
    if conn.host.transport == "http":
        health = conn.agent().health()
        report.agent_version = health.get("version", "?")
        check_version(conn, health, "plat reaches it over HTTPS only: upgrade it where it was installed "
                                    "(infra/ansible: rerun the playbook from this plat's checkout)")
        return report
    report.docker_version = ensure_docker(conn, install_docker)
    if conn.managed_elsewhere:  # installed by Ansible/systemd: plat leaves it to that tool
        health = wait_agent(conn, timeout=10)
        report.agent_version = health.get("version", "?")
        check_version(conn, health, "it runs as a host service, installed outside plat: upgrade it there "
                                    "(infra/ansible: rerun the playbook from this plat's checkout)")
        return report
    sent = deliver(agent_image, conn.docker, conn.name, on_progress)
    if sent.layers_sent:
        report.changed.append(f"agent image ({sent.layers_sent} layers, {sent.bytes_sent / 1e6:.1f} MB)")
    spec = container_spec(agent_image.ref, remote_agent_env(conn.settings), STATE_DIR)
    try:
        current = conn.docker.containers.get(CONTAINER)
    except docker.errors.NotFound:
        current = None
    if current is None or current.labels.get(SETUP_LABEL) != spec["labels"][SETUP_LABEL]:
        if current is not None:
            current.remove(force=True)  # app containers stay; the new agent re-adopts them
        conn.docker.containers.run(**spec)
        report.changed.append("agent started" if current is None else "agent upgraded")
    elif current.status != "running":
        current.start()
        report.changed.append("agent restarted")
    health = wait_agent(conn)
    report.agent_version = health.get("version", "?")
    check_version(conn, health)
    return report
