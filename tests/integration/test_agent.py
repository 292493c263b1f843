"""The local agent on a real engine: gateway (HAProxy), warm pool, activator, async queue, store.

One agent for the module (started with `plat agent up` on free ports, state in a temp PLAT_HOME);
apps are deployed with the real CLI and called over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from tests.integration.conftest import LABEL, ROOT, free_port, local_agent, plat, wait_for

pytestmark = pytest.mark.integration
FLAKY = ROOT / "tests/fixtures/flaky"


@pytest.fixture(scope="module")
def agent(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    # A start timeout below schemathesis's request timeout: its deploys of a real image with a
    # made-up health path must be refused (422) before it gives up on them.
    with local_agent(tmp_path_factory.mktemp("plat-home"), PLAT_AGENT_IDLE_TIMEOUT="2", PLAT_AGENT_TICK="0.3",
                     PLAT_AGENT_MAX_ATTEMPTS="3", PLAT_AGENT_START_TIMEOUT="10") as info:
        yield info


def deploy(source: Path) -> dict:
    res = plat("deploy", str(source), "--json")
    assert res.code == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def flaky(agent: dict[str, str]) -> str:
    deploy(FLAKY)
    return f"{agent['gateway']}/flaky"


def instances(engine: docker.DockerClient, app: str, status: str | None = None) -> list:
    labels = [LABEL, "plat.role=instance", f"plat.app={app}"]
    for _ in range(10):
        try:
            found = engine.containers.list(all=True, filters={"label": labels})
            break
        except docker.errors.NotFound:  # the agent removed one between the listing and its inspect
            time.sleep(0.05)
    else:
        found = engine.containers.list(all=True, filters={"label": labels})
    return [c for c in found if status is None or c.status == status]


def test_deploy_and_invoke_example(agent: dict[str, str], engine: docker.DockerClient) -> None:
    result = deploy(ROOT / "examples/hello-go")
    assert result["url"] == f"{agent['gateway']}/hello-go/"
    r = httpx.get(result["url"])
    assert r.status_code == 200 and "hello from hello-go" in r.text
    assert r.headers["X-Plat-Instance"].startswith("plat-hello-go-")
    assert httpx.get(f"{agent['gateway']}/healthz", headers={"Host": "hello-go.plat.localhost"}).text.strip() == "ok"
    cli = plat("invoke", "hello-go", "/", "--json")
    assert cli.code == 0 and json.loads(cli.stdout)["body"]["message"] == "hello from hello-go"
    missing = httpx.get(f"{agent['gateway']}/no-such-app/")
    assert missing.status_code == 404 and missing.json()["error"] == "no such app"


def test_a_local_deploy_goes_the_way_a_hosts_does(agent: dict[str, str]) -> None:
    """Under the app's deploy lock (audited as user@machine), with a record of the outcome."""
    deploy(ROOT / "examples/hello-go")
    trail = json.loads(plat("audit", "hello-go", "--json").stdout)
    kinds = [(e["kind"], e["actor"]) for e in trail[:4]]
    assert [k for k, _ in kinds] == ["lock-release", "switched", "deploy-started", "lock-acquire"], kinds
    assert all("@" in a for _, a in kinds), "the actor is who deployed, not the admin tenant"
    record = json.loads((Path(agent["home"]) / "deploys" / "hello-go@local.json").read_text())
    assert record["outcome"] == "ok" and record["hosts"] == {"local": "switched"}


def test_user_containers_are_hardened(agent: dict[str, str], engine: docker.DockerClient, flaky: str) -> None:
    httpx.get(flaky + "/")
    inst = wait_for(lambda: instances(engine, "flaky"))[0]
    host = inst.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["ReadonlyRootfs"] is True and host["PidsLimit"] == 256
    published = [b for b in (inst.attrs["NetworkSettings"]["Ports"] or {}).values() if b]
    assert not published and not host["PortBindings"], "instances publish no ports: only the gateway reaches them"
    assert inst.attrs["Config"]["User"] == "10001:10001"


def test_scale_to_zero_and_back_with_a_held_request(agent: dict[str, str], engine: docker.DockerClient,
                                                    flaky: str) -> None:
    assert httpx.get(flaky + "/").status_code == 200
    # Idle for longer than the idle timeout (2 s): the instance steps down to paused.
    wait_for(lambda: not instances(engine, "flaky", "running") and instances(engine, "flaky", "paused"), 30)
    r = httpx.get(flaky + "/", timeout=30)
    assert r.status_code == 200 and r.headers["X-Plat-Cold-Start"] == "1"
    r2 = httpx.get(flaky + "/")
    assert r2.status_code == 200 and r2.headers["X-Plat-Cold-Start"] == "0"


