"""End-to-end fixtures: hosts with their own sshd and Docker engine, an SSH client setup, a registry.

Everything is session-scoped, labelled `plat.test=<session>` (tests/integration/conftest.py's LABEL)
and removed at the end. The logic lives in tools/testbed.py (scripts/hosts uses it too).

    hosts        list[Host]: PLAT_E2E_HOSTS hosts (default 2), named h1, h2, …
    make_host    make_host(name, ports=()) -> Host: one more host (ssh_env follows it)
    ssh_env      SshEnv for every host; `ssh_env.env` is {"PLAT_SSH_CONFIG": …} for the plat CLI
    make_ssh_env variants: some hosts unknown, a changed host key, a wrong client key, user deploy
    e2e_registry Registry: `address` ("ip:port"), `username`, `password`, `ca`, `auth_config`
    fleet        all of the above behind one object (tests/e2e/test_fleet.py)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import LABEL, SESSION, engine  # noqa: F401  (engine: the session fixture)
from tools import testbed as tb

HOST_COUNT = int(os.environ.get("PLAT_E2E_HOSTS", "2"))
"""How many hosts `hosts` starts (raise to 3 for benchmarks: PLAT_E2E_HOSTS=3)."""


def host_names(count: int = HOST_COUNT) -> list[str]:
    return [f"h{i}" for i in range(1, count + 1)]


@pytest.fixture(scope="session")
def ssh_keypair(tmp_path_factory: pytest.TempPathFactory) -> tb.KeyPair:
    """The e2e client key: ed25519, OpenSSH format (paramiko and OpenSSH read it), mode 0600.

    Attributes: private (Path), public (Path, `<private>.pub`), public_line (`ssh-ed25519 AAAA… plat-e2e`).
    """
    return tb.generate_keypair(tmp_path_factory.mktemp("ssh-key"))


@pytest.fixture(scope="session")
def testbed(engine: docker.DockerClient, ssh_keypair: tb.KeyPair,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tb.Testbed]:
    """The session's test bed; its hosts authorize `ssh_keypair` for root and deploy."""
    key, _, value = LABEL.partition("=")
    bed = tb.Testbed(engine, network=f"plat-e2e-{SESSION}", prefix=f"plat-e2e-{SESSION}-", labels={key: value},
                     authorized_keys=[ssh_keypair.public_line], workdir=tmp_path_factory.mktemp("testbed"))
    try:
        yield bed
    finally:
        bed.close()


@pytest.fixture(scope="session")
def e2e_network(testbed: tb.Testbed) -> docker.models.networks.Network:
    """The user-defined bridge network the hosts share (the registry listens on its gateway IP)."""
    return testbed.network


@pytest.fixture(scope="session")
def make_host(testbed: tb.Testbed) -> Callable[..., tb.Host]:
    """`make_host(name, ports=())` → a running, ready Host (extra container ports also published on 127.0.0.1)."""
    return testbed.make_host


@pytest.fixture(scope="session")
def hosts(testbed: tb.Testbed) -> list[tb.Host]:
    """HOST_COUNT running hosts (started together), each ready: sshd answers and its dockerd is up."""
    names = host_names()
    if missing := [n for n in names if n not in testbed.hosts]:
        testbed.make_hosts(missing)
    return [testbed.hosts[n] for n in names]


@pytest.fixture(scope="session")
def make_ssh_env(testbed: tb.Testbed, hosts: list[tb.Host], ssh_keypair: tb.KeyPair,
                 tmp_path_factory: pytest.TempPathFactory) -> Callable[..., tb.SshEnv]:
    """A factory of SSH client setups, each in a fresh directory:

        make_ssh_env(hosts=None, *, user="root", trusted=None, mismatched=(), key=None, wrong_key=False)

    hosts: Host objects or names (default: every host of the test bed); trusted: names whose real
    key goes into known_hosts (default all; the others are unknown); mismatched: names given a key
    that is not theirs (a changed host key); key: another private key; wrong_key: a fresh key no
    host authorizes.
    """

    def make(hosts_: Iterable[tb.Host | str] | None = None, *, user: str = "root",
             trusted: Iterable[str] | None = None, mismatched: Iterable[str] = (),
             key: Path | None = None, wrong_key: bool = False) -> tb.SshEnv:
        directory = tmp_path_factory.mktemp("ssh-env")
        chosen = [testbed.hosts[h] if isinstance(h, str) else h for h in (hosts_ or testbed.hosts.values())]
        if wrong_key:
            key = tb.generate_keypair(directory / "wrong-key", comment="not-authorized").private
        return tb.write_ssh_env(directory, chosen, key or ssh_keypair.private, user=user,
                                trusted=trusted, mismatched=mismatched)

    return make


