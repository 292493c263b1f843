"""The control API over HTTPS on 127.0.0.1: a self-signed certificate made here, clients that
verify against it (httpx, AgentClient), and clients that must fail (plain HTTP, TLS 1.1, other CA)."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.api import make_api
from agent.core import Agent
from agent.db import Store
from agent.httpserver import tls_context
from agent.settings import Settings
from agent.tokens import bootstrap_admin
from plat.agent_client import AgentClient
from plat.errors import PlatError
from tests.integration.agent.test_control_api import FakeDriver, FakeRouter


def self_signed(directory: Path, name: str = "agent") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (as an IP SAN) signed by its own key; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"plat {name}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_api(tmp_path: Path) -> Iterator[dict[str, Any]]:
    cert, key = self_signed(tmp_path)
    settings = Settings.from_env({"PLAT_AGENT_STATE": str(tmp_path), "PLAT_AGENT_TLS_CERT": str(cert),
                                  "PLAT_AGENT_TLS_KEY": str(key)})
    assert settings.tls
    store = Store(tmp_path / "agent.db")
    bootstrap_admin(store, tmp_path)
    core = Agent(settings, store, FakeDriver("127.0.0.1:9"), FakeRouter())
    server = make_api(core, "127.0.0.1", 0, tls_context(cert, key))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield {"url": f"https://127.0.0.1:{server.server_address[1]}", "port": server.server_address[1],
               "cert": cert, "token": (tmp_path / "admin-token").read_text().strip(), "dir": tmp_path}
    finally:
        server.shutdown()
        server.server_close()


def test_https_with_a_verified_self_signed_certificate(tls_api: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {tls_api['token']}"}
    trust = ssl.create_default_context(cafile=str(tls_api["cert"]))
    with httpx.Client(verify=trust) as http:
        r = http.get(tls_api["url"] + "/v1/health", headers=auth)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert http.get(tls_api["url"] + "/v1/health").status_code == 401, "TLS is no substitute for the token"
    agent = AgentClient(tls_api["url"], tls_api["token"], where="tls-host", verify=tls_api["cert"], actor="alice@ci")
    assert agent.health()["status"] == "ok"
    assert agent.set_secret("web", "API_TOKEN", "x")["key"] == "API_TOKEN"
    assert agent.audit("web")[0]["actor"] == "alice@ci"


def test_clients_that_cannot_verify_or_speak_tls_are_refused(tls_api: dict[str, Any]) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(tls_api["url"] + "/v1/health")  # the system CAs do not know a self-signed cert
    other, _ = self_signed(tls_api["dir"], "other")
    untrusted = r"^tls-host: the agent's TLS certificate is not trusted \(self-signed certificate\)"
    with pytest.raises(PlatError, match=untrusted):
        AgentClient(tls_api["url"], tls_api["token"], where="tls-host", verify=other).health()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_api['port']}/v1/health", timeout=5)  # plain HTTP on the TLS port


def test_tls_1_2_is_the_floor(tls_api: dict[str, Any]) -> None:
    server = tls_context(tls_api["cert"], tls_api["dir"] / "agent.key")
    assert server.minimum_version == ssl.TLSVersion.TLSv1_2
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        client = ssl.create_default_context(cafile=str(tls_api["cert"]))
        client.minimum_version = client.maximum_version = version
        with socket.create_connection(("127.0.0.1", tls_api["port"]), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]


def test_a_stalled_handshake_does_not_block_other_clients(tls_api: dict[str, Any]) -> None:
    """The handshake runs in the connection's thread: a client that connects and says nothing
    does not hold up the next one."""
    trust = ssl.create_default_context(cafile=str(tls_api["cert"]))
    with socket.create_connection(("127.0.0.1", tls_api["port"]), timeout=5):
        r = httpx.get(tls_api["url"] + "/v1/health", verify=trust, timeout=5,
                      headers={"Authorization": f"Bearer {tls_api['token']}"})
        assert r.status_code == 200
