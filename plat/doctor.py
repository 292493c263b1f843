"""Is this machine ready to build and deploy, and are the app's hosts? The checks behind `plat doctor`.

Each check is a small function that returns a `Check` (what, ok/warn/fail, detail, what to do).
Their I/O (the engine, SSH, HTTP) comes in as arguments with the real thing as default, so tests
pass fakes; the verb (`plat/commands/doctor.py`) only gathers the checks and renders them.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from plat import __version__
from plat.errors import PlatError

OK, WARN, FAIL = "ok", "warn", "fail"
SSH_TIMEOUT = 5.0
HTTP_TIMEOUT = 5.0
DEFAULT_KEYS = ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk", "id_dsa")
"""The keys OpenSSH (and paramiko) offer when no IdentityFile is configured."""
DOCKER_CERTS = Path("/etc/docker/certs.d")
NOT_INSTALLED = "no plat agent is installed"
"""How `HostConnection.agent()` says a host has no agent yet (a deploy installs one)."""

@dataclass(frozen=True)
class Check:
    name: str
    status: str
    """ok, warn (works, but look) or fail (plat cannot work until it is fixed)."""
    detail: str
    fix: str = ""
    host: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "host": self.host, "status": self.status, "detail": self.detail, "fix": self.fix}


def failed(checks: list[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


# -- this machine ------------------------------------------------------------------------
def docker_check(connect: Callable[[], Any] | None = None) -> tuple[Check, Any]:
    """The local engine answers, and which version it is: (check, client or None)."""
    if connect is None:
        from plat.docker_client import connect as connect_engine

        def connect() -> Any:
            return connect_engine(timeout=10)
    name = "docker engine"
    try:
        client = connect()
    except PlatError as exc:
        return Check(name, FAIL, exc.message, exc.hint or ""), None
    try:
        v = client.version()
    except Exception as exc:  # noqa: BLE001 - the engine answered ping, then refused: show why
        return Check(name, FAIL, f"answers, but not its version: {exc}", "is dockerd healthy? `docker info`"), None
    return Check(name, OK, f"Docker {v.get('Version', '?')} (API {v.get('ApiVersion', '?')}, "
                           f"{v.get('Os', '?')}/{v.get('Arch', '?')})"), client


def ssh_config_check(path: Path | None = None, load: Callable[[Path], Any] | None = None) -> tuple[Check, Any]:
    """The SSH config parses: (check, paramiko.SSHConfig or None)."""
    from plat.remote import ssh

    path = path or ssh.ssh_config_path()
    load = load or ssh.load_ssh_config
    name = "ssh config"
    try:
        config = load(path)
    except PlatError as exc:
        return Check(name, FAIL, exc.message, "fix the line it names (`ssh -G HOST` shows how OpenSSH reads it)"), None
    if not path.is_file():
        return Check(name, OK, f"none at {path}: OpenSSH's defaults apply"), config
    patterns = sorted(p for p in config.get_hostnames() if p != "*")
    return Check(name, OK, f"{path}: {len(patterns)} host pattern{'s' if len(patterns) != 1 else ''}"), config


def manifest_check(app_dir: str, environment: str | None, scope: Callable[..., Any] | None = None
                   ) -> tuple[Check, Any]:
    """plat.yaml validates and names the hosts: (check, targets.Scope or None)."""
    if scope is None:
        from plat.targets import scope
    assert scope is not None  # (mypy does not narrow on an import)
    name = "plat.yaml"
    try:
        sc = scope(app_dir, environment)
    except PlatError as exc:
        return Check(name, FAIL, exc.message, exc.hint or ""), None
    if sc.manifest is None:
        return Check(name, OK, f"none in {Path(app_dir).resolve()}: commands use the local agent"), sc
    if sc.fleet is None:
        return Check(name, OK, f"{sc.manifest.name}: no hosts, so commands use the local agent"), sc
    env = f" (environment {sc.fleet.environment})" if sc.fleet.environment else ""
    n = len(sc.fleet.hosts)
    return Check(name, OK, f"{sc.manifest.name}: {n} host{'s' if n != 1 else ''}{env}"), sc


def local_agent_check(client: Any, status: Callable[[Any], dict[str, Any]] | None = None,
                      health: Callable[[], dict[str, Any]] | None = None) -> Check:
    """With no hosts: the local agent runs, answers with the token in PLAT_HOME, and matches this CLI."""
    name = "local agent"
    if client is None:
        return Check(name, WARN, "not checked: no Docker engine", "fix the Docker engine first")
    if status is None:
        from plat.hostagent.local import status
    assert status is not None  # (mypy does not narrow on an import)
    if health is None:
        def health() -> dict[str, Any]:
            from plat.agent_client import AgentClient
            from plat.hostagent.local import connect_info

            info = connect_info()
            return AgentClient(info.api_url, info.token, timeout=HTTP_TIMEOUT).health()
    info = status(client)
    if not info.get("running"):
        return Check(name, WARN, "not running", "`plat deploy` starts it (or `plat agent up`)")
    try:
        answer = health()
    except PlatError as exc:
        return Check(name, FAIL, f"running, but {exc.message}",
                     "`plat agent up` restarts it (is PLAT_HOME the one it was started with?)")
    version = answer.get("version")
    if version != __version__:
        return Check(name, WARN, f"agent {version} at {info.get('api')}, this CLI is {__version__}",
                     "`plat agent up` replaces it with this CLI's agent")
    return Check(name, OK, f"agent {version}: api {info.get('api')}, gateway {info.get('gateway')}")


# -- one host ------------------------------------------------------------------------------
def _mode_problem(path: Path) -> str | None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return f"{path} is mode {mode:04o}: group or others may read it"
    return None


def identity_check(host: str, params: Any, agent_socket: str | None = None, ssh_dir: Path | None = None) -> Check:
    """The keys SSH will offer exist and only their owner can read them (OpenSSH refuses others)."""
    name = "ssh keys"
    files = [Path(f) for f in params.identity_files]
    source = "IdentityFile"
    if not files and not params.identities_only:
        ssh_dir = ssh_dir or Path("~/.ssh").expanduser()
        files = [ssh_dir / k for k in DEFAULT_KEYS if (ssh_dir / k).is_file()]
        source = "default key"
    use_agent = bool(agent_socket) and not params.identities_only
    missing = [f for f in files if source == "IdentityFile" and not f.is_file()]
    if missing:  # OpenSSH skips it; paramiko stops the login at it
        return Check(name, FAIL, f"IdentityFile {missing[0]} does not exist", f"fix or drop IdentityFile for {host} "
                     "in your SSH config, or create the key (`ssh-keygen -t ed25519 -f PATH`)", host)
    open_to_others = [p for p in (_mode_problem(f) for f in files) if p]
    if open_to_others:
        path = open_to_others[0].split(" is mode")[0]
        return Check(name, FAIL, open_to_others[0], f"chmod 600 {path}", host)
    if not files and not use_agent:
        why = "IdentitiesOnly is set but no IdentityFile" if params.identities_only else \
              "no IdentityFile, no default key in ~/.ssh and no ssh-agent (SSH_AUTH_SOCK)"
        return Check(name, WARN if not params.identities_only else FAIL, f"nothing to log in with: {why}",
                     f"add `IdentityFile` for {host} to your SSH config", host)
    offered = [f"{source} {f}" for f in files] + (["ssh-agent"] if use_agent else [])
    return Check(name, OK, ", ".join(offered), "", host)


def known_host_check(host: str, params: Any, keys: Any = None, label: str = "host key") -> Check:
    """known_hosts has a key for the host as SSH names it (no network: the file is read)."""
    from plat.remote.ssh import fingerprint, known_host_keys

    try:
        keys = known_host_keys(params) if keys is None else keys
    except PlatError as exc:
        return Check(label, FAIL, exc.message, "fix or remove that file", host)
    entry = keys.lookup(params.known_hosts_key)
    if not entry:
        return Check(label, FAIL, f"{params.known_hosts_key} is not in {', '.join(params.known_hosts)}",
                     f"check the fingerprint with the host's owner, then `plat hosts trust {params.name}`", host)
    known = ", ".join(f"{kind} {fingerprint(key)}" for kind, key in sorted(entry.items()))
    return Check(label, OK, f"{params.known_hosts_key}: {known}", "", host)


def ssh_check(host: str, params: Any, config: Any, connect: Callable[..., Any] | None = None,
              timeout: float = SSH_TIMEOUT) -> tuple[Check, Any]:
    """An SSH login with a short timeout: (check, paramiko client or None)."""
    if connect is None:
        from plat.remote.ssh import connect
    assert connect is not None  # (mypy does not narrow on an import)
    quick = replace(params, connect_timeout=min(params.connect_timeout, timeout))
    try:
        client = connect(quick, config)
    except PlatError as exc:
        return Check("ssh", FAIL, exc.message, exc.hint or "", host), None
    via = f" via {params.proxy_jump}" if params.proxy_jump else ""
    return Check("ssh", OK, f"{params.user}@{params.hostname}:{params.port}{via}", "", host), client


def host_docker_check(host: str, conn: Any) -> Check:
    """The host's engine answers over the SSH connection."""
    try:
        version = conn.docker.version().get("Version", "?")
    except PlatError as exc:
        return Check("docker on host", FAIL, exc.message, exc.hint or "", host)
    except Exception as exc:  # noqa: BLE001 - the engine refused: daemon down, socket permissions
        return Check("docker on host", FAIL, f"the engine does not answer ({exc})",
                     "is dockerd running, and may the SSH user use it? (`plat deploy --install-docker` installs "
                     "Docker on Debian/Ubuntu)", host)
    return Check("docker on host", OK, f"Docker {version}", "", host)


