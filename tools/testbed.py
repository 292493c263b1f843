"""The e2e test bed: hosts in containers, each with its own sshd and Docker engine, and a TLS registry.

One place for it: tests/e2e/conftest.py turns it into session fixtures, and scripts/hosts
(`python -m tools.testbed up N | down | status`) uses it for humans and the README demo.

A host is the image built from tools/testbed_host/ (cached by content hash as `plat-e2e-host:<hash>`)
run with the capabilities a nested dockerd needs (no --privileged: this kernel refuses it), on a
dedicated bridge network, its SSH port and gateway port published on 127.0.0.1 only. Each
container makes its own ed25519 host key; the client's public key is given at run time.

The registry is Debian's `docker-registry` run as a process on this machine with TLS (a CA made
here) and htpasswd (bcrypt) auth, listening on the network's gateway IP, so this machine's dockerd
(push) and the hosts' dockerds (pull) reach it at the same address. Both trust the CA through
/etc/docker/certs.d/<ip>:<port>/ca.crt (no daemon restart).

The harness talks to a host through the Docker SDK (`Host.exec`); what is under test talks SSH.
No code here trusts a host key it has not read from the host itself.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import ipaddress
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

ROOT = Path(__file__).resolve().parents[1]
HOST_CONTEXT = Path(__file__).resolve().parent / "testbed_host"
IMAGE_REPO = "plat-e2e-host"
ROLE = "e2e-host"
SSH_PORT = 22
GATEWAY_PORT = 80
HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"
CGROUP_PARENT = "plat-e2e"  # the hosts' dockerds put their containers under /sys/fs/cgroup/*/plat-e2e/<host>
CERTS_D = Path("/etc/docker/certs.d")

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- image


def base_image() -> str:
    """The Debian base for hosts: $PLAT_E2E_BASE_IMAGE, else the offline Debian beside the offline runtimes."""
    if explicit := os.environ.get("PLAT_E2E_BASE_IMAGE"):
        return explicit
    # scripts/offline-images exports PLAT_BASE_IMAGE_PYTHON_FLASK=<prefix>/python:<suite>-<rev>;
    # its root image is <prefix>/debian:<suite>-<rev>.
    repo, _, tag = os.environ.get("PLAT_BASE_IMAGE_PYTHON_FLASK", "").rpartition(":")
    if repo.endswith("/python") and tag:
        return f"{repo.removesuffix('python')}debian:{tag}"
    if os.environ.get("PLAT_USE_UPSTREAM_IMAGES"):
        return "debian:bookworm"
    prefix = os.environ.get("PLAT_OFFLINE_PREFIX", "plat-offline")
    return f"{prefix}/debian:{os.environ.get('PLAT_OFFLINE_SUITE', 'bookworm')}-1"


def _ensure_base(client: docker.DockerClient, base: str, log: Log) -> docker.models.images.Image:
    try:
        return client.images.get(base)
    except docker.errors.ImageNotFound:
        pass
    if "/debian:" in base and not base.startswith(("debian:", "docker.io/")):
        log(f"testbed: {base} is missing; building the offline base images (scripts/offline-images)")
        out = subprocess.run([str(ROOT / "scripts/offline-images")], check=True, stdout=subprocess.PIPE,
                             text=True).stdout
        for line in out.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            os.environ.setdefault(key, value)
    else:
        log(f"testbed: pulling {base}")
        client.images.pull(base)
    return client.images.get(base)


def image_tag(base_id: str, extra_packages: str = "") -> str:
    """`plat-e2e-host:<hash>` of the build context, the base image's id and the build args."""
    h = hashlib.sha256()
    for path in sorted(p for p in HOST_CONTEXT.rglob("*") if p.is_file()):
        h.update(path.relative_to(HOST_CONTEXT).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
        h.update(b"x" if os.access(path, os.X_OK) else b"-")
    h.update(f"{base_id}\0{extra_packages}".encode())
    return f"{IMAGE_REPO}:{h.hexdigest()[:12]}"


def host_image(client: docker.DockerClient, *, base: str | None = None, extra_packages: str = "",
               log: Log = _stderr) -> str:
    """The host image's tag, built only when no image has that tag yet (a warm machine pays nothing)."""
    base = base or base_image()
    base_id = _ensure_base(client, base, log).id
    tag = image_tag(base_id, extra_packages)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    log(f"testbed: building {tag} from {base} (a minute or two, once)")
    t0 = time.monotonic()
    try:
        client.images.build(path=str(HOST_CONTEXT), tag=tag, rm=True, forcerm=True, pull=False,
                            buildargs={"BASE": base, "EXTRA_PACKAGES": extra_packages},
                            labels={"plat.role": f"{ROLE}-image"})
    except docker.errors.BuildError as exc:
        tail = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)[-3000:]
        raise RuntimeError(f"building {tag} failed: {exc}\n{tail}") from None
    log(f"testbed: built {tag} in {time.monotonic() - t0:.0f}s")
    # Older builds of the host image go when nothing uses them (a running host keeps its own).
    for img in client.images.list(name=IMAGE_REPO):
        if tag not in img.tags:
            for old in img.tags:
                try:
                    client.images.remove(old, noprune=False)
                except docker.errors.APIError:
                    pass
    return tag


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 client key: `private` in OpenSSH format (mode 0600), `public` beside it as `<private>.pub`."""

    private: Path
    public: Path
    public_line: str
    """`ssh-ed25519 AAAA… comment`, as in authorized_keys."""


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def generate_keypair(directory: Path, name: str = "id_ed25519", comment: str = "plat-e2e") -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = directory / name
    _write_private(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                              serialization.NoEncryption()))
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    line = f"{line} {comment}"
    public = directory / f"{name}.pub"
    public.write_text(line + "\n")
    return KeyPair(private, public, line)


def load_keypair(directory: Path, name: str = "id_ed25519") -> KeyPair | None:
    private, public = directory / name, directory / f"{name}.pub"
    if private.is_file() and public.is_file():
        return KeyPair(private, public, public.read_text().strip())
    return None


def random_host_key() -> str:
    """An ed25519 public key no host has (`ssh-ed25519 AAAA…`), for a known_hosts entry that must not match."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


