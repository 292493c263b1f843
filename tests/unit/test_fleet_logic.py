"""Fleet logic as data: host selection, batches, the rollout state machine (fake agents), .env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plat.agent_client import NotFound
from plat.config import AgentSettings, Deploy, parse_dotenv, parse_manifest
from plat.errors import PlatError
from plat.fleet.rollout import Release, outcome, rollout
from plat.fleet.select import batches, check_delivery, fleet_of
from plat.hostagent.bootstrap import remote_agent_env
from plat_contract.api import ErrorCode

P = Path("plat.yaml")


def manifest(**kw: Any):  # type: ignore[no-untyped-def]
    return parse_manifest({"name": "web", **kw}, P)


def test_fleet_of_top_level_environment_and_filters() -> None:
    m = manifest(hosts=["h1", {"host": "root@h2:2222", "labels": {"zone": "b"}}], registry="reg:5000/t",
                 environments={"prod": {"hosts": ["p1", "p2"], "deploy": {"batch": 1}}})
    top = fleet_of(m)
    assert top.names == ["h1", "root@h2:2222"] and top.registry == "reg:5000/t" and top.deploy.batch is None
    prod = fleet_of(m, "prod")
    assert prod.names == ["p1", "p2"] and prod.registry == "reg:5000/t" and prod.deploy.batch == 1
    assert fleet_of(m, labels=["zone=b"]).names == ["root@h2:2222"]
    assert fleet_of(m, only_hosts=["h1"]).names == ["h1"]
    assert fleet_of(manifest()).hosts == ()


@pytest.mark.parametrize("kw,match", [
    ({"environment": "staging"}, "no environment 'staging' \\(known: prod\\)"),
    ({"only_hosts": ["h9"]}, "--host h9: not one of this app's hosts"),
    ({"labels": ["zone"]}, "expected key=value"),
    ({"labels": ["zone=z"]}, "no host carries this label"),
])
def test_fleet_of_errors(kw: dict, match: str) -> None:
    m = manifest(hosts=["h1"], environments={"prod": {"hosts": ["p1"]}})
    with pytest.raises(PlatError, match=match):
        fleet_of(m, **kw)


def test_duplicate_hosts_are_refused() -> None:
    with pytest.raises(PlatError, match="listed twice"):
        fleet_of(manifest(hosts=["h1", "h1"]))


def test_manifest_checks_transport_http_urls_and_batches() -> None:
    with pytest.raises(PlatError, match="HTTPS only"):
        manifest(hosts=[{"host": "h1", "transport": "http", "url": "http://h1:7070"}])
    with pytest.raises(PlatError, match="deploy.on_failure"):
        manifest(deploy={"on_failure": "pray"})


def test_transport_http_hosts_need_a_registry() -> None:
    http = {"host": "h2", "transport": "http", "url": "https://h2:7443"}
    with pytest.raises(PlatError, match=r"^h2: transport http needs `registry:`"):
        check_delivery(fleet_of(manifest(hosts=["h1", http])))
    check_delivery(fleet_of(manifest(hosts=["h1", http], registry="reg:5000/t")))
    check_delivery(fleet_of(manifest(hosts=["h1"])))


def test_host_ca_paths_are_relative_to_plat_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plat.config import load_manifest

    monkeypatch.setenv("HOME", "/home/dev")
    http = {"transport": "http", "url": "https://h:7443"}
    (tmp_path / "plat.yaml").write_text(yaml.safe_dump({"name": "web", "hosts": [
        "h0", {"host": "h1", "ca": "certs/ca.pem", **http}, {"host": "h2", "ca": "/etc/ca.pem", **http},
        {"host": "h3", "ca": "~/ca.pem", **http}], "environments": {"prod": {"hosts": [{"host": "p1", "ca": "ca.pem",
                                                                                        **http}]}}}))
    m = load_manifest(tmp_path)
    assert m is not None
    assert [h if isinstance(h, str) else h.ca for h in m.hosts] == \
        ["h0", str(tmp_path / "certs/ca.pem"), "/etc/ca.pem", "/home/dev/ca.pem"]
    assert fleet_of(m, "prod").hosts[0].ca == str(tmp_path / "ca.pem")
    monkeypatch.chdir(tmp_path / "..")  # plat.yaml found through a relative folder: still absolute
    relative = load_manifest(Path(tmp_path.name))
    assert relative is not None and relative.hosts[1].ca == str(tmp_path / "certs/ca.pem")  # type: ignore[union-attr]


def test_a_missing_ca_bundle_names_the_host_and_the_key(tmp_path: Path) -> None:
    from plat.config import Host
    from plat.fleet.connect import connect_host

    host = Host(host="h1", transport="http", url="https://h1:7443", ca=str(tmp_path / "nope.pem"))
    with pytest.raises(PlatError, match=r"h1: ca: .*nope.pem is not a file"):
        connect_host(host, AgentSettings())


@pytest.mark.parametrize("batch,expected", [
    (None, [["a", "b", "c", "d", "e"]]),
    (2, [["a", "b"], ["c", "d"], ["e"]]),
    ("25%", [["a", "b"], ["c", "d"], ["e"]]),
    ("100%", [["a", "b", "c", "d", "e"]]),
    ("1%", [["a"], ["b"], ["c"], ["d"], ["e"]]),
])
def test_batches(batch: Any, expected: list[list[str]]) -> None:
    assert batches(list("abcde"), batch) == expected


# -- the rollout state machine, with fake agents ----------------------------------------------
class FakeAgent:
    def __init__(self, live: str | None, fail_deploy: bool = False) -> None:
        self.live, self.fail_deploy, self.calls = live, fail_deploy, []

    def app(self, app: str) -> dict:
        if self.live is None:
            raise NotFound(f"h: no such app {app!r}", ErrorCode.NOT_FOUND, 404)
        return {"live_version": self.live}

    def deploy(self, app, version, image, manifest, digest, pull=None):  # type: ignore[no-untyped-def]
        self.calls.append(("deploy", version))
        if self.fail_deploy:
            raise PlatError("h: new version v2 failed its health check; the old version keeps serving")
        self.live = version
        return {"version": version}

    def rollback(self, app, version):  # type: ignore[no-untyped-def]
        self.calls.append(("rollback", version))
        self.live = version

    def destroy(self, app, keep_secrets=False):  # type: ignore[no-untyped-def]
        self.calls.append(("destroy", keep_secrets))
        self.live = None


class FakeConn:
    def __init__(self, name: str, agent: FakeAgent) -> None:
        self.name, self._agent = name, agent

    def agent(self) -> FakeAgent:
        return self._agent


REL = Release("web", "v2", "web:v2", {}, None)


def conns(**agents: FakeAgent) -> dict:
    return {n: FakeConn(n, a) for n, a in agents.items()}


def test_all_hosts_switch_and_up_to_date_hosts_are_left_alone() -> None:
    c = conns(h1=FakeAgent("v1"), h2=FakeAgent("v2"), h3=FakeAgent(None))
    sent: list[str] = []
    res = rollout(c, REL, Deploy(), lambda conn, p: sent.append(conn.name) or 10)  # type: ignore[arg-type]
    assert [(r.host, r.before, r.after, r.state) for r in res] == [
        ("h1", "v1", "v2", "switched"), ("h2", "v2", "v2", "unchanged"), ("h3", None, "v2", "switched")]
    assert sorted(sent) == ["h1", "h3"] and outcome(res, "v2") == "ok"


def test_a_failed_switch_rolls_back_the_switched_hosts_and_skips_the_rest() -> None:
    c = conns(h1=FakeAgent("v1"), h2=FakeAgent(None), h3=FakeAgent("v1", fail_deploy=True), h4=FakeAgent("v1"),
              h5=FakeAgent("v1"))
    res = rollout(c, REL, Deploy(batch=2, parallel=1), lambda conn, p: 0)  # type: ignore[arg-type]
    by = {r.host: r for r in res}
    assert by["h1"].state == by["h2"].state == "rolled back"
    assert c["h1"].agent().live == "v1" and c["h2"].agent().live is None  # new on h2: removed again
    assert by["h3"].state == "failed" and "health check" in by["h3"].detail
    assert by["h4"].state == "rolled back"  # same batch as h3
    assert by["h5"].state == "not switched" and c["h5"].agent().calls == []
    assert outcome(res, "v2") == "old"


def test_a_host_already_on_the_version_makes_a_failed_deploy_mixed() -> None:
    c = conns(h1=FakeAgent("v2"), h2=FakeAgent("v1", fail_deploy=True))
    res = rollout(c, REL, Deploy(), lambda conn, p: 0)  # type: ignore[arg-type]
    assert [r.state for r in res] == ["unchanged", "failed"] and outcome(res, "v2") == "mixed"


def test_a_switch_that_failed_on_the_wire_but_happened_is_rolled_back() -> None:
    class LostReply(FakeAgent):
        def deploy(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().deploy(*a, **kw)
            raise ConnectionResetError("the SSH channel closed")  # not a PlatError

    c = conns(h1=FakeAgent("v1"), h2=LostReply("v1"))
    res = rollout(c, REL, Deploy(), lambda conn, p: 0)  # type: ignore[arg-type]
    assert res[1].state == "rolled back" and res[1].failed and "h2: ConnectionResetError" in res[1].detail
    assert c["h1"].agent().live == c["h2"].agent().live == "v1" and outcome(res, "v2") == "old"


def test_new_hosts_are_undone_keeping_their_secrets_and_a_lost_lock_stops_the_next_batch() -> None:
    c = conns(h1=FakeAgent(None), h2=FakeAgent("v1"))
    calls = []

    def guard() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise PlatError("web: the deploy lock was lost on h2")

    res = rollout(c, REL, Deploy(batch=1), lambda conn, p: 0, guard=guard)  # type: ignore[arg-type]
    assert c["h1"].agent().calls == [("deploy", "v2"), ("destroy", True)]
    assert res[0].state == "rolled back" and "lock was lost" in res[1].detail and c["h2"].agent().calls == []
    assert outcome(res, "v2") == "old"


def test_keep_on_failure_leaves_switched_hosts_and_says_mixed() -> None:
    c = conns(h1=FakeAgent("v1"), h2=FakeAgent("v1", fail_deploy=True))
    res = rollout(c, REL, Deploy(batch=1, on_failure="keep"), lambda conn, p: 0)  # type: ignore[arg-type]
    assert [r.state for r in res] == ["kept new", "failed"] and outcome(res, "v2") == "mixed"


def test_a_delivery_failure_stops_before_any_switch() -> None:
    c = conns(h1=FakeAgent("v1"), h2=FakeAgent("v1"))

    def deliver(conn, progress):  # type: ignore[no-untyped-def]
        if conn.name == "h2":
            raise PlatError("h2: the host's disk is full; the image could not be loaded")
        return 5

    res = rollout(c, REL, Deploy(), deliver)
    assert [r.state for r in res] == ["not switched", "failed"] and outcome(res, "v2") == "old"
    assert c["h1"].agent().calls == [] and "disk is full" in res[1].detail


def test_remote_agent_env_keeps_the_api_on_loopback() -> None:
    env = remote_agent_env(AgentSettings(gateway_port=8088, domain="apps.example.com"))
    assert env["PLAT_AGENT_API_BIND"] == "127.0.0.1" and env["PLAT_AGENT_GATEWAY_BIND"] == "0.0.0.0"
    assert env["PLAT_AGENT_GATEWAY_PORT"] == "8088" and env["PLAT_AGENT_DOMAIN"] == "apps.example.com"
    assert env["PLAT_AGENT_ID"] == "host"  # not the name plat.yaml happens to use


def test_dotenv() -> None:
    text = "# comment\nexport A=1\nB = 'two words'\nC=\"x#y\"\nD=plain # trailing\n\nE=\n"
    assert parse_dotenv(text, Path(".env")) == {"A": "1", "B": "two words", "C": "x#y", "D": "plain", "E": ""}
    text = 'F="quoted # not a comment"\nG=\'single $NOEXPAND\'\nH="line\\nbreak"\nI="x" # note\n'
    assert parse_dotenv(text, Path(".env")) == {"F": "quoted # not a comment", "G": "single $NOEXPAND",
                                                 "H": "line\nbreak", "I": "x"}, "a note after quotes is no value"
    with pytest.raises(PlatError, match=r"\.env:2: expected KEY=value"):
        parse_dotenv("A=1\nnot a line\n", Path(".env"))


def test_agent_manifest_drops_fleet_keys_and_merges_dotenv(tmp_path: Path) -> None:
    from plat.app import agent_manifest, resolve_app

    (tmp_path / "plat.yaml").write_text("name: web\nruntime: go\nhosts: [h1]\nenv: {A: yaml}\n")
    (tmp_path / ".env").write_text("A=dotenv\nB=dotenv\n")
    data = agent_manifest(resolve_app(tmp_path))
    assert "hosts" not in data and "registry" not in data and "deploy" not in data
    assert data["env"] == {"A": "yaml", "B": "dotenv"} and data["port"] == 8080
