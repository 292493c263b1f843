"""Agent settings from an env mapping, as a table: defaults, overrides, refusals."""

import re
from pathlib import Path

import pytest

from agent.settings import ConfigError, Settings, is_loopback


def test_defaults_bind_loopback_only() -> None:
    s = Settings.from_env({})
    assert s.state_dir == Path("/var/lib/plat-agent")
    assert (s.api_bind, s.api_port) == ("127.0.0.1", 7070)
    assert (s.gateway_bind, s.gateway_port) == ("127.0.0.1", 8080)
    assert s.activator_port == 7071
    assert s.domain == "plat.localhost"
    assert (s.workers, s.max_attempts, s.keep_versions) == (2, 5, 3)
    assert s.max_body == 10 * 1024 * 1024
    assert (s.request_timeout, s.tick, s.idle_timeout_override) == (30.0, 1.0, None)
    assert s.haproxy == "haproxy"


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"PLAT_AGENT_STATE": "/tmp/x"}, "state_dir", Path("/tmp/x")),
        ({"PLAT_AGENT_API_BIND": "127.0.0.2"}, "api_bind", "127.0.0.2"),
        ({"PLAT_AGENT_API_BIND": "localhost"}, "api_bind", "localhost"),
        ({"PLAT_AGENT_API_PORT": "17070"}, "api_port", 17070),
        ({"PLAT_AGENT_API_PORT": "0"}, "api_port", 0),
        ({"PLAT_AGENT_GATEWAY_BIND": "::1"}, "gateway_bind", "::1"),
        ({"PLAT_AGENT_GATEWAY_PORT": "18080"}, "gateway_port", 18080),
        ({"PLAT_AGENT_ACTIVATOR_PORT": "17071"}, "activator_port", 17071),
        ({"PLAT_AGENT_DOMAIN": "Apps.Example.com"}, "domain", "apps.example.com"),
        ({"PLAT_AGENT_NETWORK": "plat-test"}, "network", "plat-test"),
        ({"PLAT_AGENT_HAPROXY": "/usr/sbin/haproxy"}, "haproxy", "/usr/sbin/haproxy"),
        ({"PLAT_AGENT_WORKERS": "4"}, "workers", 4),
        ({"PLAT_AGENT_MAX_ATTEMPTS": "1"}, "max_attempts", 1),
        ({"PLAT_AGENT_KEEP_VERSIONS": "0"}, "keep_versions", 0),
        ({"PLAT_AGENT_MAX_BODY": "1024"}, "max_body", 1024),
        ({"PLAT_AGENT_REQUEST_TIMEOUT": "2.5"}, "request_timeout", 2.5),
        ({"PLAT_AGENT_TICK": "0.3"}, "tick", 0.3),
        ({"PLAT_AGENT_START_TIMEOUT": "10"}, "start_timeout", 10.0),
        ({"PLAT_AGENT_IDLE_TIMEOUT": "2"}, "idle_timeout_override", 2.0),
        # Empty means unset (an `env:` entry left blank in a unit file).
        ({"PLAT_AGENT_API_PORT": ""}, "api_port", 7070),
        ({"PLAT_AGENT_IDLE_TIMEOUT": ""}, "idle_timeout_override", None),
    ],
)
def test_overrides(env: dict[str, str], field: str, expected: object) -> None:
    assert getattr(Settings.from_env(env), field) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLAT_AGENT_API_PORT": "http"}, "PLAT_AGENT_API_PORT='http': expected an integer"),
        ({"PLAT_AGENT_API_PORT": "70000"}, "PLAT_AGENT_API_PORT='70000': expected a value between 0 and 65535"),
        ({"PLAT_AGENT_GATEWAY_PORT": "-1"}, "between 0 and 65535"),
        ({"PLAT_AGENT_WORKERS": "0"}, "PLAT_AGENT_WORKERS='0': expected a value between 1 and 64"),
        ({"PLAT_AGENT_MAX_ATTEMPTS": "0"}, "expected a value at least 1"),
        ({"PLAT_AGENT_MAX_BODY": "1.5"}, "PLAT_AGENT_MAX_BODY='1.5': expected an integer"),
        ({"PLAT_AGENT_REQUEST_TIMEOUT": "soon"}, "expected a number"),
        ({"PLAT_AGENT_REQUEST_TIMEOUT": "0"}, "expected a value at least 0.001"),
        ({"PLAT_AGENT_IDLE_TIMEOUT": "-5"}, "PLAT_AGENT_IDLE_TIMEOUT"),
        ({"PLAT_AGENT_START_TIMEOUT": "0.5"}, "PLAT_AGENT_START_TIMEOUT='0.5': expected a value between 1.0 and"),
        ({"PLAT_AGENT_DOMAIN": "under_score.test"}, "PLAT_AGENT_DOMAIN='under_score.test': expected a DNS name"),
        ({"PLAT_AGENT_DOMAIN": ".leading.dot"}, "expected a DNS name"),
        ({"PLAT_AGENT_API_BIND": "1.2.3.4 extra"}, "PLAT_AGENT_API_BIND"),
    ],
)
def test_refusals_name_the_variable_and_what_was_expected(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message if message.startswith("PLAT") else message):
        Settings.from_env(env)


