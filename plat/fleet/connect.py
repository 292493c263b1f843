"""One live connection per host, and what rides on it: the agent API, the gateway, the engine.

Over SSH (the default) the agent's API and gateway stay on the host's 127.0.0.1 and every HTTP
connection is a direct-tcpip channel; the admin token is read from the agent's state on the
host and never leaves memory. With `transport: http` the agent's HTTPS API is used with a token
from the environment, and certificates are verified.
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import Any

import httpx

from plat.agent_client import AgentClient
from plat.config import AgentSettings, Host
from plat.errors import PlatError
from plat.hostagent.install import API_PORT, CONTAINER, STATE_DIR
from plat.parallel import each


def actor() -> str:
    """Who is acting, for locks and audit logs: user@machine."""
    try:
        user = getpass.getuser()
    except OSError:
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class HostConnection:
    """A host reached over SSH (`ssh` set) or over its agent's HTTPS API."""

    def __init__(self, host: Host, settings: AgentSettings, ssh: Any = None) -> None:
        self.host = host
        self.settings = settings
        self.ssh = ssh
        self._docker: Any = None
        self._agent: AgentClient | None = None

    @property
    def name(self) -> str:
        return self.host.host

    @property
    def docker(self) -> Any:
        """The host's Docker engine (SSH transport only)."""
        if self.ssh is None:
            raise PlatError(f"{self.name}: transport http has no access to the host's Docker engine",
                            "set `registry:` so hosts pull images, or use the ssh transport")
        if self._docker is None:
            from plat.docker_client import docker
            from plat.remote.docker_ssh import docker_over_ssh

            try:
                self._docker = docker_over_ssh(self.ssh)
            except (docker.errors.DockerException, OSError) as exc:
                raise PlatError(f"{self.name}: cannot reach the Docker engine over SSH ({exc})",
                                f"is Docker installed and may {self.host.host}'s SSH user use it? "
                                f"`plat hosts bootstrap {self.name}` checks") from None
        return self._docker

    def _token(self) -> str:
        if self.host.transport == "http":
            var = self.host.token_env
            token = os.environ.get(var or "")
            if not token:
                raise PlatError(f"{self.name}: no agent token: set the environment variable {var or '(token_env)'}",
                                "transport http needs `token_env:` naming a variable that holds the agent's token")
            return token
        from plat.docker_client import docker

        try:
            container = self.docker.containers.get(CONTAINER)
        except docker.errors.NotFound:
            return self._token_from_file()
        if container.status != "running":
            raise PlatError(f"{self.name}: the plat agent is {container.status}",
                            f"run `plat hosts bootstrap {self.name}` to start it")
        code, output = container.exec_run(["cat", f"{STATE_DIR}/admin-token"], demux=False)
        if code != 0:
            raise PlatError(f"{self.name}: cannot read the agent's admin token (agent still starting?)")
        return output.decode().strip()

    def _token_from_file(self) -> str:
        """An agent run as a host process (systemd, Ansible) keeps its token in its state dir."""
        from plat.remote.ssh import run

        code, output = run(self.ssh, f"sudo -n cat {STATE_DIR}/admin-token 2>/dev/null || cat {STATE_DIR}/admin-token")
        if code != 0:
            raise PlatError(f"{self.name}: no plat agent is installed",
                            f"run `plat hosts bootstrap {self.name}`")
        return output.strip()

    @property
    def managed_elsewhere(self) -> bool:
        """Whether the host's agent is a host process (systemd) rather than plat's container."""
        from plat.docker_client import docker

        try:
            self.docker.containers.get(CONTAINER)
            return False
        except docker.errors.NotFound:
            try:
                self._token_from_file()
                return True
            except PlatError:
                return False

    def forget_agent(self) -> None:
        """Drop the cached client, so the next call reads the token again (a new agent writes one)."""
        self._agent = None

    def agent(self) -> AgentClient:
        if self._agent is None:
            token = self._token()
            if self.host.transport == "http":
                verify: Any = self.host.ca or True
                self._agent = AgentClient(self.host.url or "", token, where=self.name, actor=actor(), verify=verify)
            else:
                from plat.remote.tunnel import SSHTransport

                self._agent = AgentClient(f"http://127.0.0.1:{API_PORT}", token, where=self.name,
                                          transport=SSHTransport(self.ssh.get_transport()), actor=actor())
        return self._agent

    def gateway(self, timeout: float = 60.0) -> httpx.Client:
        """An HTTP client of the host's gateway (through the tunnel over SSH)."""
        if self.ssh is None:
            if not self.host.gateway:
                raise PlatError(f"{self.name}: set `gateway:` for this host to invoke apps over transport http")
            return httpx.Client(base_url=self.host.gateway, timeout=timeout)
        from plat.remote.tunnel import SSHTransport

        return httpx.Client(base_url=f"http://127.0.0.1:{self.settings.gateway_port}", timeout=timeout,
                            transport=SSHTransport(self.ssh.get_transport()))

    @property
    def public_url(self) -> str:
        if self.host.gateway:
            return self.host.gateway.rstrip("/")
        from plat.remote.ssh import parse_address

        port = self.settings.gateway_port
        return f"http://{parse_address(self.name).host}{'' if port == 80 else f':{port}'}"

    def close(self) -> None:
        if self.ssh is not None:
            jump = getattr(self.ssh, "_plat_jump", None)
            self.ssh.close()
            if jump is not None:
                jump.close()


def connect_host(host: Host, settings: AgentSettings) -> HostConnection:
    if host.transport == "http":
        if not host.url:
            raise PlatError(f"{host.host}: transport http needs `url:` (the agent's https:// API)")
        if host.ca and not os.path.isfile(host.ca):
            raise PlatError(f"{host.host}: ca: {host.ca} is not a file",
                            "point `ca:` at the PEM bundle that signed the agent's certificate (relative to plat.yaml)")
        return HostConnection(host, settings)
    from plat.remote.ssh import connect, load_ssh_config, parse_address, resolve

    config = load_ssh_config()
    params = resolve(parse_address(host.host), config)
    return HostConnection(host, settings, connect(params, config))


def open_all(hosts: list[Host], settings: AgentSettings, parallel: int = 8) -> dict[str, HostConnection]:
    """Connect to every host, or to none: one unreachable host stops the command before it acts."""
    results = each(hosts, lambda h: connect_host(h, settings), parallel)
    failed = [err for _, _, err in results if err]
    conns = {h.host: c for h, c, err in results if err is None}
    if failed:
        for c in conns.values():
            c.close()
        if len(failed) == 1:
            raise failed[0]
        raise PlatError("\n".join(e.message for e in failed), failed[0].hint)
    return conns
