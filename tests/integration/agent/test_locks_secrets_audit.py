"""Deploy locks, secrets, restart, pulls with credentials, layer inventory and the audit trail,
over real HTTP on 127.0.0.1 against the real store and core (the fake driver of test_control_api).
"""

from __future__ import annotations

import json
import logging
import re
import stat
from typing import Any

import pytest

from agent.images import chain_ids
from tests.integration.agent.test_control_api import deploy, env  # noqa: F401 - the fixture

SECRET = "s3cr3t-value-9f8e7d"


def call(env: dict[str, Any], method: str, path: str, who: str = "acme", body: Any = None,  # noqa: F811
         actor: str | None = None) -> tuple[int, Any]:
    headers = {"X-Plat-Actor": actor} if actor is not None else None
    return env["api"].call(method, path, env["tokens"][who], body, headers)


def audit(env: dict[str, Any], app: str = "web", who: str = "acme") -> list[dict[str, Any]]:  # noqa: F811
    status, data = call(env, "GET", f"/v1/apps/{app}/audit", who)
    assert status == 200, data
    return data


LOCK = {"holder": "alice@laptop", "machine": "laptop", "pid": 4242, "ttl": 30}


# -- actor and audit ---------------------------------------------------------------------------------
def test_mutations_are_audited_with_their_actor(env: dict[str, Any]) -> None:  # noqa: F811
    body = {"version": "v1", "image": "web:v1", "manifest": {"port": 8080, "health": "/h"}}
    assert call(env, "POST", "/v1/apps/web/deploy", body=body, actor="alice@laptop")[0] == 200
    assert call(env, "POST", "/v1/apps/web/scale", body={"min_warm": 1})[0] == 200
    assert call(env, "POST", "/v1/apps/web/api-key", actor="bob@ci")[0] == 201
    trail = audit(env)
    assert [(e["kind"], e["actor"]) for e in trail] == [
        ("api-key", "bob@ci"), ("scaled", "acme"), ("switched", "alice@laptop"), ("deploy-started", "alice@laptop")]
    assert trail[-1]["detail"]["image"] == "web:v1" and trail[-1]["app"] == "web"
    assert isinstance(trail[0]["at"], float) and trail[0]["at"] >= trail[-1]["at"]
    assert [e["kind"] for e in call(env, "GET", "/v1/apps/web/audit?limit=1")[1]] == ["api-key"]
    assert call(env, "GET", "/v1/apps/web/audit?limit=0")[0] == 400
    assert call(env, "GET", "/v1/apps/web/audit", "other")[0] == 404, "another tenant's app"
    assert len(audit(env, who="admin")) == 4
    status, data = call(env, "POST", "/v1/apps/web/scale", body={"min_warm": 0}, actor="x" * 201)
    assert status == 400 and "X-Plat-Actor" in data["error"]
    assert call(env, "POST", "/v1/apps/web/rollback", body={}, actor="carol")[0] == 404
    deploy(env, env["tokens"]["acme"], "v2")
    assert call(env, "POST", "/v1/apps/web/rollback", body={}, actor="carol")[0] == 200
    kinds = [(e["kind"], e["actor"]) for e in audit(env)[:3]]
    assert kinds == [("switched", "carol"), ("deploy-started", "carol"), ("rollback", "carol")]
    assert audit(env)[2]["detail"] == {"version": "v1", "previous": "v2"}
    assert call(env, "DELETE", "/v1/apps/web", actor="dave")[0] == 200
    assert audit(env)[0]["kind"] == "destroyed" and audit(env)[0]["actor"] == "dave", \
        "the trail of a destroyed app stays readable by its tenant"
    assert audit(env, who="other") == []