# --------------------------------------------------------------------------- hosts


@dataclass(eq=False)
class Host:
    """One running host container."""

    name: str
    """Its hostname, SSH alias and network alias."""
    container: Container
    ports: dict[int, int]
    """Container port → port published on 127.0.0.1 (22 and 80, plus any extra asked for)."""
    host_key: str
    """Its public ed25519 host key, `ssh-ed25519 AAAA…` (read from /etc/ssh/ssh_host_ed25519_key.pub)."""
    ip: str
    """Its address on the test bed's network (other hosts and the registry see it there)."""

    address = "127.0.0.1"

    @property
    def ssh_port(self) -> int:
        return self.ports[SSH_PORT]

    @property
    def gateway_port(self) -> int:
        return self.ports[GATEWAY_PORT]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.ssh_port} {self.host_key}"

    def exec(self, cmd: str | Sequence[str], *, user: str = "root", env: dict[str, str] | None = None,
             workdir: str | None = None) -> tuple[int, str]:
        """Harness only (Docker SDK, not SSH): run a command; a string goes through `sh -c`. (rc, stdout+stderr)."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        rc, out = self.container.exec_run(argv, user=user, environment=env, workdir=workdir)
        return rc, (out or b"").decode(errors="replace")

    def check(self, cmd: str | Sequence[str], **kwargs: object) -> str:
        """`exec`, raising with the output when the command fails."""
        rc, out = self.exec(cmd, **kwargs)  # type: ignore[arg-type]
        if rc != 0:
            raise RuntimeError(f"{self.name}: {cmd!r} exited {rc}:\n{out}")
        return out

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Harness only: write a file in the host (its directory is created)."""
        directory, _, name = path.rpartition("/")
        self.check(["mkdir", "-p", directory or "/"])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive(directory or "/", buf.getvalue())

    def logs(self) -> str:
        """The host's entrypoint and sshd log, then the tail of its dockerd's log."""
        out = self.container.logs().decode(errors="replace")
        _, dockerd = self.exec("tail -n 50 /var/log/dockerd.log")
        return f"{out}\n--- dockerd ---\n{dockerd}"


