"""The CLI's AgentClient against a mock transport: requests as data, errors, the Locked error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from plat.agent_client import AgentClient, AgentRefused, Locked, NotFound, OwnedElsewhere, _unreachable, actor_header
from plat.errors import PlatError
from plat_contract.api import ErrorCode

LOCK = {"app": "web", "holder": "alice", "machine": "laptop", "pid": 1, "since": 1.0, "renewed": 1.0,
        "expires": 61.0, "stale": True}


class Recorder:
    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status, self.body = status, {} if body is None else body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    @property
    def last(self) -> tuple[str, str, Any]:
        r = self.requests[-1]
        return r.method, r.url.path + (f"?{r.url.query.decode()}" if r.url.query else ""), \
            json.loads(r.content) if r.content else None


def client(rec: Recorder, **kw: Any) -> AgentClient:
    return AgentClient("http://agent", "plat_tok", where="host-a", transport=httpx.MockTransport(rec), **kw)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda c: c.lock("web", "alice", "laptop", 42, 30), ("POST", "/v1/apps/web/lock",
                                                             {"holder": "alice", "machine": "laptop", "pid": 42,
                                                              "ttl": 30})),
        (lambda c: c.renew_lock("web", "t"), ("POST", "/v1/apps/web/lock/renew", {"token": "t"})),
        (lambda c: c.release_lock("web", "t"), ("DELETE", "/v1/apps/web/lock", {"token": "t"})),
        (lambda c: c.release_lock("web", force=True), ("DELETE", "/v1/apps/web/lock", {"force": True})),
        (lambda c: c.audit("web", 5), ("GET", "/v1/apps/web/audit?limit=5", None)),
        (lambda c: c.set_secret("web", "DB_URL", "v"), ("PUT", "/v1/apps/web/secrets/DB_URL", {"value": "v"})),
        (lambda c: c.list_secrets("web"), ("GET", "/v1/apps/web/secrets", None)),
        (lambda c: c.delete_secret("web", "DB_URL"), ("DELETE", "/v1/apps/web/secrets/DB_URL", None)),
        (lambda c: c.restart("web"), ("POST", "/v1/apps/web/restart", None)),
        (lambda c: c.deploy("web", "v1", "img", {}, None), ("POST", "/v1/apps/web/deploy",
                                                            {"version": "v1", "image": "img", "manifest": {},
                                                             "digest": None})),
        (lambda c: c.deploy("web", "v1", "img", {}, None, pull={"auth": None, "always": True}),
         ("POST", "/v1/apps/web/deploy", {"version": "v1", "image": "img", "manifest": {}, "digest": None,
                                          "pull": {"auth": None, "always": True}})),
    ],
)
def test_requests(call: Any, expected: tuple[str, str, Any]) -> None:
    rec = Recorder()
    call(client(rec))
    assert rec.last == expected
    assert rec.requests[-1].headers["Authorization"] == "Bearer plat_tok"
    assert "X-Plat-Actor" not in rec.requests[-1].headers


def test_get_lock_and_layer_chains_unwrap() -> None:
    assert client(Recorder(body={"lock": LOCK})).get_lock("web") == LOCK
    assert client(Recorder(body={"lock": None})).get_lock("web") is None
    assert client(Recorder(body={"chains": ["sha256:a", "sha256:b"]})).layer_chains() == {"sha256:a", "sha256:b"}


def test_a_held_lock_raises_locked_with_the_holder() -> None:
    rec = Recorder(409, {"error": "web is locked by alice on laptop (pid 1) since 1970-01-01T00:00:01Z",
                         "code": "locked", "detail": "", "lock": LOCK})
    with pytest.raises(Locked) as caught:
        client(rec).lock("web", "bob", "ci", 2)
    assert caught.value.lock == LOCK and str(caught.value).startswith("host-a: web is locked by alice")
    assert isinstance(caught.value, PlatError)
    lost = Recorder(409, {"error": "this lock on web was lost: web is not locked", "code": "locked",
                          "lock": None})
    with pytest.raises(Locked) as caught:
        client(lost).renew_lock("web", "t")
    assert caught.value.lock is None


def test_other_errors_stay_plat_errors_naming_the_host() -> None:
    with pytest.raises(AgentRefused) as caught:
        client(Recorder(409, {"error": "tenant 'x' exists", "code": "conflict"})).restart("web")
    assert not isinstance(caught.value, Locked) and str(caught.value) == "host-a: tenant 'x' exists"
    assert caught.value.code is ErrorCode.CONFLICT and caught.value.status == 409
    with pytest.raises(NotFound, match="^host-a: no such app 'web'"):
        client(Recorder(404, {"error": "no such app 'web'", "code": "not_found"})).audit("web")


def test_clients_branch_on_the_code_never_on_the_text() -> None:
    with pytest.raises(OwnedElsewhere):
        client(Recorder(403, {"error": "whatever the words", "code": "app_owned_elsewhere"})).restart("web")
    with pytest.raises(AgentRefused) as caught:  # a 409 with a lock in the body but another code
        client(Recorder(409, {"error": "locked out", "code": "conflict", "lock": LOCK})).restart("web")
    assert not isinstance(caught.value, Locked)
    with pytest.raises(AgentRefused) as caught:  # no code (not an agent of this contract): no subclass
        client(Recorder(404, {"error": "no such app 'web'"})).audit("web")
    assert type(caught.value) is AgentRefused and caught.value.code is None


def test_actor_header() -> None:
    rec = Recorder()
    client(rec, actor="alice@laptop").restart("web")
    assert rec.requests[-1].headers["X-Plat-Actor"] == "alice@laptop"
    assert actor_header(" josé@büro ") == "jos?@b?ro"
    assert actor_header("x" * 300) == "x" * 200
    client(rec, actor="  ").restart("web")
    assert "X-Plat-Actor" not in rec.requests[-1].headers


# -- transport failures: one line naming the host and the fix ----------------------------------

@pytest.mark.parametrize("reason,fix", [
    ("unable to get local issuer certificate", "`ca:`"),
    ("self-signed certificate", "`ca:`"),
    ("IP address mismatch, certificate is not valid for '10.0.0.9'", "`url:`"),
    ("Hostname mismatch, certificate is not valid for 'edge-1'", "`url:`"),
    ("certificate has expired", "renew"),
])
def test_an_untrusted_certificate_names_the_reason_and_the_fix(reason: str, fix: str) -> None:
    exc = httpx.ConnectError(f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {reason} (_ssl.c:992)")
    err = _unreachable("h1", exc)
    assert err.message == f"h1: the agent's TLS certificate is not trusted ({reason})"
    assert err.hint is not None and fix in err.hint


@pytest.mark.parametrize("where,check", [("local agent", "plat agent status"), ("h2", "plat hosts check h2")])
def test_an_unreachable_agent_names_the_check_to_run(where: str, check: str) -> None:
    err = _unreachable(where, httpx.ConnectError("[Errno 111] Connection refused"))
    assert err.message == f"{where}: ConnectError: [Errno 111] Connection refused"
    assert err.hint is not None and check in err.hint


def test_a_ca_file_that_is_not_pem_names_the_host(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(PlatError, match=rf"h1: cannot use {re.escape(str(bogus))} as a CA bundle"):
        AgentClient("https://h1:7443", "token", where="h1", verify=bogus)


def test_a_refused_token_says_which_setting_to_check() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "missing or invalid bearer token", "code": "unauthorized"})

    client = AgentClient("https://h1:7443", "wrong", where="h1", transport=httpx.MockTransport(handler))
    with pytest.raises(PlatError) as info:
        client.apps()
    assert info.value.message == "h1: the agent refused the token (401 unauthorized)"
    assert "token_env" in (info.value.hint or "")