def agent_check(host: str, conn: Any) -> Check:
    """The host's agent answers its health check, and its version is this CLI's."""
    try:
        health = conn.agent().health()
    except PlatError as exc:
        if NOT_INSTALLED in exc.message:
            return Check("agent", WARN, "not installed yet",
                         f"`plat deploy` installs it (or `plat hosts bootstrap {host}`)", host)
        return Check("agent", FAIL, exc.message, exc.hint or f"`plat hosts bootstrap {host}`", host)
    version = health.get("version")
    if version != __version__:
        return Check("agent", WARN, f"agent {version}, this CLI is {__version__}",
                     f"`plat hosts bootstrap {host}` upgrades it (`plat deploy` does too); an agent installed "
                     "by Ansible or systemd is upgraded there", host)
    return Check("agent", OK, f"agent {version} answers", "", host)


def host_checks(host: Any, settings: Any, config: Any, *, connect: Callable[..., Any] | None = None,
                env: Mapping[str, str] | None = None, timeout: float = SSH_TIMEOUT) -> list[Check]:
    """Every check of one host, in order; a later check is skipped when SSH does not connect."""
    from plat.fleet.connect import HostConnection, connect_host
    from plat.remote.ssh import parse_address, resolve

    env = os.environ if env is None else env
    name = host.host
    if host.transport == "http":
        try:
            conn = connect_host(host, settings)
        except PlatError as exc:
            return [Check("agent", FAIL, exc.message, exc.hint or "", name)]
        return [agent_check(name, conn)]
    try:
        params = resolve(parse_address(name), config)
    except PlatError as exc:
        return [Check("address", FAIL, exc.message, exc.hint or "", name)]
    checks = [identity_check(name, params, env.get("SSH_AUTH_SOCK")), known_host_check(name, params)]
    if params.proxy_jump:
        hop = params.proxy_jump.split(",")[-1]
        try:
            jump = resolve(parse_address(hop), config)
        except PlatError as exc:
            checks.append(Check(f"jump host ({hop})", FAIL, exc.message, exc.hint or "", name))
        else:
            checks.append(known_host_check(name, jump, label=f"jump host key ({jump.name})"))
    check, client = ssh_check(name, params, config, connect, timeout)
    checks.append(check)
    if client is not None:
        conn = HostConnection(host, settings, client)
        try:
            checks += [host_docker_check(name, conn), agent_check(name, conn)]
        finally:
            conn.close()
    return checks


