"""Pure parts of the SSH transport and of layer-diff delivery."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import paramiko
import pytest

from plat.errors import PlatError
from plat.remote.delivery import chain_ids, chains_present, missing_layers, partial_archive
from plat.remote.ssh import (
    Address,
    SSHParams,
    connect,
    fingerprint,
    known_hosts_line,
    parse_address,
    resolve,
    trust,
)


@pytest.mark.parametrize("text,expected", [
    ("web1", Address("web1")),
    ("deploy@web1.example.com", Address("web1.example.com", "deploy")),
    ("root@10.0.0.5:2222", Address("10.0.0.5", "root", 2222)),
    ("[::1]:2200", Address("::1", None, 2200)),
])
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "a b", "user@", "h:0", "h:70000", "h;rm -rf /", "-oProxyCommand=x"])
def test_parse_address_refuses_junk(text: str) -> None:
    with pytest.raises(PlatError, match="expected \\[user@\\]host\\[:port\\]"):
        parse_address(text)


CONFIG = """
Host web1
  HostName 127.0.0.1
  Port 2201
  User deploy
  IdentityFile ~/keys/id_plat
  IdentitiesOnly yes
  UserKnownHostsFile /tmp/kh1 /tmp/kh2
  ProxyJump bastion
Host *
  ConnectTimeout 3
