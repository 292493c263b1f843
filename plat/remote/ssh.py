"""SSH to hosts through paramiko: ~/.ssh/config, strict host keys, clear failures.

Host keys are checked against the known_hosts files the SSH config names (OpenSSH's defaults
otherwise). An unknown key is refused with its fingerprint and the command that trusts it;
a changed key is refused loudly. There is no auto-add policy anywhere.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import os
import re
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from plat.errors import PlatError

# paramiko logs refused tunnel channels (routine while an agent starts) as errors on stderr;
# plat reports failures itself, so only its --debug tracebacks should show paramiko's view.
logging.getLogger("paramiko").setLevel(logging.CRITICAL)
_ADDRESS = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?"
                      r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)"
                      r"(?::(?P<port>\d{1,5}))?$")
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")


@dataclass(frozen=True)
class Address:
    """A host as written in plat.yaml: `[user@]host[:port]` (host may be an ssh_config alias)."""

    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + str(self.port) if self.port else ''}"


def parse_address(text: str) -> Address:
    m = _ADDRESS.match(text.strip())
    if not m or (m.group("port") and not 0 < int(m.group("port")) < 65536):
        raise PlatError(f"host {text!r}: expected [user@]host[:port], e.g. deploy@web1.example.com:2222")
    return Address(m.group("host").strip("[]"), m.group("user"), int(m.group("port")) if m.group("port") else None)


@dataclass(frozen=True)
class SSHParams:
    """Everything needed to open one SSH connection, resolved from the address and ssh_config."""

    name: str
    """The host as the user wrote it (used in every message)."""
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    known_hosts: tuple[str, ...] = DEFAULT_KNOWN_HOSTS
    proxy_jump: str | None = None
    connect_timeout: float = 10.0
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def known_hosts_key(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


def ssh_config_path(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get("PLAT_SSH_CONFIG") or "~/.ssh/config").expanduser()


def load_ssh_config(path: Path | None = None) -> paramiko.SSHConfig:
    path = path or ssh_config_path()
    if not path.is_file():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - paramiko raises ConfigParseError and plain exceptions
        raise PlatError(f"{path}: cannot parse the SSH config: {exc}") from None


def resolve(address: Address, config: paramiko.SSHConfig, default_user: str | None = None) -> SSHParams:
    """Apply ssh_config to an address the way OpenSSH does: what the address says wins."""
    found = config.lookup(address.host)
    port = address.port or int(found.get("port", 22))
    user = address.user or found.get("user") or default_user or getpass.getuser()
    known = tuple(shlex.split(found["userknownhostsfile"])) if "userknownhostsfile" in found else DEFAULT_KNOWN_HOSTS
    timeout = float(found.get("connecttimeout", 10))
    jump = found.get("proxyjump")
    return SSHParams(
        name=str(address), hostname=found.get("hostname", address.host), port=port, user=user,
        identity_files=tuple(os.path.expanduser(p) for p in found.get("identityfile", [])),
        identities_only=found.get("identitiesonly", "no").lower() == "yes",
        known_hosts=known, proxy_jump=None if jump in (None, "none") else jump, connect_timeout=timeout,
    )


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class UnknownHostKey(PlatError):
    def __init__(self, params: SSHParams, key: paramiko.PKey) -> None:
        self.key = key
        super().__init__(
            f"{params.name}: unknown host key {key.get_name()} {fingerprint(key)} "
            f"({params.known_hosts_key} is not in {', '.join(params.known_hosts)}); nothing was run",
            f"check the fingerprint with the host's owner, then run `plat hosts trust {params.name}`")


class _Refuse(paramiko.MissingHostKeyPolicy):
    """Refuse a host whose key is not known, keeping the key to show its fingerprint."""

    def __init__(self, params: SSHParams) -> None:
        self.params = params

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise UnknownHostKey(self.params, key)


def known_host_keys(params: SSHParams) -> paramiko.HostKeys:
    keys = paramiko.HostKeys()
    for path in params.known_hosts:
        p = Path(path).expanduser()
        if p.is_file():
            try:
                keys.load(str(p))
            except (OSError, paramiko.SSHException) as exc:
                raise PlatError(f"{p}: cannot read known hosts: {exc}") from None
    return keys


def _describe_socket_error(params: SSHParams, exc: BaseException) -> PlatError:
    where = f"{params.name}: cannot reach {params.hostname}:{params.port}"
    if isinstance(exc, socket.gaierror):
        return PlatError(f"{params.name}: cannot resolve host name {params.hostname!r}",
                         "check the host name in plat.yaml or HostName in your SSH config")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return PlatError(f"{where} (timed out after {params.connect_timeout:g}s)", "is the host up and port open?")
    if isinstance(exc, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
        return PlatError(f"{where} (connection refused)", "is sshd running on that port?")
    return PlatError(f"{where} ({exc})")


def _jump_channel(params: SSHParams, config: paramiko.SSHConfig) -> tuple[paramiko.SSHClient, paramiko.Channel]:
    jump = resolve(parse_address(params.proxy_jump.split(",")[-1]), config)  # type: ignore[union-attr]  # called only when proxy_jump is set
    jump_client = connect(jump, config)
    try:
        chan = jump_client.get_transport().open_channel(
            "direct-tcpip", (params.hostname, params.port), ("127.0.0.1", 0), timeout=params.connect_timeout)
    except (paramiko.SSHException, OSError) as exc:
        jump_client.close()
        raise PlatError(f"{params.name}: jump host {jump.name} cannot reach "
                        f"{params.hostname}:{params.port} ({exc})") from None
    return jump_client, chan


def connect(params: SSHParams, config: paramiko.SSHConfig | None = None) -> paramiko.SSHClient:
    """An authenticated SSH connection whose host key matched known_hosts, or a PlatError."""
    missing = [f for f in params.identity_files if not Path(f).is_file()]
    if missing:
        raise PlatError(f"{params.name}: IdentityFile {missing[0]} does not exist",
                        "fix IdentityFile for this host in your SSH config (or remove it to use ssh-agent)")
    client = paramiko.SSHClient()
    keys = known_host_keys(params)
    for host, entries in keys.items():
        for kind, key in entries.items():
            client.get_host_keys().add(host, kind, key)
    client.set_missing_host_key_policy(_Refuse(params))
    sock = None
    jump_client = None
    if params.proxy_jump:
        jump_client, sock = _jump_channel(params, config or load_ssh_config())
    try:
        client.connect(
            params.hostname, port=params.port, username=params.user, sock=sock,
            key_filename=list(params.identity_files) or None,
            look_for_keys=not params.identities_only, allow_agent=not params.identities_only,
            timeout=params.connect_timeout, banner_timeout=params.connect_timeout,
            auth_timeout=params.connect_timeout, channel_timeout=params.connect_timeout,
        )
    except Exception as exc:  # noqa: BLE001 - close the clients, then re-raise it (translated when known)
        client.close()
        if jump_client is not None:
            jump_client.close()
        raise _connect_error(params, exc) from None
    if jump_client is not None:
        client._plat_jump = jump_client  # kept alive with the client
    return client


def _connect_error(params: SSHParams, exc: Exception) -> Exception:
    """What the user sees when connecting failed: one line naming the host, and what to do."""
    if isinstance(exc, PlatError):  # UnknownHostKey
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return PlatError(
            f"{params.name}: HOST KEY CHANGED for {params.known_hosts_key}: expected {fingerprint(exc.expected_key)}, "
            f"got {exc.key.get_name()} {fingerprint(exc.key)}. Someone may be intercepting the connection; "
            "nothing was run",
            "if the host was reinstalled, remove its old line from known_hosts and run "
            f"`plat hosts trust {params.name}`")
    if isinstance(exc, paramiko.AuthenticationException):
        tried = ", ".join(params.identity_files) or "default keys and ssh-agent"
        return PlatError(f"{params.name}: SSH refused user {params.user!r} (tried {tried})",
                         "check User and IdentityFile for this host in your SSH config")
    if isinstance(exc, paramiko.SSHException):
        msg = str(exc)
        if "banner" in msg.lower() or "no existing session" in msg.lower():
            msg = f"connected, but no SSH server answered within {params.connect_timeout:g}s"
        return PlatError(f"{params.name}: SSH failed: {msg}")
    if isinstance(exc, OSError):
        return _describe_socket_error(params, exc)
    return exc


def scan_host_key(params: SSHParams, config: paramiko.SSHConfig | None = None) -> paramiko.PKey:
    """The key a host presents, fetched without authenticating (for `plat hosts trust`)."""
    jump_client = None
    try:
        if params.proxy_jump:
            jump_client, sock = _jump_channel(params, config or load_ssh_config())
        else:
            sock = socket.create_connection((params.hostname, params.port), timeout=params.connect_timeout)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = params.connect_timeout
        try:
            transport.start_client(timeout=params.connect_timeout)
            return transport.get_remote_server_key()
        finally:
            transport.close()
    except paramiko.SSHException as exc:
        raise PlatError(f"{params.name}: SSH handshake failed: {exc}") from None
    except OSError as exc:
        raise _describe_socket_error(params, exc) from None
    finally:
        if jump_client is not None:
            jump_client.close()


def known_hosts_line(params: SSHParams, key: paramiko.PKey) -> str:
    return f"{params.known_hosts_key} {key.get_name()} {key.get_base64()}\n"


def trust(params: SSHParams, key: paramiko.PKey) -> Path:
    """Add the key to the first known_hosts file (created 0600). Refuses to replace a different key."""
    existing = known_host_keys(params).lookup(params.known_hosts_key) or {}
    if any(k == key for k in existing.values()):
        return Path(params.known_hosts[0]).expanduser()
    if existing:  # a different key, of this type or another: never trusted on top of a known one
        raise PlatError(f"{params.name}: known_hosts already holds a different key for {params.known_hosts_key} "
                        f"({', '.join(existing.keys())})",
                        "remove the old line by hand only if the host was really reinstalled")
    path = Path(params.known_hosts[0]).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(known_hosts_line(params, key))
    return path


def run(client: paramiko.SSHClient, command: str, timeout: float = 60.0, stdin: bytes | None = None) -> tuple[int, str]:
    """Run a command on the host; returns (exit status, stdout+stderr)."""
    chan = client.get_transport().open_session(timeout=timeout)
    chan.settimeout(timeout)
    chan.set_combine_stderr(True)
    chan.exec_command(command)
    if stdin is not None:
        chan.sendall(stdin)
    chan.shutdown_write()
    out = bytearray()
    try:
        while chunk := chan.recv(65536):
            out += chunk
    except TimeoutError:
        chan.close()
        host = client.get_transport().getpeername()[0] if client.get_transport() else "the host"
        raise PlatError(f"{host}: a command did not finish within {timeout:g}s ({command.split()[0]} …)") from None
    return chan.recv_exit_status(), out.decode(errors="replace")