def test_scale_up_under_concurrency(agent: dict[str, str], engine: docker.DockerClient, flaky: str) -> None:
    stop = time.monotonic() + 15
    statuses: list[int] = []

    def load() -> None:
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop and len(instances(engine, "flaky", "running")) < 2:
                statuses.append(http.get(flaky + "/slow?s=0.3").status_code)

    threads = [threading.Thread(target=load) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(instances(engine, "flaky", "running")) >= 2
    assert statuses and all(s == 200 for s in statuses)


def test_killed_instance_is_replaced(agent: dict[str, str], engine: docker.DockerClient) -> None:
    res = plat("scale", "hello-go", "--min", "1")
    assert res.code == 0, res.stderr
    victim = wait_for(lambda: instances(engine, "hello-go", "running"))[0]
    victim.kill()
    wait_for(lambda: [c for c in instances(engine, "hello-go", "running") if c.id != victim.id], 30)
    assert httpx.get(f"{agent['gateway']}/hello-go/").status_code == 200


def test_async_retries_then_done_and_poison_goes_dead(agent: dict[str, str], flaky: str) -> None:
    gw = agent["gateway"]
    ok = httpx.post(f"{gw}/async/flaky/flaky/retry-me?fail=2", content=b"payload").json()
    poison = httpx.post(f"{gw}/async/flaky/flaky/poison?fail=99").json()

    def final(inv_id: str) -> dict | None:
        inv = httpx.get(f"{gw}/async/flaky/~invocations/{inv_id}").json()
        return inv if inv["status"] in ("done", "dead", "failed") else None

    done = wait_for(lambda: final(ok["id"]), 60)
    assert done["status"] == "done" and done["attempts"] == 3
    assert json.loads(done["result_body"]) == {"attempt": 3, "ok": True, "body": "payload"}
    dead = wait_for(lambda: final(poison["id"]), 60)
    assert dead["status"] == "dead" and dead["attempts"] == 3 and dead["result_status"] == 500
    listed = httpx.get(f"{agent['api']}/v1/invocations", params={"app": "flaky"},
                       headers={"Authorization": f"Bearer {agent['token']}"}).json()
    assert {ok["id"], poison["id"]} <= {i["id"] for i in listed}


def test_redeploy_under_load_has_zero_errors_and_broken_version_keeps_old(
        agent: dict[str, str], engine: docker.DockerClient, tmp_path: Path, flaky: str) -> None:
    app = tmp_path / "flaky"
    shutil.copytree(FLAKY, app)
    source = app / "app.py"
    source.write_text(source.read_text().replace('"v1"', '"v2"'))
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as http:
            for _ in range(2000):
                if stop.is_set():
                    return
                r = http.get(flaky + "/")
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.add(r.json()["version"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deploy(app)
        wait_for(lambda: "v2" in versions, 30)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) == {200}, f"non-2xx during redeploy: {sorted(set(statuses))}"
    assert httpx.get(flaky + "/").json()["version"] == "v2"

    (app / "plat.yaml").write_text((app / "plat.yaml").read_text().replace("health: /healthz", "health: /nope"))
    source.write_text(source.read_text().replace('"v2"', '"v3"'))
    broken = plat("deploy", str(app))
    assert broken.code == 1 and "failed its health check" in broken.stderr
    assert httpx.get(flaky + "/").json()["version"] == "v2"

    back = plat("rollback", "flaky", "--json")
    assert back.code == 0, back.stderr
    assert httpx.get(flaky + "/").json()["version"] == "v1"


def test_restart_restores_routes_without_duplicates_and_delivers_queued_jobs(
        agent: dict[str, str], engine: docker.DockerClient, flaky: str) -> None:
    assert plat("scale", "flaky", "--min", "1").code == 0
    wait_for(lambda: len(instances(engine, "flaky", "running")) == 1)
    before = {c.id for c in instances(engine, "flaky")}
    # A job whose delivery takes 3 s; the agent is killed while it is in flight.
    job = httpx.post(f"{agent['gateway']}/async/flaky/slow?s=3").json()
    wait_for(lambda: httpx.get(f"{agent['gateway']}/async/flaky/~invocations/{job['id']}").json()["status"]
             == "running", 10, interval=0.02)
    engine.containers.get(agent["container"]).restart(timeout=0)
    wait_for(lambda: _up(agent), 60)
    after = {c.id for c in instances(engine, "flaky")}
    assert after == before, "instances re-adopted by label, none duplicated or lost"
    assert httpx.get(flaky + "/").status_code == 200
    inv = wait_for(lambda: (i := httpx.get(f"{agent['gateway']}/async/flaky/~invocations/{job['id']}").json())
                   ["status"] == "done" and i, 60)
    assert inv["attempts"] == 2 and inv["result_status"] == 200
    assert plat("scale", "flaky", "--min", "0").code == 0


def _up(agent: dict[str, str]) -> bool:
    try:
        return httpx.get(f"{agent['api']}/v1/health", headers={"Authorization": f"Bearer {agent['token']}"},
                         timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


ADMIN_ROUTES = [("GET", "/v1/apps"), ("GET", "/v1/apps/flaky"), ("DELETE", "/v1/apps/flaky"),
                ("POST", "/v1/apps/flaky/deploy"), ("POST", "/v1/apps/flaky/rollback"),
                ("POST", "/v1/apps/flaky/scale"), ("GET", "/v1/apps/flaky/logs"), ("GET", "/v1/apps/flaky/events"),
                ("GET", "/v1/invocations"), ("GET", "/v1/tenants"), ("POST", "/v1/tenants"), ("GET", "/v1/health")]


def test_tokens_and_tenants(agent: dict[str, str], flaky: str) -> None:
    api = agent["api"]
    for method, path in ADMIN_ROUTES:
        assert httpx.request(method, api + path).status_code == 401, (method, path)
        assert httpx.request(method, api + path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    admin = {"Authorization": f"Bearer {agent['token']}"}
    created = httpx.post(f"{api}/v1/tenants", json={"name": "team-b"}, headers=admin)
    assert created.status_code == 201
    other = {"Authorization": f"Bearer {created.json()['token']}"}
    assert httpx.get(f"{api}/v1/apps", headers=other).json() == []
    for method, path in ADMIN_ROUTES:
        if "/apps/flaky" in path:
            code = httpx.request(method, api + path, headers=other, json={}).status_code
            assert code in (403, 404), (method, path, code)
    assert httpx.get(f"{api}/v1/tenants", headers=other).status_code == 403
    assert httpx.post(f"{api}/v1/apps/flaky/deploy", headers=other,
                      json={"version": "x", "image": "x", "manifest": {}}).status_code == 403
    token_file = Path(agent["home"]) / "agent" / "admin-token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"


def test_logs_are_tagged_with_the_instance(agent: dict[str, str], flaky: str) -> None:
    httpx.get(flaky + "/")
    res = plat("logs", "flaky", "--tail", "5")
    assert res.code == 0 and "plat-flaky-" in res.stdout


def test_control_api_against_its_openapi_schema(agent: dict[str, str], flaky: str) -> None:
    """schemathesis fuzzes every operation but the log stream (with `follow` it streams until
    its client goes, which a fuzzer takes for a hang; test_control_api checks its parameters):
    no 5xx, responses match the schema, 405s say Allow."""
    import subprocess
    import sys

    st = Path(sys.executable).with_name("schemathesis")
    res = subprocess.run([str(st), "run", f"{agent['api']}/v1/openapi.json", "-H",
                          f"Authorization: Bearer {agent['token']}", "--max-examples", "10", "--checks", "all",
                          # A schema-valid deploy of an image that does not exist is rightly refused (422).
                          "--exclude-checks", "positive_data_acceptance", "--request-timeout", "30",
                          "--phases", "examples,coverage,fuzzing", "--exclude-operation-id", "logs"],
                         capture_output=True, text=True, timeout=600, cwd=tempfile.mkdtemp())
    assert res.returncode == 0, res.stdout[-4000:]


def test_a_developers_agent_is_neither_replaced_nor_in_the_way(agent: dict[str, str], engine: docker.DockerClient,
                                                               tmp_path: Path) -> None:
    """The developer's agent (default PLAT_HOME, container `plat-agent`) keeps running while a
    test's agent under its own PLAT_HOME starts and is purged beside it."""
    started_here = False
    try:
        developer = engine.containers.get("plat-agent")
    except docker.errors.NotFound:
        # None runs: stand one up as a developer would (no PLAT_HOME; HOME here, so nobody's state).
        ports = {"PLAT_AGENT_API_PORT": str(free_port()), "PLAT_AGENT_GATEWAY_PORT": str(free_port()),
                 "PLAT_AGENT_ACTIVATOR_PORT": str(free_port())}
        res = plat("agent", "up", "--json", env={"PLAT_HOME": "", "HOME": str(tmp_path / "dev"), **ports})
        assert res.code == 0, res.stderr
        assert json.loads(res.stdout)["container"] == "plat-agent"
        developer, started_here = engine.containers.get("plat-agent"), True
    try:
        other = {"PLAT_HOME": str(tmp_path / "other"), "PLAT_AGENT_API_PORT": str(free_port()),
                 "PLAT_AGENT_GATEWAY_PORT": str(free_port()), "PLAT_AGENT_ACTIVATOR_PORT": str(free_port())}
        res = plat("agent", "up", "--json", env=other)
        assert res.code == 0, res.stderr
        name = json.loads(res.stdout)["container"]
        assert name.startswith("plat-agent-") and name != agent["container"]
        assert engine.containers.get(name).status == "running"
        assert plat("agent", "down", "--purge", env=other).code == 0
        with pytest.raises(docker.errors.NotFound):
            engine.containers.get(name)
        developer.reload()
        assert developer.status == "running" and engine.containers.get("plat-agent").id == developer.id
        assert _up(agent), "the module's own agent still answers"
    finally:
        if started_here:
            plat("agent", "down", "--purge", env={"PLAT_HOME": "", "HOME": str(tmp_path / "dev")})
