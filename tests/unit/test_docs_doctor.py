"""`plat doctor`: each check is a function of its inputs; fakes stand in for the engine, SSH and HTTP."""

from __future__ import annotations

import json
import ssl
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest
from typer.testing import CliRunner

from plat import __version__
from plat import doctor as d
from plat.cli import app
from plat.config import AgentSettings, Host
from plat.errors import PlatError
from plat.remote.ssh import SSHParams, fingerprint


def params(**kw: Any) -> SSHParams:
    base = SSHParams(name="web1", hostname="10.0.0.5", port=22, user="deploy")
    return replace(base, **kw)


# -- this machine ------------------------------------------------------------------------------
def test_docker_ok_names_the_version() -> None:
    class Client:
        def version(self) -> dict[str, str]:
            return {"Version": "27.1.0", "ApiVersion": "1.46", "Os": "linux", "Arch": "amd64"}

    check, client = d.docker_check(lambda: Client())
    assert (check.status, check.detail) == (d.OK, "Docker 27.1.0 (API 1.46, linux/amd64)")
    assert client is not None


def test_docker_unreachable_fails_with_what_to_do() -> None:
    def connect() -> None:
        raise PlatError("no Docker engine answers at unix:///var/run/docker.sock", "start one")

    check, client = d.docker_check(connect)
    assert check.status == d.FAIL and "no Docker engine" in check.detail and check.fix == "start one"
    assert client is None


def test_ssh_config_absent_is_fine(tmp_path: Path) -> None:
    check, config = d.ssh_config_check(tmp_path / "none")
    assert check.status == d.OK and "defaults apply" in check.detail
    assert config is not None