def _published(container: Container) -> dict[int, int]:
    ports: dict[int, int] = {}
    for spec, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
        for b in bindings or []:
            if b.get("HostIp") in ("127.0.0.1", "") and b.get("HostPort"):
                ports[int(spec.split("/")[0])] = int(b["HostPort"])
    return ports


def _ssh_banner(port: int) -> bool:
    """True once sshd answers (the port proxy accepts connections before sshd listens)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(1)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _rmdir_tree(path: Path) -> None:
    """Remove an (empty) cgroup directory tree, deepest first; cgroup files themselves cannot be removed."""
    if not path.is_dir():
        return
    for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        path.rmdir()
    except OSError:
        pass


class Testbed:
    """Hosts on one bridge network (and optionally a registry), all labelled; `close()` removes them.

    `prefix` is put before host names to name containers (the fixtures use a per-session prefix so
    concurrent runs never collide; scripts/hosts uses none).
    """

    def __init__(self, client: docker.DockerClient, *, network: str, prefix: str = "",
                 labels: dict[str, str] | None = None, authorized_keys: Iterable[str] = (),
                 workdir: Path | None = None, image: str | None = None, log: Log = _stderr) -> None:
        self.client = client
        self.network_name = network
        self.prefix = prefix
        self.labels = {"plat.role": ROLE, **(labels or {})}
        self.authorized_keys = list(authorized_keys)
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="plat-e2e-"))
        self.log = log
        self.hosts: dict[str, Host] = {}
        self.registry: Registry | None = None
        self.on_new_host: list[Callable[[Host], None]] = []
        self.on_removed_host: list[Callable[[Host], None]] = []
        """Called with every host made or removed from now on (the fixtures' ssh_config follows)."""
        self._image = image
        self._network: Network | None = None

    # -- shared pieces

    @property
    def image(self) -> str:
        if self._image is None:
            self._image = host_image(self.client, log=self.log)
        return self._image

    @property
    def network(self) -> Network:
        """The bridge network the hosts share (created on first use, or adopted when it exists)."""
        if self._network is None:
            found = self.client.networks.list(names=[self.network_name])
            found = [n for n in found if n.name == self.network_name]
            self._network = found[0] if found else self.client.networks.create(
                self.network_name, driver="bridge", labels=self.labels, check_duplicate=True)
            self._network.reload()
        return self._network

    @property
    def gateway_ip(self) -> str:
        """This machine's address on the hosts' network."""
        config = (self.network.attrs.get("IPAM") or {}).get("Config") or []
        for entry in config:
            if entry.get("Gateway"):
                return entry["Gateway"].split("/")[0]
            if entry.get("Subnet"):
                return str(next(ipaddress.ip_network(entry["Subnet"]).hosts()))
        raise RuntimeError(f"network {self.network_name} has no IPv4 gateway: {config}")

    def container_name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- hosts

    def make_host(self, name: str, *, ports: Iterable[int] = (), timeout: float = 90) -> Host:
        """Start a host called `name` and wait until sshd answers and its dockerd is up."""
        return self.make_hosts([name], ports=ports, timeout=timeout)[0]

    def make_hosts(self, names: Iterable[str], *, ports: Iterable[int] = (), timeout: float = 90) -> list[Host]:
        """Start several hosts at once, then wait for all of them (they boot in parallel)."""
        names = list(names)
        for name in names:
            if name in self.hosts:
                raise ValueError(f"host {name!r} exists already")
        started = [self._run(name, ports) for name in names]
        hosts = [self._wait(name, c, timeout) for name, c in zip(names, started, strict=True)]
        for host in hosts:
            self.hosts[host.name] = host
            if self.registry:
                self.registry.trust(host)
        for host in hosts:
            for callback in self.on_new_host:
                callback(host)
        return hosts

    def _run(self, name: str, ports: Iterable[int]) -> Container:
        cname = self.container_name(name)
        port_list = [SSH_PORT, GATEWAY_PORT, *(p for p in ports if p not in (SSH_PORT, GATEWAY_PORT))]
        network = self.network
        api = self.client.api
        host_config = api.create_host_config(
            cap_add=["ALL"], cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            tmpfs={"/var/lib/docker": "exec"},
            binds={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
            port_bindings={p: ("127.0.0.1", None) for p in port_list},
            network_mode=network.name,
        )
        # `--security-opt systempaths=unconfined` is a CLI spelling: the API takes empty path lists
        # (a writable /proc/sys lets the nested dockerd set up its bridge).
        host_config["MaskedPaths"] = []
        host_config["ReadonlyPaths"] = []
        created = api.create_container(
            self.image, name=cname, hostname=name, labels=self.labels, detach=True,
            ports=port_list, host_config=host_config,
            environment={
                "PLAT_E2E_AUTHORIZED_KEYS": "\n".join(self.authorized_keys),
                "PLAT_E2E_DOCKERD_ARGS": f"--cgroup-parent=/{CGROUP_PARENT}/{cname}",
            },
            networking_config=api.create_networking_config(
                {network.name: api.create_endpoint_config(aliases=[name])}),
        )
        container = self.client.containers.get(created["Id"])
        try:
            container.start()
        except BaseException:
            container.remove(force=True)
            raise
        return container

    def _wait(self, name: str, container: Container, timeout: float) -> Host:
        deadline = time.monotonic() + timeout
        ports: dict[int, int] = {}
        while True:
            container.reload()
            if container.status not in ("created", "running"):
                raise RuntimeError(f"host {name} stopped ({container.status}):\n"
                                   f"{container.logs().decode(errors='replace')[-3000:]}")
            ports = _published(container)
            if SSH_PORT in ports and _ssh_banner(ports[SSH_PORT]):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {name}: sshd did not answer within {timeout:g}s:\n"
                                   f"{container.logs().decode(errors='replace')[-3000:]}")
            time.sleep(0.1)
        while True:
            rc, out = container.exec_run(["docker", "info", "--format", "{{.ServerVersion}}"])
            if rc == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"host {name}: dockerd is not up: {out.decode(errors='replace')}")
            time.sleep(0.2)
        rc, key = container.exec_run(["cat", HOST_KEY_PATH])
        if rc != 0:
            raise RuntimeError(f"host {name}: no host key: {key.decode(errors='replace')}")
        host_key = " ".join(key.decode().split()[:2])
        ip = container.attrs["NetworkSettings"]["Networks"][self.network_name]["IPAddress"]
        return Host(name=name, container=container, ports=ports, host_key=host_key, ip=ip)

    def adopt(self, name: str) -> Host | None:
        """A running host of this test bed started earlier (by another process), or None."""
        try:
            container = self.client.containers.get(self.container_name(name))
        except docker.errors.NotFound:
            return None
        if container.status != "running":
            return None
        host = self._wait(name, container, timeout=30)
        self.hosts[name] = host
        return host

    def remove_host(self, name: str) -> None:
        host = self.hosts.pop(name, None)
        cname = self.container_name(name)
        self._thaw(cname)
        try:
            (host.container if host else self.client.containers.get(cname)).remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        self._cleanup_cgroups(cname)
        if host:
            for callback in self.on_removed_host:
                callback(host)

    @staticmethod
    def _thaw(cname: str) -> None:
        """Unfreeze app containers a host's agent paused (its warm pool does): a frozen process
        cannot take SIGKILL, so removing the host would hang until they thaw."""
        top = Path("/sys/fs/cgroup")
        for state in [*top.glob(f"freezer/{CGROUP_PARENT}/{cname}/**/freezer.state"),
                      *top.glob(f"{CGROUP_PARENT}/{cname}/**/cgroup.freeze")]:
            try:
                state.write_text("THAWED" if state.name == "freezer.state" else "0")
            except OSError:
                pass

    @staticmethod
    def _cleanup_cgroups(cname: str) -> None:
        """The hosts' dockerds create cgroups on this machine's hierarchy; drop the empty ones left behind."""
        top = Path("/sys/fs/cgroup")
        if not top.is_dir():
            return
        # cgroup v1: one hierarchy per controller directory; v2: the unified root itself.
        roots = [d / CGROUP_PARENT / cname for d in (top, *top.iterdir()) if d.is_dir()]
        for _ in range(20):
            for path in roots:
                _rmdir_tree(path)
            if not any(p.exists() for p in roots):
                break
            time.sleep(0.1)  # the processes of a host just removed take a moment to go
        for p in [top / CGROUP_PARENT, *top.glob(f"*/{CGROUP_PARENT}")]:
            try:
                p.rmdir()
            except OSError:
                pass

    # -- registry

    def start_registry(self) -> Registry:
        if self.registry is None:
            self.registry = Registry.start(self.workdir / "registry", self.gateway_ip)
            for host in self.hosts.values():
                self.registry.trust(host)
        return self.registry

    # -- the end

    def close(self) -> None:
        if self.registry:
            self.registry.stop()
            self.registry = None
        for name in list(self.hosts):
            self.remove_host(name)
        # Anything else of ours (a host that failed to start).
        flt = [f"{k}={v}" for k, v in self.labels.items()]
        for c in self.client.containers.list(all=True, filters={"label": flt}):
            if c.name.startswith(self.prefix):
                self._thaw(c.name)
                c.remove(force=True, v=True)
                self._cleanup_cgroups(c.name)
        if self._network is not None:
            try:
                self._network.remove()
            except docker.errors.NotFound:
                pass
            self._network = None