# -- the registry ----------------------------------------------------------------------------
def _loopback(host: str) -> bool:
    """Whether a registry's `host[:port]` is this machine (Docker allows plain HTTP to it)."""
    if host.startswith("["):
        name = host[1:].split("]")[0]
    else:
        name = host.split(":")[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_check(registry: str, get: Callable[..., Any] | None = None, certs_dir: Path = DOCKER_CERTS) -> Check:
    """The registry's API answers `GET /v2/` with 200 (open) or 401 (needs credentials), over
    verified TLS (with Docker's CA for it from certs.d when there is one)."""
    import httpx

    name = "registry"
    from plat_contract.images import parse_reference

    try:
        host = parse_reference(f"{registry}/probe").registry
    except ValueError:
        host = None
    if host is None:
        return Check(name, FAIL, f"{registry!r} names no registry host",
                     "set `registry:` to HOST[:PORT]/PATH, e.g. registry.example.com/team")
    get = get or httpx.get
    ca = certs_dir / host / "ca.crt"
    verify: Any = True
    if ca.is_file():
        import ssl

        verify = ssl.create_default_context(cafile=str(ca))
    url = f"https://{host}/v2/"
    try:
        resp = get(url, timeout=HTTP_TIMEOUT, verify=verify)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        if _loopback(host):
            try:
                plain = get(f"http://{host}/v2/", timeout=HTTP_TIMEOUT)
            except httpx.HTTPError:
                plain = None
            if plain is not None and plain.status_code in (200, 401):
                return Check(name, WARN, f"http://{host}/v2/ answers {plain.status_code} over plain HTTP only",
                             "Docker allows plain HTTP for 127.0.0.0/8 and `insecure-registries` only")
        if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason.lower():
            where = f"with {ca}" if ca.is_file() else "with the system CAs"
            return Check(name, FAIL, f"{url}: its TLS certificate is not trusted {where} ({reason})",
                         f"a private CA? Docker trusts it as {ca}; put the CA there (plat doctor uses it too)")
        return Check(name, FAIL, f"{url}: {reason}", "check the address and that the registry is up")
    if resp.status_code == 200:
        return Check(name, OK, f"{url} answers 200 (no credentials needed)")
    if resp.status_code == 401:
        return Check(name, OK, f"{url} answers 401: it wants credentials (PLAT_REGISTRY_USERNAME and "
                               "PLAT_REGISTRY_PASSWORD, or `docker login`)")
    return Check(name, FAIL, f"{url} answers {resp.status_code}: not a registry's API (expected 200 or 401)",
                 "check `registry:` in plat.yaml")


# -- the command ------------------------------------------------------------------------------
def run_checks(app_dir: str, environment: str | None) -> list[Check]:
    """Every check for this machine and the app in `app_dir`, in display order."""
    from plat.parallel import each

    checks: list[Check] = []
    docker, client = docker_check()
    checks.append(docker)
    config_check, config = ssh_config_check()
    checks.append(config_check)
    manifest, sc = manifest_check(app_dir, environment)
    checks.append(manifest)
    if sc is None:
        return checks
    if sc.fleet is None:
        checks.append(local_agent_check(client))
    elif config is None:
        checks.append(Check("hosts", WARN, f"{len(sc.fleet.hosts)} host(s) not checked: the SSH config does not parse",
                            "fix the SSH config first"))
    else:
        for _, found, error in each(list(sc.fleet.hosts), lambda h: host_checks(h, sc.settings, config),
                                    sc.fleet.deploy.parallel):
            checks += found if error is None else [Check("host", FAIL, error.message, error.hint or "")]
    registry = sc.fleet.registry if sc.fleet is not None else (sc.manifest.registry if sc.manifest else None)
    if registry:
        checks.append(registry_check(registry))
    return checks