def test_ssh_config_counts_host_patterns_and_reports_parse_errors(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("Host web1 web2\n  User deploy\nHost *\n  ServerAliveInterval 30\n")
    check, _ = d.ssh_config_check(path)
    assert check.status == d.OK and check.detail.endswith("2 host patterns")

    def broken(p: Path) -> None:
        raise PlatError(f"{p}: cannot parse the SSH config: bad line")

    check, config = d.ssh_config_check(path, broken)
    assert check.status == d.FAIL and "cannot parse" in check.detail and config is None


def test_manifest_check_says_where_commands_go(tmp_path: Path) -> None:
    check, sc = d.manifest_check(str(tmp_path), None)
    assert check.status == d.OK and "local agent" in check.detail and sc.fleet is None
    (tmp_path / "plat.yaml").write_text("name: shop\nhosts: [web1, web2]\n")
    check, sc = d.manifest_check(str(tmp_path), None)
    assert (check.status, check.detail) == (d.OK, "shop: 2 hosts")
    (tmp_path / "plat.yaml").write_text("name: shop\nhostz: [web1]\n")
    check, sc = d.manifest_check(str(tmp_path), None)
    assert check.status == d.FAIL and "did you mean 'hosts'" in check.detail and sc is None


# -- keys and known_hosts --------------------------------------------------------------------
def key_file(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    path.chmod(mode)
    return path


def test_identity_files_owner_only_are_ok(tmp_path: Path) -> None:
    key = key_file(tmp_path, "deploy_ed25519", 0o600)
    check = d.identity_check("web1", params(identity_files=(str(key),)))
    assert check.status == d.OK and str(key) in check.detail and check.host == "web1"


def test_an_identity_file_others_can_read_fails_with_chmod(tmp_path: Path) -> None:
    key = key_file(tmp_path, "deploy_ed25519", 0o644)
    check = d.identity_check("web1", params(identity_files=(str(key),)))
    assert check.status == d.FAIL and "mode 0644" in check.detail
    assert check.fix == f"chmod 600 {key}"
    key.chmod(0o640)
    assert d.identity_check("web1", params(identity_files=(str(key),))).status == d.FAIL


def test_a_missing_identity_file_fails(tmp_path: Path) -> None:
    check = d.identity_check("web1", params(identity_files=(str(tmp_path / "gone"),)))
    assert check.status == d.FAIL and "does not exist" in check.detail


def test_a_missing_identity_file_fails_even_next_to_another_key(tmp_path: Path) -> None:
    # OpenSSH would skip it; paramiko's login stops at it.
    key = key_file(tmp_path, "deploy_ed25519", 0o600)
    check = d.identity_check("web1", params(identity_files=(str(tmp_path / "gone"), str(key))),
                             agent_socket="/tmp/a.sock")
    assert check.status == d.FAIL and check.detail == f"IdentityFile {tmp_path / 'gone'} does not exist"


def test_default_keys_and_the_agent(tmp_path: Path) -> None:
    empty = tmp_path / "ssh"
    empty.mkdir()
    check = d.identity_check("web1", params(), agent_socket=None, ssh_dir=empty)
    assert check.status == d.WARN and "nothing to log in with" in check.detail
    assert d.identity_check("web1", params(), agent_socket="/tmp/agent.sock", ssh_dir=empty).detail == "ssh-agent"
    key_file(empty, "id_ed25519", 0o600)
    check = d.identity_check("web1", params(), agent_socket=None, ssh_dir=empty)
    assert check.status == d.OK and "default key" in check.detail
    (empty / "id_ed25519").chmod(0o644)
    assert d.identity_check("web1", params(), ssh_dir=empty).status == d.FAIL


def test_identities_only_without_a_file_fails(tmp_path: Path) -> None:
    check = d.identity_check("web1", params(identities_only=True), agent_socket="/tmp/agent.sock", ssh_dir=tmp_path)
    assert check.status == d.FAIL and "IdentitiesOnly" in check.detail


@pytest.fixture(scope="module")
def host_key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def test_known_host_key_ok_shows_the_fingerprint(host_key: paramiko.PKey) -> None:
    keys = paramiko.HostKeys()
    keys.add("10.0.0.5", host_key.get_name(), host_key)
    check = d.known_host_check("web1", params(), keys)
    assert check.status == d.OK and fingerprint(host_key) in check.detail


def test_an_unknown_host_fails_with_plat_hosts_trust(host_key: paramiko.PKey) -> None:
    keys = paramiko.HostKeys()
    keys.add("10.0.0.5", host_key.get_name(), host_key)  # port 22 only
    check = d.known_host_check("web1", params(port=2222), keys)
    assert check.status == d.FAIL and "[10.0.0.5]:2222 is not in" in check.detail
    assert "plat hosts trust web1" in check.fix


def test_known_hosts_files_are_read_from_params(tmp_path: Path, host_key: paramiko.PKey) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(f"[10.0.0.5]:2222 {host_key.get_name()} {host_key.get_base64()}\n")
    check = d.known_host_check("web1", params(port=2222, known_hosts=(str(known),)))
    assert check.status == d.OK


# -- SSH, the host's engine, its agent -------------------------------------------------------------
def test_ssh_connects_with_a_short_timeout() -> None:
    seen = {}

    def connect(p: SSHParams, config: Any) -> str:
        seen["timeout"] = p.connect_timeout
        return "client"

    check, client = d.ssh_check("web1", params(connect_timeout=30.0, proxy_jump="bastion"), None, connect)
    assert seen["timeout"] == d.SSH_TIMEOUT and client == "client"
    assert (check.status, check.detail) == (d.OK, "deploy@10.0.0.5:22 via bastion")


def test_ssh_failure_keeps_plats_message_and_hint() -> None:
    def connect(p: SSHParams, config: Any) -> None:
        raise PlatError("web1: SSH refused user 'deploy'", "check User and IdentityFile")

    check, client = d.ssh_check("web1", params(), None, connect)
    assert (check.status, check.detail, check.fix, client) == (d.FAIL, "web1: SSH refused user 'deploy'",
                                                                "check User and IdentityFile", None)


class FakeConn:
    def __init__(self, health: Any = None, docker: Any = None) -> None:
        self._health, self._docker = health, docker

    def agent(self) -> Any:
        if isinstance(self._health, PlatError):
            raise self._health
        conn = self

        class Agent:
            def health(self) -> dict[str, str]:
                return conn._health

        return Agent()

    @property
    def docker(self) -> Any:
        if isinstance(self._docker, Exception):
            raise self._docker
        return self._docker


def test_agent_answers_with_this_version() -> None:
    check = d.agent_check("web1", FakeConn({"status": "ok", "version": __version__}))
    assert check.status == d.OK


def test_an_agent_of_another_version_is_a_warning_with_the_upgrade() -> None:
    check = d.agent_check("web1", FakeConn({"status": "ok", "version": "0.0.9"}))
    assert check.status == d.WARN and "plat hosts bootstrap web1" in check.fix


def test_no_agent_yet_is_a_warning_since_a_deploy_installs_it() -> None:
    check = d.agent_check("web1", FakeConn(PlatError("web1: no plat agent is installed", "bootstrap")))
    assert check.status == d.WARN and "plat deploy" in check.fix


def test_an_agent_that_does_not_answer_fails() -> None:
    check = d.agent_check("web1", FakeConn(PlatError("web1: ConnectError: refused", "is the agent up?")))
    assert (check.status, check.fix) == (d.FAIL, "is the agent up?")


def test_host_engine() -> None:
    class Engine:
        def version(self) -> dict[str, str]:
            return {"Version": "26.1.5"}

    assert d.host_docker_check("web1", FakeConn(docker=Engine())).detail == "Docker 26.1.5"
    check = d.host_docker_check("web1", FakeConn(docker=PlatError("web1: cannot reach the Docker engine", "hint")))
    assert check.status == d.FAIL


def test_host_checks_stop_at_ssh_and_name_the_host(tmp_path: Path) -> None:
    config = paramiko.SSHConfig.from_text(
        f"Host web1\n  HostName 10.0.0.5\n  User deploy\n  UserKnownHostsFile {tmp_path / 'known'}\n")

    def refuse(p: SSHParams, config: Any) -> None:
        raise PlatError("web1: cannot reach 10.0.0.5:22 (connection refused)")

    checks = d.host_checks(Host(host="web1"), AgentSettings(), config, connect=refuse, env={})
    assert [c.name for c in checks] == ["ssh keys", "host key", "ssh"]
    assert {c.host for c in checks} == {"web1"}
    assert checks[1].status == checks[2].status == d.FAIL


def test_host_checks_of_a_jump_host_check_its_key_too(tmp_path: Path) -> None:
    config = paramiko.SSHConfig.from_text(
        f"Host web1\n  ProxyJump bastion\nHost *\n  UserKnownHostsFile {tmp_path / 'known'}\n")
    checks = d.host_checks(Host(host="web1"), AgentSettings(), config,
                           connect=lambda p, c: (_ for _ in ()).throw(PlatError("down")), env={})
    assert [c.name for c in checks] == ["ssh keys", "host key", "jump host key (bastion)", "ssh"]


def test_http_host_without_its_token_fails() -> None:
    host = Host(host="api1", transport="http", url="https://api1:7443", token_env="PLAT_TEST_NO_SUCH_TOKEN")
    checks = d.host_checks(host, AgentSettings(), paramiko.SSHConfig(), env={})
    assert [(c.name, c.status) for c in checks] == [("agent", d.FAIL)]
    assert "PLAT_TEST_NO_SUCH_TOKEN" in checks[0].detail


# -- the registry ----------------------------------------------------------------------------
def answering(status: int, seen: list[tuple[str, Any]] | None = None) -> Any:
    def get(url: str, timeout: float, verify: Any = True) -> httpx.Response:
        if seen is not None:
            seen.append((url, verify))
        return httpx.Response(status, request=httpx.Request("GET", url))
    return get


@pytest.mark.parametrize(("status", "expected"), [(200, d.OK), (401, d.OK), (404, d.FAIL), (502, d.FAIL)])
def test_registry_answers_200_or_401(status: int, expected: str) -> None:
    seen: list[tuple[str, Any]] = []
    check = d.registry_check("registry.example.com/team", answering(status, seen), Path("/nonexistent"))
    assert check.status == expected
    assert seen == [("https://registry.example.com/v2/", True)]


def test_registry_uses_dockers_ca_from_certs_d(tmp_path: Path) -> None:
    from tools.testbed import make_ca_and_cert

    bundle, _, _ = make_ca_and_cert(tmp_path, "127.0.0.1")
    (tmp_path / "registry.example.com:5000").mkdir()
    (tmp_path / "registry.example.com:5000" / "ca.crt").write_bytes(bundle.read_bytes())
    seen: list[tuple[str, Any]] = []
    d.registry_check("registry.example.com:5000/team", answering(401, seen), tmp_path)
    assert isinstance(seen[0][1], ssl.SSLContext)


def test_an_untrusted_certificate_points_at_certs_d() -> None:
    def get(url: str, timeout: float, verify: Any = True) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed")

    check = d.registry_check("registry.example.com/team", get, Path("/nonexistent"))
    assert check.status == d.FAIL and "not trusted" in check.detail
    assert "/nonexistent/registry.example.com/ca.crt" in check.fix


def test_a_loopback_registry_over_plain_http_is_a_warning() -> None:
    def get(url: str, timeout: float, verify: Any = True) -> httpx.Response:
        if url.startswith("https://"):
            raise httpx.ConnectError("wrong version number")
        return httpx.Response(200, request=httpx.Request("GET", url))

    check = d.registry_check("127.0.0.1:5000/team", get, Path("/nonexistent"))
    assert check.status == d.WARN and "plain HTTP" in check.detail


def test_a_registry_value_without_a_host_fails() -> None:
    check = d.registry_check("team", answering(200), Path("/nonexistent"))
    assert check.status == d.FAIL and "names no registry host" in check.detail


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1:5000", True), ("localhost", True), ("[::1]:5000", True),
                                                 ("registry.example.com", False), ("10.0.0.5:5000", False)])