# --------------------------------------------------------------------------- SSH client config


@dataclass(frozen=True)
class SshEnv:
    """An OpenSSH client setup for some hosts: `PLAT_SSH_CONFIG=config` points plat at it."""

    dir: Path
    config: Path
    """ssh_config: one `Host <name>` block per host."""
    known_hosts: Path
    key: Path
    """The private key every block names (IdentityFile)."""
    user: str
    hosts: dict[str, Host] = field(compare=False)

    @property
    def env(self) -> dict[str, str]:
        return {"PLAT_SSH_CONFIG": str(self.config)}

    def ssh_command(self, name: str, *command: str) -> list[str]:
        """OpenSSH's client with this config (BatchMode: it never prompts)."""
        return ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", name, *command]


def write_ssh_env(directory: Path, hosts: Iterable[Host], key: Path, *, user: str = "root",
                  trusted: Iterable[str] | None = None, mismatched: Iterable[str] = ()) -> SshEnv:
    """Write `ssh_config` and `known_hosts` in `directory` for `hosts`.

    known_hosts holds the real key of every host in `trusted` (default: all), a key that is not the
    host's for those in `mismatched` (a changed key), and nothing for the others (an unknown key).
    """
    directory.mkdir(parents=True, exist_ok=True)
    hosts = {h.name: h for h in hosts}
    trusted = set(hosts) if trusted is None else set(trusted)
    mismatched = set(mismatched)
    for p in (directory, key):
        if any(ch.isspace() for ch in str(p)):
            raise ValueError(f"{p}: paths with spaces are not supported in the generated ssh_config")
    config, known = directory / "ssh_config", directory / "known_hosts"
    blocks, lines = [], []
    for name, h in hosts.items():
        blocks.append(
            f"Host {name}\n"
            f"    HostName 127.0.0.1\n"
            f"    Port {h.ssh_port}\n"
            f"    User {user}\n"
            f"    IdentityFile {key}\n"
            f"    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {known}\n"
            f"    GlobalKnownHostsFile /dev/null\n"
            f"    StrictHostKeyChecking yes\n"
        )
        if name in mismatched:
            lines.append(f"[127.0.0.1]:{h.ssh_port} {random_host_key()}")
        elif name in trusted:
            lines.append(h.known_hosts_line)
    config.write_text("# plat e2e test bed (tools/testbed.py)\n\n" + "\n".join(blocks))
    known.write_text("".join(line + "\n" for line in lines))
    return SshEnv(dir=directory, config=config, known_hosts=known, key=key, user=user, hosts=hosts)


