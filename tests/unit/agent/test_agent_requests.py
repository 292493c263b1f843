"""Control API request parsing, as data: the actor header, deploy pull options, lock release, limits."""

from __future__ import annotations

from typing import Any

import pytest

from agent.api import ROUTES, _limit, parse_actor, parse_pull, release_request


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
    assert parse_pull(None) is None
    assert parse_pull({}) == {"auth": None, "always": False}
    assert parse_pull({"auth": None, "always": True}) == {"auth": None, "always": True}
    auth = {"username": "robot", "password": "pw", "email": "ignored"}
    assert parse_pull({"auth": auth}) == {"auth": {"username": "robot", "password": "pw"}, "always": False}


@pytest.mark.parametrize(
    ("value", "message"),
    [([], "pull must be an object"), ({"always": "yes"}, "pull.always"),
     ({"auth": {"username": "u"}}, "pull.auth"), ({"auth": {"username": "u", "password": ""}}, "pull.auth"),
     ({"auth": {"username": 1, "password": "p"}}, "pull.auth"), ({"auth": "u:p"}, "pull.auth")],
)
def test_pull_refusals(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pull(value)


def test_release_request() -> None:
    assert release_request({"token": "t"}) == ("t", False)
    assert release_request({"force": True}) == (None, True)
    assert release_request({"token": "t", "force": True}) == ("t", True)
    for bad in ({}, {"force": False}, {"token": ""}, {"token": 5}, {"force": "yes"}):
        with pytest.raises(ValueError):
            release_request(bad)


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
    matched = [n for m, p, n, _ in ROUTES if m == method and p.match(path)]
    assert matched == [name]