def test_loopback(host: str, loopback: bool) -> None:
    assert d._loopback(host) is loopback


# -- the local agent ---------------------------------------------------------------------------
def running(up: bool) -> Any:
    return lambda client: {"running": up, "api": "http://127.0.0.1:7070", "gateway": "http://127.0.0.1:8080"}


def test_local_agent() -> None:
    assert d.local_agent_check(None).status == d.WARN
    stopped = d.local_agent_check(object(), running(False))
    assert stopped.status == d.WARN and "plat deploy" in stopped.fix
    ok = d.local_agent_check(object(), running(True), lambda: {"version": __version__})
    assert ok.status == d.OK and "gateway http://127.0.0.1:8080" in ok.detail
    old = d.local_agent_check(object(), running(True), lambda: {"version": "0.0.1"})
    assert old.status == d.WARN and "plat agent up" in old.fix

    def silent() -> dict[str, str]:
        raise PlatError("the local agent does not answer at http://127.0.0.1:7070")

    assert d.local_agent_check(object(), running(True), silent).status == d.FAIL


# -- the command ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("statuses", "code"), [((d.OK, d.WARN), 0), ((d.OK, d.FAIL, d.WARN), 1)])
def test_doctor_exits_1_only_when_a_check_fails(monkeypatch: pytest.MonkeyPatch, statuses: tuple[str, ...],
                                                code: int) -> None:
    checks = [d.Check(f"check {i}", s, "detail", "fix", "web1" if i else None) for i, s in enumerate(statuses)]
    seen = {}

    def fake(app_dir: str, env: str | None) -> list[d.Check]:
        seen.update(app_dir=app_dir, env=env)
        return checks

    monkeypatch.setattr(d, "run_checks", fake)
    res = CliRunner().invoke(app, ["doctor", "--json", "-C", "shop", "-e", "production"])
    assert res.exit_code == code
    assert seen == {"app_dir": "shop", "env": "production"}
    assert json.loads(res.stdout) == [c.as_dict() for c in checks]
    assert set(json.loads(res.stdout)[0]) == {"check", "host", "status", "detail", "fix"}
    table = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert table.exit_code == code and "web1: check 1" in table.stdout