def test_reads_only_the_mapping_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAT_AGENT_API_PORT", "9999")
    assert Settings.from_env({}).api_port == 7070


# -- TLS for the control API ---------------------------------------------------------------------
@pytest.fixture
def pem(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "cert.pem").write_text("cert")
    (tmp_path / "key.pem").write_text("key")
    return {"PLAT_AGENT_TLS_CERT": str(tmp_path / "cert.pem"), "PLAT_AGENT_TLS_KEY": str(tmp_path / "key.pem")}


def test_tls_is_off_by_default_and_on_with_both_files(pem: dict[str, str]) -> None:
    off = Settings.from_env({})
    assert (off.tls, off.tls_cert, off.tls_key) == (False, None, None)
    on = Settings.from_env(pem)
    assert on.tls and on.tls_cert == Path(pem["PLAT_AGENT_TLS_CERT"]) and on.tls_key == Path(pem["PLAT_AGENT_TLS_KEY"])


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "agent.example.com", "192.168.0.10"])
def test_a_public_api_bind_needs_tls(bind: str, pem: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=f"^PLAT_AGENT_API_BIND='{re.escape(bind)}': the control API on a public "
                                          "address needs TLS: set PLAT_AGENT_TLS_CERT and PLAT_AGENT_TLS_KEY$"):
        Settings.from_env({"PLAT_AGENT_API_BIND": bind})
    assert Settings.from_env({"PLAT_AGENT_API_BIND": bind, **pem}).api_bind == bind


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1"])
def test_loopback_binds_need_no_tls(bind: str) -> None:
    assert Settings.from_env({"PLAT_AGENT_API_BIND": bind}).tls is False


def test_tls_needs_both_files_and_they_must_exist(pem: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^PLAT_AGENT_TLS_KEY is not set: TLS needs both"):
        Settings.from_env({"PLAT_AGENT_TLS_CERT": pem["PLAT_AGENT_TLS_CERT"]})
    with pytest.raises(ConfigError, match="^PLAT_AGENT_TLS_CERT is not set"):
        Settings.from_env({"PLAT_AGENT_TLS_KEY": pem["PLAT_AGENT_TLS_KEY"]})
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match=f"^PLAT_AGENT_TLS_KEY='{re.escape(missing)}': no such file"):
        Settings.from_env({**pem, "PLAT_AGENT_TLS_KEY": missing})
    assert Settings.from_env({"PLAT_AGENT_TLS_CERT": "", "PLAT_AGENT_TLS_KEY": ""}).tls is False, "empty is unset"


def test_is_loopback() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "example.com", "10.0.0.1")] \
        == [True, True, True, False, False, False, False]
