"""The test bed checks itself: SSH with strict host keys, a nested dockerd that runs and networks
containers, a registry both engines reach. If these fail, every other e2e test would too."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import docker
import paramiko
import pytest

from tests.integration.conftest import SESSION
from tools import testbed as tb


def run(client: paramiko.SSHClient, command: str, timeout: float = 60) -> tuple[int, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode() + stderr.read().decode()
    return stdout.channel.recv_exit_status(), out


def test_hosts_are_distinct_and_published_on_localhost_only(hosts: list[tb.Host]) -> None:
    assert len(hosts) >= 2
    assert len({h.host_key for h in hosts}) == len(hosts), "each host has its own host key"
    for h in hosts:
        assert h.host_key.startswith("ssh-ed25519 ")
        assert h.exec("hostname") == (0, f"{h.name}\n")
        bindings = h.container.attrs["HostConfig"]["PortBindings"]
        assert {b["HostIp"] for spec in bindings.values() for b in spec} == {"127.0.0.1"}
        assert h.ssh_port != h.gateway_port
        h.container.reload()
        published = h.container.attrs["NetworkSettings"]["Ports"]
        assert {b["HostIp"] for spec in published.values() for b in spec or []} == {"127.0.0.1"}


def test_ssh_with_generated_known_hosts_only(hosts: list[tb.Host], ssh_env: tb.SshEnv) -> None:
    assert oct(ssh_env.key.stat().st_mode & 0o777) == "0o600"
    assert ssh_env.env == {"PLAT_SSH_CONFIG": str(ssh_env.config)}
    text = ssh_env.known_hosts.read_text()
    for h in hosts:
        assert f"[127.0.0.1]:{h.ssh_port} {h.host_key}\n" in text
        client = tb.ssh_connect(ssh_env, h.name)  # RejectPolicy, only ssh_env.known_hosts
        try:
            rc, out = run(client, "hostname && docker version --format '{{.Server.Version}}'")
            assert rc == 0, out
            assert out.splitlines()[0] == h.name
        finally:
            client.close()


def test_ssh_config_is_what_plat_and_openssh_read(hosts: list[tb.Host], ssh_env: tb.SshEnv) -> None:
    config = paramiko.SSHConfig.from_path(str(ssh_env.config))
    for h in hosts:
        found = config.lookup(h.name)
        assert (found["hostname"], int(found["port"]), found["user"]) == ("127.0.0.1", h.ssh_port, "root")
        assert found["identityfile"] == [str(ssh_env.key)]
        assert found["userknownhostsfile"] == str(ssh_env.known_hosts)
    if not shutil.which("ssh"):
        pytest.skip("no OpenSSH client on this machine")
    # OpenSSH with this config alone: HOME elsewhere, so ~/.ssh plays no part.
    proc = subprocess.run(ssh_env.ssh_command(hosts[0].name, "docker", "info", "--format", "{{.Driver}}"),
                          check=False, capture_output=True, text=True, timeout=60,
                          env={"HOME": str(ssh_env.dir), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_deploy_user_is_in_group_docker(hosts: list[tb.Host], make_ssh_env) -> None:
    env = make_ssh_env(user="deploy")
    client = tb.ssh_connect(env, hosts[0].name)
    try:
        rc, out = run(client, "id -un && id -Gn && docker ps -q")
        assert rc == 0, out
        lines = out.splitlines()
        assert lines[0] == "deploy" and "docker" in lines[1].split()
    finally:
        client.close()


def test_only_public_keys_are_accepted(hosts: list[tb.Host]) -> None:
    transport = paramiko.Transport(("127.0.0.1", hosts[0].ssh_port))
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as exc:
            transport.auth_none("root")
        assert exc.value.allowed_types == ["publickey"]
    finally:
        transport.close()


def test_unknown_host_key_is_refused(hosts: list[tb.Host], make_ssh_env) -> None:
    first, other = hosts[0], hosts[1]
    env = make_ssh_env(trusted=[other.name])
    assert str(first.ssh_port) not in env.known_hosts.read_text()
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        tb.ssh_connect(env, first.name)
    tb.ssh_connect(env, other.name).close()  # the trusted one still works


def test_changed_host_key_is_refused(hosts: list[tb.Host], make_ssh_env) -> None:
    env = make_ssh_env(mismatched=[hosts[0].name])
    with pytest.raises(paramiko.BadHostKeyException):
        tb.ssh_connect(env, hosts[0].name)


def test_wrong_client_key_is_refused(hosts: list[tb.Host], make_ssh_env) -> None:
    env = make_ssh_env(wrong_key=True)
    with pytest.raises(paramiko.AuthenticationException):
        tb.ssh_connect(env, hosts[0].name)


def test_image_over_ssh_runs_and_containers_reach_each_other_and_the_host(
        engine: docker.DockerClient, hosts: list[tb.Host], ssh_env: tb.SshEnv) -> None:
    base = tb.base_image()
    host = hosts[0]
    client = tb.ssh_connect(ssh_env, host.name)
    try:
        stdin, stdout, stderr = client.exec_command("docker load")
        for chunk in engine.images.get(base).save(named=True):
            stdin.write(chunk)
        stdin.channel.shutdown_write()
        out = stdout.read().decode() + stderr.read().decode()
        assert stdout.channel.recv_exit_status() == 0, out
        assert base in out

        net = f"tb-{SESSION}"
        perl = ("$s = IO::Socket::INET->new(LocalPort => 8000, Listen => 5, ReuseAddr => 1) or die;"
                " while ($c = $s->accept) { print $c qq(hello from srv\\n); close $c }")
        rc, out = run(client, f"docker network create {net} >/dev/null && docker run -d --name tb-srv --network {net} "
                              f"{base} " + shlex.join(["perl", "-MIO::Socket::INET", "-e", perl]))
        assert rc == 0, out
        # By name through the network's DNS, retried while the server starts.
        probe = ("for i in $(seq 50); do (exec 3<>/dev/tcp/tb-srv/8000 && cat <&3) 2>/dev/null && exit 0; "
                 "sleep 0.1; done; exit 1")
        rc, out = run(client, f"docker run --rm --network {net} {base} bash -c {shlex.quote(probe)}")
        assert rc == 0 and "hello from srv" in out, out
        # And the host itself (where a host-networked agent listens), through host-gateway.
        rc, out = run(client, "nohup python3 -m http.server 8099 --bind 0.0.0.0 >/dev/null 2>&1 & echo started")
        assert rc == 0, out
        probe = ('for i in $(seq 50); do (exec 3<>/dev/tcp/host.docker.internal/8099 && '
                 'printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && head -n1 <&3) 2>/dev/null && exit 0; '
                 'sleep 0.1; done; exit 1')
        rc, out = run(client, f"docker run --rm --network {net} --add-host host.docker.internal:host-gateway "
                              f"{base} bash -c {shlex.quote(probe)}")
        assert rc == 0 and "200" in out, out
    finally:
        run(client, f"pkill -f 'http[.]server 8099'; docker rm -f tb-srv; docker network rm tb-{SESSION}")
        client.close()


def test_registry_push_from_here_pull_in_a_host(engine: docker.DockerClient, hosts: list[tb.Host],
                                                e2e_network, e2e_registry: tb.Registry) -> None:
    gateway = e2e_network.attrs["IPAM"]["Config"][0]["Gateway"]
    assert e2e_registry.address.startswith(f"{gateway}:")
    repo, tag = f"{e2e_registry.address}/plat-e2e/testbed", SESSION
    image = engine.images.get(tb.base_image())
    image.tag(repo, tag)
    try:
        # Without credentials the registry says no.
        with pytest.raises(docker.errors.APIError):
            _push(engine, repo, tag, None)
        _push(engine, repo, tag, e2e_registry.auth_config)

        host = hosts[0]
        rc, out = host.exec(f"docker pull {repo}:{tag}")
        assert rc != 0 and "no basic auth credentials" in out, out
        assert "Login Succeeded" in e2e_registry.login(host)
        rc, out = host.exec(f"docker pull {repo}:{tag} && docker image inspect --format '{{{{.Id}}}}' {repo}:{tag}")
        assert rc == 0, out
        assert out.strip().splitlines()[-1] == image.id
    finally:
        engine.images.remove(f"{repo}:{tag}")


def _push(engine: docker.DockerClient, repo: str, tag: str, auth: dict[str, str] | None) -> None:
    for line in engine.images.push(repo, tag=tag, auth_config=auth, stream=True, decode=True):
        if "error" in line:
            raise docker.errors.APIError(line["error"])


def test_a_host_made_later_joins_ssh_env_and_trusts_the_registry(testbed: tb.Testbed, make_host, ssh_env: tb.SshEnv,
                                                                 e2e_registry: tb.Registry) -> None:
    spare = make_host("tb-spare", ports=[7443])
    try:
        assert 7443 in spare.ports and spare.ports[7443] not in (spare.ssh_port, spare.gateway_port)
        assert "Host tb-spare\n" in ssh_env.config.read_text()
        assert spare.known_hosts_line in ssh_env.known_hosts.read_text()
        client = tb.ssh_connect(ssh_env, "tb-spare")
        try:
            assert run(client, "hostname") == (0, "tb-spare\n")
        finally:
            client.close()
        assert spare.exec(f"test -s /etc/docker/certs.d/{e2e_registry.address}/ca.crt")[0] == 0
    finally:
        testbed.remove_host("tb-spare")
    assert "tb-spare" not in ssh_env.config.read_text() and "tb-spare" not in ssh_env.hosts
    assert not testbed.client.containers.list(all=True, filters={"name": spare.container.name})
