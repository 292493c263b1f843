"""Where plat finds the local agent: its own (PLAT_HOME, ports) or one named by PLAT_AGENT_URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from plat.errors import PlatError
from plat.hostagent import local as local_agent
from plat.hostagent.local import Endpoints, endpoints


@pytest.mark.parametrize(("env", "expected"), [
    ({"PLAT_HOME": "/h"},
     Endpoints("http://127.0.0.1:7070", "http://127.0.0.1:8080", Path("/h/agent/admin-token"), False)),
    ({"PLAT_HOME": "/h", "PLAT_AGENT_API_PORT": "9000", "PLAT_AGENT_GATEWAY_PORT": "9001"},
     Endpoints("http://127.0.0.1:9000", "http://127.0.0.1:9001", Path("/h/agent/admin-token"), False)),
    ({"PLAT_HOME": "/h", "PLAT_AGENT_URL": "http://127.0.0.1:7170/", "PLAT_AGENT_GATEWAY_PORT": "8180",
      "PLAT_AGENT_TOKEN_FILE": "/state/admin-token"},
     Endpoints("http://127.0.0.1:7170", "http://127.0.0.1:8180", Path("/state/admin-token"), True)),
    ({"PLAT_HOME": "/h", "PLAT_AGENT_URL": "https://[::1]:7443"},
     Endpoints("https://[::1]:7443", "http://[::1]:8080", Path("/h/agent/admin-token"), True)),
    ({"PLAT_HOME": "/h", "PLAT_AGENT_URL": ""},  # empty is unset
     Endpoints("http://127.0.0.1:7070", "http://127.0.0.1:8080", Path("/h/agent/admin-token"), False)),
])
def test_endpoints(env: dict[str, str], expected: Endpoints) -> None:
    assert endpoints(env) == expected


@pytest.mark.parametrize("url", ["127.0.0.1:7170", "ftp://h:1", "http://"])
def test_a_bad_agent_url_is_named(url: str) -> None:
    with pytest.raises(PlatError, match="PLAT_AGENT_URL="):
        endpoints({"PLAT_AGENT_URL": url})


@pytest.fixture
def fake_agent() -> Iterator[str]:
    """A stand-in agent API answering /v1/health for one bearer token."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = self.path == "/v1/health" and self.headers.get("Authorization") == "Bearer s3cret"
            self.send_response(200 if ok else 401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_external_agent_is_connected_to_and_never_started(fake_agent: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "admin-token"
    token.write_text("s3cret\n")
    monkeypatch.setenv("PLAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PLAT_AGENT_URL", fake_agent)
    monkeypatch.setenv("PLAT_AGENT_TOKEN_FILE", str(token))
    monkeypatch.setenv("PLAT_AGENT_GATEWAY_PORT", "8180")

    def no_image(_client: object) -> str:
        raise AssertionError("plat must not build or start an agent when PLAT_AGENT_URL names one")

    monkeypatch.setattr(local_agent, "ensure_image", no_image)
    info = local_agent.up(client=None, wait=5)  # type: ignore[arg-type]
    assert (info.api_url, info.token, info.gateway_url) == (fake_agent, "s3cret", "http://127.0.0.1:8180")


def test_an_external_agent_that_does_not_answer_names_the_variables(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAT_AGENT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PLAT_AGENT_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(PlatError) as exc:
        local_agent.connect_info(0)
    assert "http://127.0.0.1:9" in exc.value.message and "PLAT_AGENT_TOKEN_FILE" in (exc.value.hint or "")


def test_the_default_home_has_the_plain_container_name_and_any_other_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plat.hostagent.local import container_name
    from plat.paths import default_plat_home

    monkeypatch.delenv("PLAT_HOME", raising=False)
    assert container_name() == "plat-agent"
    monkeypatch.setenv("PLAT_HOME", str(default_plat_home()))
    assert container_name() == "plat-agent"
    names = set()
    for home in ("a", "b"):
        monkeypatch.setenv("PLAT_HOME", str(tmp_path / home))
        names.add(container_name())
        assert container_name() == container_name()
    assert len(names) == 2 and all(n.startswith("plat-agent-") for n in names)
