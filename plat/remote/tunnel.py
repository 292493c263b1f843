"""HTTP over SSH without a local port: httpx connections are direct-tcpip channels.

Opening no local listener means no other local user can reach the host's agent API through
our tunnel; each HTTP connection is one channel on the host's existing SSH connection.
"""

from __future__ import annotations

from typing import Any

import httpcore
import httpx
import paramiko


class _ChannelStream(httpcore.NetworkStream):
    def __init__(self, chan: paramiko.Channel) -> None:
        self._chan = chan

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._chan.settimeout(timeout)
        try:
            return self._chan.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._chan.settimeout(timeout)
        try:
            self._chan.sendall(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._chan.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore asks before reusing a kept-alive connection
            return self._chan.recv_ready() or self._chan.closed or self._chan.eof_received
        return None


class SSHBackend(httpcore.NetworkBackend):
    """Connects to host:port as seen from the SSH server."""

    def __init__(self, transport: paramiko.Transport) -> None:
        self._transport = transport

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        try:
            chan = self._transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0), timeout=timeout)
        except paramiko.ChannelException as exc:
            raise httpcore.ConnectError(f"the host refused a tunnel to {host}:{port} ({exc.text})") from exc
        except (paramiko.SSHException, OSError) as exc:
            raise httpcore.ConnectError(f"SSH tunnel to {host}:{port} failed: {exc}") from exc
        return _ChannelStream(chan)

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)


class SSHTransport(httpx.HTTPTransport):
    """An httpx transport whose TCP connections are opened by the SSH server."""

    def __init__(self, transport: paramiko.Transport) -> None:
        super().__init__()
        # httpx exposes no hook for the network backend; its pool is the documented httpcore one.
        # Idle connections expire well before the agent drops them (30 s).
        self._pool = httpcore.ConnectionPool(network_backend=SSHBackend(transport), max_connections=16,
                                             keepalive_expiry=5.0)