# -- deploy locks --------------------------------------------------------------------------------------
def test_lock_lease_lifecycle(env: dict[str, Any]) -> None:  # noqa: F811
    assert call(env, "GET", "/v1/apps/web/lock") == (200, {"lock": None})
    status, got = call(env, "POST", "/v1/apps/web/lock", body=LOCK, actor="alice@laptop")
    assert status == 200 and got["token"].startswith("plat_")
    lock = got["lock"]
    assert {k: lock[k] for k in ("app", "holder", "machine", "pid", "stale")} == \
        {"app": "web", "holder": "alice@laptop", "machine": "laptop", "pid": 4242, "stale": False}
    assert lock["expires"] == pytest.approx(lock["renewed"] + 30) and lock["since"] == lock["renewed"]
    assert call(env, "GET", "/v1/apps/web/lock")[1] == {"lock": lock}

    status, refused = call(env, "POST", "/v1/apps/web/lock", body={**LOCK, "holder": "bob", "pid": 1})
    assert status == 409 and refused["lock"] == lock
    assert re.fullmatch(r"web is locked by alice@laptop on laptop \(pid 4242\) since "
                        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", refused["error"]), refused["error"]

    status, lost = call(env, "POST", "/v1/apps/web/lock/renew", body={"token": "plat_wrong"})
    assert status == 409 and lost["lock"]["holder"] == "alice@laptop" and "lost" in lost["error"]
    status, renewed = call(env, "POST", "/v1/apps/web/lock/renew", body={"token": got["token"]})
    assert status == 200 and renewed["renewed"] >= lock["renewed"] and "token" not in renewed

    assert call(env, "DELETE", "/v1/apps/web/lock", body={"token": "plat_wrong"})[1] == \
        {"released": False, "lock": call(env, "GET", "/v1/apps/web/lock")[1]["lock"]}
    status, released = call(env, "DELETE", "/v1/apps/web/lock", body={"token": got["token"]}, actor="alice@laptop")
    assert status == 200 and released["released"] is True and released["lock"]["holder"] == "alice@laptop"
    assert call(env, "GET", "/v1/apps/web/lock") == (200, {"lock": None})
    assert call(env, "DELETE", "/v1/apps/web/lock", body={"token": got["token"]})[1] == \
        {"released": False, "lock": None}
    status, lost = call(env, "POST", "/v1/apps/web/lock/renew", body={"token": got["token"]})
    assert status == 409 and lost["lock"] is None

    call(env, "POST", "/v1/apps/web/lock", body={**LOCK, "holder": "bob", "machine": "ci", "pid": 7})
    status, forced = call(env, "DELETE", "/v1/apps/web/lock", body={"force": True}, actor="ops@desk")
    assert status == 200 and forced["released"] is True and forced["lock"]["holder"] == "bob"
    trail = audit(env)
    assert [(e["kind"], e["actor"]) for e in trail] == [
        ("lock-force-release", "ops@desk"), ("lock-acquire", "acme"), ("lock-release", "alice@laptop"),
        ("lock-acquire", "alice@laptop")]
    assert trail[0]["detail"]["holder"] == "bob" and trail[0]["detail"]["machine"] == "ci"
    assert not any(got["token"] in json.dumps(e) for e in trail), "tokens never reach the trail"


@pytest.mark.parametrize(
    "body",
    [{}, {**LOCK, "ttl": 4}, {**LOCK, "ttl": 3601}, {**LOCK, "pid": -1}, {**LOCK, "holder": ""},
     {**LOCK, "holder": "x" * 201}, {**LOCK, "machine": None}],
)
def test_lock_requests_are_checked(env: dict[str, Any], body: dict[str, Any]) -> None:  # noqa: F811
    status, data = call(env, "POST", "/v1/apps/web/lock", body=body)
    assert status == 400, data
    assert call(env, "DELETE", "/v1/apps/web/lock", body={})[0] == 400
    assert call(env, "POST", "/v1/apps/web/lock/renew", body={})[0] == 400


def test_lock_tenancy(env: dict[str, Any]) -> None:  # noqa: F811
    # A name nobody deployed yet: the first tenant to lock it holds it; others are refused.
    status, got = call(env, "POST", "/v1/apps/fresh/lock", "other", LOCK)
    assert status == 200
    for method, path, body in [("GET", "/v1/apps/fresh/lock", None), ("POST", "/v1/apps/fresh/lock", LOCK),
                               ("DELETE", "/v1/apps/fresh/lock", {"force": True}),
                               ("POST", "/v1/apps/fresh/lock/renew", {"token": got["token"]})]:
        status, data = call(env, method, path, "acme", body)
        assert status == 403 and "another tenant" in data["error"], (method, path)
    # An existing app: only its tenant (or the admin).
    deploy(env, env["tokens"]["acme"], "v1")
    assert call(env, "POST", "/v1/apps/web/lock", "other", LOCK)[0] == 403
    assert call(env, "POST", "/v1/apps/web/lock", "acme", LOCK)[0] == 200
    assert call(env, "DELETE", "/v1/apps/web/lock", "admin", {"force": True})[1]["released"] is True
    assert call(env, "DELETE", "/v1/apps/fresh/lock", "admin", {"force": True})[1]["released"] is True


# -- secrets ----------------------------------------------------------------------------------------------
def test_secrets_reach_instances_and_nothing_else(env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    driver, responses = env["driver"], []

    def remember(result: tuple[int, Any]) -> tuple[int, Any]:
        responses.append(json.dumps(result[1]))
        return result

    # Set before the first deploy (the name is free): the tenant's first deploy gets them.
    status, data = remember(call(env, "PUT", "/v1/apps/web/secrets/DB_PASSWORD", body={"value": SECRET}, actor="al"))
    assert status == 200 and data["app"] == "web" and data["key"] == "DB_PASSWORD" and "value" not in data
    remember(call(env, "PUT", "/v1/apps/web/secrets/GREETING", body={"value": "from-secret"}))
    body = {"version": "v1", "image": "web:v1",
            "manifest": {"port": 8080, "health": "/h", "env": {"GREETING": "from-manifest", "MODE": "prod"}}}
    remember(call(env, "POST", "/v1/apps/web/deploy", body=body))
    first = next(iter(driver.env.values()))
    assert first == {"GREETING": "from-secret", "MODE": "prod", "DB_PASSWORD": SECRET}, "secrets win over env"

    status, listing = remember(call(env, "GET", "/v1/apps/web/secrets"))
    assert status == 200 and [e["key"] for e in listing] == ["DB_PASSWORD", "GREETING"]
    assert all(set(e) == {"key", "updated"} for e in listing)

    # A new value: running instances keep theirs; new ones (scale-up) and a restart get it.
    remember(call(env, "PUT", "/v1/apps/web/secrets/DB_PASSWORD", body={"value": SECRET + "-2"}))
    assert first["DB_PASSWORD"] == SECRET
    remember(call(env, "POST", "/v1/apps/web/scale", body={"min_warm": 2}))
    assert sorted(e["DB_PASSWORD"] for e in driver.env.values()) == [SECRET, SECRET + "-2"]
    before = set(driver.instances)
    status, restarted = remember(call(env, "POST", "/v1/apps/web/restart", actor="al"))
    assert status == 200 and restarted["version"] == "v1" and len(restarted["instances"]) == 2
    assert not before & set(driver.instances), "every old instance replaced"
    assert {driver.env[i]["DB_PASSWORD"] for i in driver.instances} == {SECRET + "-2"}
    assert env["store"].app("web")["live_version"] == "v1"
    assert env["store"].version("web", "v1")["status"] == "live", "a restart is not a new deploy"

    status, gone = remember(call(env, "DELETE", "/v1/apps/web/secrets/GREETING", actor="al"))
    assert (status, gone) == (200, {"app": "web", "key": "GREETING", "deleted": True})
    assert call(env, "DELETE", "/v1/apps/web/secrets/GREETING")[0] == 404

    trail = audit(env)
    remember((200, trail))
    kinds = [(e["kind"], e["detail"].get("key")) for e in trail if e["kind"].startswith("secret") or
             e["kind"] == "restart"]
    assert kinds == [("secret-rm", "GREETING"), ("restart", None), ("secret-set", "DB_PASSWORD"),
                     ("secret-set", "GREETING"), ("secret-set", "DB_PASSWORD")]
    remember((200, env["store"].events("web", None)))
    remember((200, call(env, "GET", "/v1/apps/web")[1]))
    for text in [*responses, caplog.text]:
        assert SECRET not in text, text[:300]
    path = env["core"].secrets.root / "web.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    assert call(env, "DELETE", "/v1/apps/web")[0] == 200
    assert not path.exists() and call(env, "GET", "/v1/apps/web/secrets")[1] == [], "destroy removes secrets"


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [("1BAD", {"value": "x"}, "secret names must match"), ("BAD-NAME", {"value": "x"}, "secret names must match"),
     ("PORT", {"value": "1"}, "set by the agent"), ("OK", {"value": 5}, "value: Input should be a valid string"),
     ("OK", {}, "value: Field required"), ("OK", {"value": "a\u0000b"}, "value: String should match pattern"),
     ("OK", {"value": "x", "extra": 1}, "extra: Extra inputs are not permitted")],
)
def test_secret_requests_are_checked(env: dict[str, Any], key: str, body: dict, message: str) -> None:  # noqa: F811
    status, data = call(env, "PUT", f"/v1/apps/web/secrets/{key}", body=body)
    assert status == 400 and message in data["error"], data
    assert call(env, "GET", "/v1/apps/web/secrets")[1] == []


def test_secret_tenancy(env: dict[str, Any]) -> None:  # noqa: F811
    assert call(env, "PUT", "/v1/apps/web/secrets/TOKEN", "other", {"value": "theirs"})[0] == 200
    for method, path, body in [("GET", "/v1/apps/web/secrets", None),
                               ("PUT", "/v1/apps/web/secrets/TOKEN", {"value": "mine"}),
                               ("DELETE", "/v1/apps/web/secrets/TOKEN", None)]:
        status, data = call(env, method, path, "acme", body)
        assert status == 403 and "another tenant" in data["error"], (method, path)
    # acme deploys the name anyway (no app existed): its instances never get another tenant's values.
    deploy(env, env["tokens"]["acme"], "v1")
    assert all("TOKEN" not in e for e in env["driver"].env.values())
    assert call(env, "GET", "/v1/apps/web/secrets", "other")[0] == 403, "the app's owner decides now"
    assert call(env, "PUT", "/v1/apps/web/secrets/TOKEN", "acme", {"value": "mine"})[0] == 200
    assert env["core"].secrets.env("web", "acme") == {"TOKEN": "mine"}, "the other tenant's values are dropped"
    assert call(env, "GET", "/v1/apps/web/secrets", "admin")[0] == 200


def test_restart_needs_a_live_version(env: dict[str, Any]) -> None:  # noqa: F811
    assert call(env, "POST", "/v1/apps/web/restart")[0] == 404
    deploy(env, env["tokens"]["acme"], "v1")
    assert call(env, "POST", "/v1/apps/web/restart", "other")[0] == 404


# -- pulls and layers -----------------------------------------------------------------------------------
def test_pulls_with_credentials_never_leak_them(env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    driver, password = env["driver"], "hunter2-registry-pw"
    auth = {"username": "robot-user", "password": password}
    manifest = {"port": 8080, "health": "/h"}
    assert call(env, "POST", "/v1/apps/web/deploy", body={"version": "v1", "image": "web:v1", "manifest": manifest,
                                                          "pull": {"auth": auth, "always": True}})[0] == 200
    assert driver.pulls == [("web:v1", auth, True)]
    call(env, "POST", "/v1/apps/web/deploy", body={"version": "v2", "image": "reg:5000/remote/web:v2",
                                                   "manifest": manifest})
    assert driver.pulls[-1] == ("reg:5000/remote/web:v2", None, False), "missing locally: pulled anonymously"

    status, data = call(env, "POST", "/v1/apps/web/deploy", body={
        "version": "v3", "image": "reg:5000/remote/denied:v3", "manifest": manifest, "pull": {"auth": auth}})
    assert status == 422 and data["error"].startswith("could not pull reg:5000/remote/denied:v3: pull access denied")
    assert env["store"].app("web")["live_version"] == "v2", "the old version keeps serving"
    for text in (json.dumps(data), json.dumps(env["store"].events("web", None)), json.dumps(audit(env)), caplog.text):
        assert password not in text and "robot-user" not in text
    failed = audit(env)[0]
    assert failed["kind"] == "deploy-failed" and "could not pull" in failed["detail"]["reason"]
    status, data = call(env, "POST", "/v1/apps/web/deploy", body={
        "version": "v4", "image": "web:v4", "manifest": manifest, "pull": {"auth": {"username": "u"}}})
    assert status == 400 and "pull.auth" in data["error"]


def test_layer_chains(env: dict[str, Any]) -> None:  # noqa: F811
    a, b, c = ("sha256:" + ch * 64 for ch in "abc")
    env["driver"].layers = [[a, b], [a, b, c], [c]]
    status, data = call(env, "GET", "/v1/images/layers", "other")
    assert status == 200 and data == {"chains": sorted({*chain_ids([a, b, c]), c})}
    assert call(env, "GET", "/v1/images/layers", "admin")[0] == 200