"""


def test_resolve_applies_ssh_config_and_address_wins() -> None:
    config = paramiko.SSHConfig.from_text(CONFIG)
    p = resolve(parse_address("web1"), config)
    assert (p.hostname, p.port, p.user) == ("127.0.0.1", 2201, "deploy")
    assert p.identity_files[0].endswith("/keys/id_plat") and not p.identity_files[0].startswith("~")
    assert p.identities_only and p.known_hosts == ("/tmp/kh1", "/tmp/kh2") and p.proxy_jump == "bastion"
    assert p.connect_timeout == 3 and p.known_hosts_key == "[127.0.0.1]:2201"
    q = resolve(parse_address("root@web1:22"), config)
    assert (q.user, q.port, q.known_hosts_key) == ("root", 22, "127.0.0.1")
    other = resolve(parse_address("other"), config, default_user="me")
    assert (other.hostname, other.port, other.user, other.proxy_jump) == ("other", 22, "me", None)


def test_fingerprint_matches_openssh_format() -> None:
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(_ED25519))
    expected = "SHA256:" + __import__("base64").b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    assert fingerprint(key) == expected and "=" not in fingerprint(key)


def test_trust_appends_once_and_refuses_a_different_key(tmp_path: Path) -> None:
    kh = tmp_path / "ssh" / "known_hosts"
    params = SSHParams("web1", "127.0.0.1", 2201, "root", known_hosts=(str(kh),))
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(_ED25519))
    assert trust(params, key) == kh and trust(params, key) == kh
    assert kh.read_text() == known_hosts_line(params, key) and \
        kh.read_text().startswith("[127.0.0.1]:2201 ssh-ed25519 ")
    assert kh.stat().st_mode & 0o777 == 0o600
    other = paramiko.Ed25519Key.from_private_key(io.StringIO(_ED25519_B))
    with pytest.raises(PlatError, match="already holds a different key .*ssh-ed25519"):
        trust(params, other)


def test_connect_refused_port_names_the_host() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    params = SSHParams("web9", "127.0.0.1", port, "root", known_hosts=("/nonexistent",), connect_timeout=2)
    with pytest.raises(PlatError, match=r"web9: cannot reach 127.0.0.1:\d+ \(connection refused\)"):
        connect(params)


def test_connect_to_a_silent_server_times_out_on_the_banner() -> None:
    import socket

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)  # accepts (kernel backlog) but never speaks SSH
        params = SSHParams("mute", "127.0.0.1", srv.getsockname()[1], "root", known_hosts=("/nonexistent",),
                           connect_timeout=1)
        with pytest.raises(PlatError, match="mute: SSH failed: connected, but no SSH server answered"):
            connect(params)


# -- layer diff ------------------------------------------------------------------------------
D = [f"sha256:{c * 64}" for c in "abc"]


def test_chain_ids_follow_the_oci_definition() -> None:
    chains = chain_ids(D)
    assert chains[0] == D[0]
    assert chains[1] == "sha256:" + hashlib.sha256(f"{D[0]} {D[1]}".encode()).hexdigest()
    assert chains[2] == "sha256:" + hashlib.sha256(f"{chains[1]} {D[2]}".encode()).hexdigest()


def test_missing_layers_are_those_whose_chain_the_host_lacks() -> None:
    have = chains_present([{"RootFS": {"Layers": D[:2]}}, {"RootFS": {}}])
    assert missing_layers(D, have) == [2]
    assert missing_layers(D, set()) == [0, 1, 2]
    assert missing_layers(D, chains_present([{"RootFS": {"Layers": D}}])) == []
    # The same diff on a different base is a different chain: still missing.
    assert missing_layers([D[1]], have) == [0]


def _save_archive() -> bytes:
    buf = io.BytesIO()
    files = {"l0/layer.tar": b"base" * 1000, "l1/layer.tar": b"deps" * 1000, "l2/layer.tar": b"app",
             "cfg.json": b"{}",
             "manifest.json": json.dumps([{"Config": "cfg.json", "RepoTags": ["a:1"],
                                           "Layers": ["l0/layer.tar", "l1/layer.tar", "l2/layer.tar"]}]).encode()}
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_partial_archive_keeps_metadata_and_only_missing_layers() -> None:
    out = io.BytesIO()
    assert partial_archive(io.BytesIO(_save_archive()), {2}, out) == 1
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        names = set(tar.getnames())
        assert names == {"l2/layer.tar", "cfg.json", "manifest.json"}
        assert tar.extractfile("l2/layer.tar").read() == b"app"  # type: ignore[union-attr]


def test_partial_archive_refuses_what_is_not_a_save() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    with pytest.raises(PlatError, match="no manifest.json"):
        partial_archive(io.BytesIO(buf.getvalue()), set(), io.BytesIO())


_ED25519 = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz
c2gtZWQyNTUxOQAAACB+qrY0b/+Ga4T2c6nYf9Ejxg4mWT/2YSvlNXcnPKyNkQAA
AIjeuaR53rmkeQAAAAtzc2gtZWQyNTUxOQAAACB+qrY0b/+Ga4T2c6nYf9Ejxg4m
WT/2YSvlNXcnPKyNkQAAAEAOJqjQWJ5gGHKsvxOYUGwd9XjXsbYDP0VcszqapbwL
Dn6qtjRv/4ZrhPZzqdh/0SPGDiZZP/ZhK+U1dyc8rI2RAAAAAAECAwQF
-----END OPENSSH PRIVATE KEY-----
"""
_ED25519_B = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz
c2gtZWQyNTUxOQAAACA9AyT+S1+j+nudYVhVSsa43oUpSsmeCUj8MUVI9/UzYAAA
AIiA0g0vgNINLwAAAAtzc2gtZWQyNTUxOQAAACA9AyT+S1+j+nudYVhVSsa43oUp
SsmeCUj8MUVI9/UzYAAAAEBlCoEUVdlVcZnvJMCC372EoYZvt7tCB8C5i8JDijGO
qz0DJP5LX6P6e51hWFVKxrjehSlKyZ4JSPwxRUj39TNgAAAAAAECAwQF
-----END OPENSSH PRIVATE KEY-----
"""


def test_partial_archive_keeps_the_target_of_a_linked_repeated_layer() -> None:
    """Legacy saves store a repeated layer as a symlink to its first copy."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"A/layer.tar": b"same", "cfg.json": b"{}"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("C/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../A/layer.tar"
        tar.addfile(link)
        manifest = json.dumps([{"Config": "cfg.json", "Layers": ["A/layer.tar", "C/layer.tar"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    out = io.BytesIO()
    partial_archive(io.BytesIO(buf.getvalue()), {1}, out)  # the host has layer 0's chain, not layer 1's
    with tarfile.open(fileobj=io.BytesIO(out.getvalue()), mode="r:gz") as tar:
        assert {"A/layer.tar", "C/layer.tar"} <= set(tar.getnames())


def test_config_errors_never_echo_values_that_may_be_secrets(tmp_path: Path) -> None:
    from plat.config import parse_manifest

    with pytest.raises(PlatError) as err:
        parse_manifest({"name": "a", "build": {"args": {"API_TOKEN": "hunter2-supersecret"}}}, tmp_path / "plat.yaml")
    assert "hunter2" not in str(err.value) and "API_TOKEN" in str(err.value)
    with pytest.raises(PlatError) as err:
        parse_manifest({"name": "a", "env": {"DB_PASSWORD": 12345}}, tmp_path / "plat.yaml")
    assert "12345" not in str(err.value)