def ssh_connect(env: SshEnv, name: str, *, user: str | None = None, key: Path | None = None,
                timeout: float = 10):
    """A paramiko client to host `name` that trusts only env.known_hosts (RejectPolicy)."""
    import paramiko

    host = env.hosts[name]
    client = paramiko.SSHClient()
    client.load_host_keys(str(env.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect("127.0.0.1", port=host.ssh_port, username=user or env.user,
                       key_filename=str(key or env.key), look_for_keys=False, allow_agent=False,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
    except BaseException:
        client.close()
        raise
    return client


# --------------------------------------------------------------------------- registry


def make_ca_and_cert(directory: Path, ip: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for `ip` (SAN): (ca.crt, server.crt, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plat e2e test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip)])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return ca_path, cert_path, key_path


@dataclass(eq=False)
class Registry:
    """A registry with TLS and basic auth at `address` ("ip:port"), reachable from here and from every host."""

    address: str
    username: str
    password: str
    ca: Path
    """The CA certificate (PEM) that signed the registry's certificate."""
    dir: Path
    process: subprocess.Popen = field(repr=False)
    trusted_dirs: list[Path] = field(default_factory=list, repr=False)

    @property
    def auth_config(self) -> dict[str, str]:
        """For the Docker SDK: `images.push(..., auth_config=registry.auth_config)`."""
        return {"username": self.username, "password": self.password}

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    @classmethod
    def start(cls, directory: Path, ip: str, *, username: str = "plat", timeout: float = 30) -> Registry:
        import bcrypt
        import httpx

        binary = shutil.which("docker-registry")
        if not binary:
            raise RuntimeError("docker-registry is not installed (apt-get install docker-registry; scripts/test does)")
        directory.mkdir(parents=True, exist_ok=True)
        ca, cert, key = make_ca_and_cert(directory, ip)
        password = secrets.token_urlsafe(18)
        # docker-registry v2 reads bcrypt htpasswd; the cost is paid per request, so keep it low (test only).
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        (directory / "htpasswd").write_text(f"{username}:{hashed}\n")
        with socket.socket() as s:
            s.bind((ip, 0))
            port = s.getsockname()[1]
        address = f"{ip}:{port}"
        (directory / "config.yml").write_text(
            "version: 0.1\n"
            "log: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: '{directory}/data'}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '{address}', tls: {{certificate: '{cert}', key: '{key}'}}}}\n"
            f"auth: {{htpasswd: {{realm: plat-e2e, path: '{directory}/htpasswd'}}}}\n"
        )
        with open(directory / "registry.log", "wb") as log:
            proc = subprocess.Popen([binary, "serve", str(directory / "config.yml")], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        registry = cls(address, username, password, ca, directory, proc)
        try:
            ctx = registry.ssl_context()
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"docker-registry exited {proc.returncode}:\n"
                                       f"{(directory / 'registry.log').read_text()[-2000:]}")
                try:
                    if httpx.get(f"https://{address}/v2/", verify=ctx, timeout=1).status_code == 401:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not answer on {address} within {timeout:g}s")
                time.sleep(0.1)
            registry._trust_locally()
        except BaseException:
            registry.stop()
            raise
        return registry

    def _trust_locally(self) -> None:
        """This machine's dockerd trusts the CA for this address only (read per connection, no restart)."""
        target = CERTS_D / self.address
        try:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.ca, target / "ca.crt")
        except PermissionError:
            raise RuntimeError(f"cannot write {target}/ca.crt (root needed for /etc/docker/certs.d)") from None
        self.trusted_dirs.append(target)

    def trust(self, host: Host) -> None:
        """The host's dockerd trusts the CA for this address."""
        host.put_file(f"/etc/docker/certs.d/{self.address}/ca.crt", self.ca.read_bytes())

    def login(self, host: Host, *, user: str = "root") -> str:
        """Harness only: `docker login` inside a host (password on stdin)."""
        return host.check('printf %s "$REG_PASSWORD" | docker login --username "$REG_USER" --password-stdin "$REG"',
                          user=user, env={"REG": self.address, "REG_USER": self.username,
                                          "REG_PASSWORD": self.password})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for d in self.trusted_dirs:
            shutil.rmtree(d, ignore_errors=True)
            try:
                d.parent.rmdir()  # certs.d itself, when nothing else is in it
            except OSError:
                pass
        self.trusted_dirs.clear()


# --------------------------------------------------------------------------- scripts/hosts

DEMO_PREFIX = "plat-host-"
DEMO_NETWORK = "plat-hosts"
DEMO_LABELS = {"plat.demo": "1"}


def demo_dir() -> Path:
    if home := os.environ.get("PLAT_HOME"):
        return Path(home) / "demo-hosts"
    return Path.home() / ".plat-demo"


def _demo_containers(client: docker.DockerClient) -> list[Container]:
    flt = {"label": [f"plat.role={ROLE}", "plat.demo=1"]}
    return [c for c in client.containers.list(all=True, filters=flt) if "plat.test" not in c.labels]


def _demo_bed(client: docker.DockerClient, key: KeyPair | None, directory: Path) -> Testbed:
    # Container names are the host names (plat-host-1…): prefix "" and names carry the prefix.
    return Testbed(client, network=DEMO_NETWORK, labels=DEMO_LABELS,
                   authorized_keys=[key.public_line] if key else [], workdir=directory)


def hosts_up(count: int, directory: Path | None = None, log: Log = _stderr) -> tuple[list[Host], SshEnv]:
    """Hosts plat-host-1..count (kept running; extra ones removed), and an SSH setup for them in `directory`."""
    directory = directory or demo_dir()
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = load_keypair(directory) or generate_keypair(directory, comment="plat-demo")
    client = docker.from_env(timeout=300)
    bed = _demo_bed(client, key, directory)
    names = [f"{DEMO_PREFIX}{i}" for i in range(1, count + 1)]
    for c in _demo_containers(client):
        env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"] or [])
        stale = (c.name not in names or c.status != "running"
                 or env.get("PLAT_E2E_AUTHORIZED_KEYS") != key.public_line or c.image.tags[:1] != [bed.image])
        if stale:
            log(f"hosts: removing {c.name}")
            bed.remove_host(c.name)
    kept = [h for n in names if (h := bed.adopt(n))]
    missing = [n for n in names if n not in bed.hosts]
    if missing:
        t0 = time.monotonic()
        bed.make_hosts(missing)
        log(f"hosts: started {', '.join(missing)} in {time.monotonic() - t0:.1f}s")
    if kept:
        log(f"hosts: already up: {', '.join(h.name for h in kept)}")
    hosts = [bed.hosts[n] for n in names]
    return hosts, write_ssh_env(directory, hosts, key.private)


def hosts_down(directory: Path | None = None, log: Log = _stderr) -> None:
    directory = directory or demo_dir()
    client = docker.from_env(timeout=300)
    bed = _demo_bed(client, None, directory)
    for c in _demo_containers(client):
        log(f"hosts: removing {c.name}")
        bed.remove_host(c.name)
    for n in client.networks.list(names=[DEMO_NETWORK]):
        if n.name == DEMO_NETWORK and n.attrs.get("Labels", {}).get("plat.demo") == "1":
            n.remove()
    for name in ("ssh_config", "known_hosts"):
        (directory / name).unlink(missing_ok=True)


def _print_hosts(hosts: list[Host], env: SshEnv) -> None:
    print("# plat.yaml")
    print("hosts:")
    for h in hosts:
        print(f"  - {h.name}")
    for h in hosts:
        print(f"# {h.name}: ssh -F {env.config} {h.name}   gateway {h.gateway_url}")
    print(f"export PLAT_SSH_CONFIG={env.config}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/hosts", description=(
        "Hosts in containers (own sshd and Docker engine) for trying plat with remote hosts. "
        "SSH setup goes to $PLAT_HOME/demo-hosts or ~/.plat-demo."))
    sub = parser.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start plat-host-1..N (kept running until `down`)")
    up.add_argument("count", type=int, nargs="?", default=2)
    up.add_argument("--dir", type=Path, help="where ssh_config, known_hosts and the key go")
    down = sub.add_parser("down", help="remove the hosts and their network")
    down.add_argument("--dir", type=Path)
    status = sub.add_parser("status", help="list the hosts")
    status.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "up":
        if not 1 <= args.count <= 16:
            parser.error("count: 1 to 16 hosts")
        hosts, env = hosts_up(args.count, args.dir)
        _print_hosts(hosts, env)
    elif args.cmd == "down":
        hosts_down(args.dir)
    else:
        client = docker.from_env()
        for c in sorted(_demo_containers(client), key=lambda c: c.name):
            print(f"{c.name}\t{c.status}\t" + " ".join(f"{k}->127.0.0.1:{v}" for k, v in sorted(_published(c).items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