@pytest.fixture(scope="session")
def ssh_env(testbed: tb.Testbed, hosts: list[tb.Host], ssh_keypair: tb.KeyPair,
            tmp_path_factory: pytest.TempPathFactory) -> tb.SshEnv:
    """ssh_config + known_hosts for every host, as root with `ssh_keypair`; rewritten in place when
    a host is made or removed, so `ssh_env.env` stays valid for the session.

    Attributes: dir, config, known_hosts, key (Paths), user, hosts ({name: Host}),
    env ({"PLAT_SSH_CONFIG": str(config)}), ssh_command(name, *cmd) (OpenSSH argv).
    """
    directory = tmp_path_factory.mktemp("ssh-env")
    env = tb.write_ssh_env(directory, testbed.hosts.values(), ssh_keypair.private)

    def added(host: tb.Host) -> None:
        env.hosts[host.name] = host
        tb.write_ssh_env(directory, env.hosts.values(), ssh_keypair.private)

    def removed(host: tb.Host) -> None:
        if env.hosts.pop(host.name, None):
            tb.write_ssh_env(directory, env.hosts.values(), ssh_keypair.private)

    testbed.on_new_host.append(added)
    testbed.on_removed_host.append(removed)
    return env


@pytest.fixture(scope="session")
def e2e_registry(testbed: tb.Testbed) -> tb.Registry:
    """A registry with TLS and basic auth on the hosts' network gateway, trusted by the local dockerd
    and by every host (also hosts made later). Attributes: address ("ip:port"), username, password,
    ca (Path), auth_config ({"username", "password"} for the Docker SDK), login(host) (harness)."""
    return testbed.start_registry()


class Fleet:
    """The test bed as one object: `hosts` (shared), `env` (PLAT_SSH_CONFIG for every host, spares
    included), `ssh_env(dir, trusted=, mismatched=, key=, user=)`, `other_key` (a private key no
    host authorizes), `spare_host(name)` (a host of one's own, e.g. to kill), `registry()`."""

    def __init__(self, testbed: tb.Testbed, hosts: list[tb.Host], ssh_env: tb.SshEnv, key: tb.KeyPair,
                 other_key: tb.KeyPair) -> None:
        self.testbed = testbed
        self.hosts = hosts
        self.shared = ssh_env
        self.key = key
        self.other_key = other_key.private
        self.home = testbed.workdir / "plat-home"

    @property
    def env(self) -> dict[str, str]:
        """PLAT_SSH_CONFIG for every host, and a PLAT_HOME of the session's own (deploy records)."""
        return {**self.shared.env, "PLAT_HOME": str(self.home)}

    def ssh_env(self, directory: Path, *, trusted: Iterable[str] | None = None, mismatched: Iterable[str] = (),
                key: Path | None = None, user: str = "root") -> tb.SshEnv:
        return tb.write_ssh_env(directory, self.testbed.hosts.values(), key or self.key.private, user=user,
                                trusted=trusted, mismatched=mismatched)

    def spare_host(self, name: str, **kwargs: object) -> tb.Host:
        return self.testbed.make_host(name, **kwargs)  # type: ignore[arg-type]

    def registry(self) -> tb.Registry:
        return self.testbed.start_registry()


@pytest.fixture(scope="session")
def fleet(testbed: tb.Testbed, hosts: list[tb.Host], ssh_env: tb.SshEnv, ssh_keypair: tb.KeyPair,
          tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    other = tb.generate_keypair(tmp_path_factory.mktemp("other-key"), comment="not-authorized")
    return Fleet(testbed, hosts, ssh_env, ssh_keypair, other)
