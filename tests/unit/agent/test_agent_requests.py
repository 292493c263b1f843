"""Control API request parsing, as data: the actor header, deploy pull options, lock release, limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.api import ROUTES, _limit, parse_actor, parse_body
from plat_contract.api import DeployRequest, LockRelease, Pull


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "acme"), ("", "acme"), ("   ", "acme"), ("alice@laptop", "alice@laptop"),
     (" bob (ci run 7) ", "bob (ci run 7)"), ("x" * 200, "x" * 200)],
)
def test_actor_defaults_to_the_tenant(header: str | None, expected: str) -> None:
    assert parse_actor(header, "acme") == expected


@pytest.mark.parametrize("header", ["x" * 201, "tab\there", "nul\x00", "josé", "\x7f"])
def test_actor_must_be_short_printable_ascii(header: str) -> None:
    with pytest.raises(ValueError, match="X-Plat-Actor must be printable ASCII of at most 200 characters"):
        parse_actor(header, "acme")


def test_pull_options() -> None:
    def pull(body: dict[str, Any]) -> Pull | None:
        return parse_body(DeployRequest, json.dumps({"version": "v1", "image": "web:v1", "manifest": {},
                                                     **body}).encode()).pull

    assert pull({}) is None
    assert pull({"pull": {}}) == Pull(auth=None, always=False)
    assert pull({"pull": {"auth": None, "always": True}}) == Pull(auth=None, always=True)
    auth = pull({"pull": {"auth": {"username": "robot", "password": "pw"}}})
    assert auth is not None and auth.auth is not None and \
        auth.auth.model_dump() == {"username": "robot", "password": "pw"}


@pytest.mark.parametrize(
    ("value", "message"),
    [([], "pull: Input should be an object"), ({"always": "yes"}, "pull.always"),
     ({"auth": {"username": "u"}}, "pull.auth.password"), ({"auth": {"username": "u", "password": ""}}, "pull.auth"),
     ({"auth": {"username": 1, "password": "p"}}, "pull.auth.username"), ({"auth": "u:p"}, "pull.auth"),
     ({"auth": {"username": "u", "password": "p", "email": "x"}}, "pull.auth.email: Extra inputs")],
)
def test_pull_refusals(value: Any, message: str) -> None:
    body = {"version": "v1", "image": "web:v1", "manifest": {}, "pull": value}
    with pytest.raises(ValueError, match=message) as caught:
        parse_body(DeployRequest, json.dumps(body).encode())
    assert "u:p" not in str(caught.value), "refusals never echo values (they may be credentials)"


def test_release_request() -> None:
    def release(body: dict) -> tuple:
        parsed = parse_body(LockRelease, json.dumps(body).encode())
        return parsed.token, parsed.force

    assert release({"token": "t"}) == ("t", False)
    assert release({"force": True}) == (None, True)
    assert release({"token": "t", "force": True}) == ("t", True)
    for bad in ({}, {"force": False}, {"token": ""}, {"token": 5}, {"force": "yes"}, {"token": "t\nx"}):
        with pytest.raises(ValueError):
            release(bad)


def test_limit() -> None:
    assert _limit({}) == 100
    assert _limit({"limit": ["5"]}) == 5 and _limit({"limit": ["1000"]}) == 1000
    for bad in ("0", "1001", "-1", "x", ""):
        with pytest.raises(ValueError, match="limit must be"):
            _limit({"limit": [bad]})


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [("GET", "/v1/apps/web/audit", "audit"), ("POST", "/v1/apps/web/lock", "lock"),
     ("GET", "/v1/apps/web/lock", "get_lock"), ("DELETE", "/v1/apps/web/lock", "release_lock"),
     ("POST", "/v1/apps/web/lock/renew", "renew_lock"), ("GET", "/v1/apps/web/secrets", "list_secrets"),
     ("PUT", "/v1/apps/web/secrets/DB_URL", "set_secret"), ("DELETE", "/v1/apps/web/secrets/DB_URL", "delete_secret"),
     ("PUT", "/v1/apps/web/secrets/bad-name", "set_secret"), ("POST", "/v1/apps/web/restart", "restart"),
     ("GET", "/v1/images/layers", "layers")],
)
def test_new_routes(method: str, path: str, name: str) -> None:
    matched = [r.handler for r in ROUTES if r.method == method and r.pattern.match(path)]
    assert matched == [name]
