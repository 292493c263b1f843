"""The Docker SDK against a host's engine, over our already-verified SSH connection.

Each HTTP connection of the SDK is an SSH session running `docker system dial-stdio` (what
the Docker CLI does for ssh:// hosts), so no engine socket is ever exposed on the network.
"""

from __future__ import annotations

import paramiko
from docker import DockerClient
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnectionPool
from urllib3._collections import RecentlyUsedContainer

_PLACEHOLDER = "plat-ssh-engine.invalid:2375"


class _Adapter(BaseHTTPAdapter):
    def __init__(self, ssh: paramiko.SSHClient, timeout: float) -> None:
        self.ssh_client = ssh
        self.timeout = timeout
        self.pools: RecentlyUsedContainer[str, SSHConnectionPool] = RecentlyUsedContainer(
            4, dispose_func=lambda p: p.close())
        super().__init__()

    def get_connection(self, url, proxies=None):
        # One pool whatever the URL: each new connection is an SSH session running dial-stdio.
        with self.pools.lock:
            pool = self.pools.get("engine")
            if pool is None:
                pool = SSHConnectionPool(ssh_client=self.ssh_client, timeout=self.timeout, maxsize=4)
                self.pools["engine"] = pool
            return pool

    def close(self) -> None:  # the SSH connection belongs to the caller
        self.pools.clear()


def docker_over_ssh(ssh: paramiko.SSHClient, timeout: float = 300.0) -> DockerClient:
    # A placeholder TCP address (never dialled): requests for it are served by our adapter, so
    # the SDK never opens a connection of its own (its ssh:// support checks host keys its way).
    client = DockerClient(base_url=f"tcp://{_PLACEHOLDER}", version="1.41", timeout=int(timeout))
    adapter = _Adapter(ssh, timeout)
    client.api._custom_adapter = adapter
    # The SDK's own ssh base URL: it makes attach/exec read from the SSH channel as they should.
    client.api.mount("http+docker://ssh", adapter)
    client.api.base_url = "http+docker://ssh"
    client.api._version = client.api._retrieve_server_version()  # what `version="auto"` does
    return client
