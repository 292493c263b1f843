"""The agent's edge against hostile tenants and clients: the real local agent (its image's
HAProxy, the real engine), driven over its HTTP API with tenant tokens as an attacker holds them.

Every body field of every route is fed the values that broke the edge before (a newline and a
`program` section, `;` that starts a runtime command, `#`, quotes, NUL, huge and negative
numbers); two tenants race for one new name; bodies that lie about their size; requests that
try to reach the activator around the gateway's key check.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from agent.routes import ROUTES
from tests.integration.conftest import ROOT, plat, wait_for
from tests.integration.test_agent import agent  # noqa: F401 - the module's own real agent

pytestmark = [pytest.mark.integration, pytest.mark.security]

MARK = "plat-pwned"
HOSTILE: tuple[Any, ...] = (
    f"1\nprogram {MARK}\n  command /bin/sh -c 'touch /tmp/{MARK}'\n", f"1; set server app_x/y addr 10.0.0.1 #{MARK}",
    f"1 #{MARK}", f"'{MARK}\"", f"a\x00{MARK}", 10**12, -1, 2**63, 1.5e308, [MARK], {MARK: 1},
)


@pytest.fixture(scope="module")
def image(agent: dict[str, str]) -> str:  # noqa: F811
    res = plat("build", str(ROOT / "examples/hello-go"), "--json")
    assert res.code == 0, res.stderr
    return json.loads(res.stdout)["image"]


class Caller:
    """The agent's API as one principal (a token) sees it."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, json=body, **kw)


@pytest.fixture(scope="module")
def callers(agent: dict[str, str]) -> Iterator[dict[str, Caller]]:  # noqa: F811
    admin = Caller(agent["api"], agent["token"])
    out = {"admin": admin}
    for name in ("acme", "evil"):
        r = admin("POST", "/v1/tenants", {"name": f"{name}-{id(out) % 10000}"})
        assert r.status_code == 201, r.text
        out[name] = Caller(agent["api"], r.json()["token"])
    yield out
    for c in out.values():
        c.http.close()


def manifest(**scale: Any) -> dict[str, Any]:
    return {"port": 8080, "health": "/healthz", "env": {"GREETING": "hi"},
            "scale": {"min_warm": 0, "max_instances": 2, "concurrency": 8, "idle_timeout": "30s", **scale},
            "resources": {"memory": "128m", "cpus": 0.5}}


def baselines(image: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """A valid body for every route that takes one: (method, path, body)."""
    return {
        "deploy": ("POST", "/v1/apps/{app}/deploy", {
            "version": "v1", "image": image, "digest": "sha256:" + "0" * 64, "manifest": manifest(),
            "pull": {"auth": {"username": "robot", "password": "pw"}, "always": False}}),
        "rollback": ("POST", "/v1/apps/{app}/rollback", {"version": "v1"}),
        "scale": ("POST", "/v1/apps/{app}/scale", {"min_warm": 0, "max_instances": 2}),
        "lock": ("POST", "/v1/apps/{app}/lock", {"holder": "alice", "machine": "laptop", "pid": 1, "ttl": 30}),
        "release_lock": ("DELETE", "/v1/apps/{app}/lock", {"token": "plat_x", "force": False}),
        "renew_lock": ("POST", "/v1/apps/{app}/lock/renew", {"token": "plat_x"}),
        "set_secret": ("PUT", "/v1/apps/{app}/secrets/API_TOKEN", {"value": "v"}),
        "create_tenant": ("POST", "/v1/tenants", {"name": "t1"}),
    }


def leaves(body: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every value of a JSON body, mappings included, and `(..., "<key>")` for the
    first key of each mapping (the value then goes in as a key)."""
    if prefix:
        yield prefix
    if isinstance(body, dict) and body:
        yield (*prefix, "<key>")
        for k, v in body.items():
            yield from leaves(v, (*prefix, k))


def with_value(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node = out
    for part in path[:-1]:
        node = node[part]
    if path[-1] == "<key>":
        old = next(iter(node))
        node[value if isinstance(value, str) else str(value)] = node.pop(old)
    else:
        node[path[-1]] = value
    return out


def haproxy_text(agent: dict[str, str]) -> str:  # noqa: F811
    state = Path(agent["home"]) / "agent"
    return "".join(p.read_text() for p in (state / "haproxy.cfg", state / "apps.map") if p.exists())


def test_every_body_field_of_every_route_refuses_hostile_values(agent: dict[str, str],  # noqa: F811
                                                                callers: dict[str, Caller], image: str) -> None:
    bodies = baselines(image)
    assert {r.handler for r in ROUTES if r.body is not None} == set(bodies), "a route with a body is not covered"
    # Strings that are data, never config: they go to a container's environment or to the
    # registry, so quotes and newlines are theirs to have (NUL is not: it ends a C string).
    data_fields = {("manifest", "env", "GREETING"), ("pull", "auth", "username"), ("pull", "auth", "password"),
                   ("value",), ("holder",), ("machine",)}
    acme = callers["acme"]
    first = acme("POST", "/v1/apps/edge-probe/deploy", bodies["deploy"][2])  # so app routes read their bodies
    assert first.status_code == 200, first.text
    before, refused, accepted = haproxy_text(agent), 0, set()
    for handler, (method, path, body) in bodies.items():
        caller = callers["admin"] if handler == "create_tenant" else acme
        for leaf in leaves(body):
            for value in HOSTILE:
                r = caller(method, path.format(app="edge-probe"), with_value(body, leaf, value))
                if r.status_code == 400:
                    assert r.json()["code"] == "invalid", r.text
                    assert MARK not in r.text or isinstance(value, (dict, list)), "refusals do not echo values"
                    refused += 1
                    continue
                assert r.status_code < 500, (handler, leaf, value, r.text)
                accepted.add((handler, leaf, repr(value)))
                assert leaf in data_fields and isinstance(value, str), \
                    f"{handler} {'.'.join(map(str, leaf))}={value!r} was accepted ({r.status_code})"
    assert refused > 300, refused
    assert MARK not in haproxy_text(agent) and haproxy_text(agent).count("backend ") >= before.count("backend ")
    assert not Path(f"/tmp/{MARK}").exists()
    # The gateway still routes: a fresh app deploys and answers.
    r = acme("POST", "/v1/apps/edge-after/deploy", {"version": "v1", "image": image, "manifest": manifest()})
    assert r.status_code == 200, r.text
    assert httpx.get(f"{agent['gateway']}/edge-after/healthz", timeout=30).status_code == 200
    for app in ("edge-probe", "edge-after"):
        acme("DELETE", f"/v1/apps/{app}")


def test_the_scale_ceilings_hold(agent: dict[str, str], callers: dict[str, Caller], image: str) -> None:  # noqa: F811
    acme = callers["acme"]
    r = acme("POST", "/v1/apps/ceil/deploy", {"version": "v1", "image": image,
                                                "manifest": manifest(min_warm=400, max_instances=1)})
    assert r.status_code == 400 and "min_warm (400) is more than max_instances (1)" in r.text
    r = acme("POST", "/v1/apps/ceil/deploy", {"version": "v1", "image": image, "manifest": manifest(max_instances=65)})
    assert r.status_code == 422 and r.json()["code"] == "limit" and "PLAT_AGENT_MAX_INSTANCES" in r.text
    assert acme("POST", "/v1/apps/ceil/deploy",
                {"version": "v1", "image": image, "manifest": manifest()}).status_code == 200
    for body in ({"min_warm": 3, "max_instances": 2}, {"min_warm": 3}):
        r = acme("POST", "/v1/apps/ceil/scale", body)
        assert r.status_code in (400, 422) and r.json()["code"] in ("invalid", "limit"), r.text
    assert acme("GET", "/v1/apps/ceil").json()["policy"]["max_instances"] == 2
    assert acme("POST", "/v1/apps/ceil/scale", {"min_warm": 1, "max_instances": 2}).status_code == 200
    acme("DELETE", "/v1/apps/ceil")


def test_two_tenants_racing_for_a_new_name_end_with_exactly_one_owner(
        agent: dict[str, str], callers: dict[str, Caller], image: str, engine: docker.DockerClient) -> None:  # noqa: F811
    """Both deploy the same new name at the same instant: one wins the name, the other gets
    403 app_owned_elsewhere, and what serves is the winner's release."""
    for round_ in range(5):
        app, results = f"race-{round_}", {}
        barrier = threading.Barrier(2)

        def go(who: str, barrier: threading.Barrier = barrier, results: dict[str, httpx.Response] = results,
               app: str = app) -> None:
            barrier.wait()
            body = {"version": who, "image": image, "manifest": {**manifest(), "env": {"OWNER": who}}}
            results[who] = callers[who]("POST", f"/v1/apps/{app}/deploy", body)

        threads = [threading.Thread(target=go, args=(w,)) for w in ("acme", "evil")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted((r.status_code, r.json().get("code")) for r in results.values())
        assert codes == [(200, None), (403, "app_owned_elsewhere")], codes
        winner = next(w for w, r in results.items() if r.status_code == 200)
        loser = "evil" if winner == "acme" else "acme"
        status = callers[winner]("GET", f"/v1/apps/{app}").json()
        assert status["live_version"] == winner and [v["version"] for v in status["versions"]] == [winner]
        assert callers[loser]("GET", f"/v1/apps/{app}").status_code == 404
        for kind in ("events", "audit", "logs", "secrets"):
            r = callers[loser]("GET", f"/v1/apps/{app}/{kind}")
            assert r.status_code in (403, 404) and winner not in r.text, (kind, r.text)
        assert all(i["app"] != app for i in callers[loser]("GET", "/v1/invocations").json())
        callers[winner]("DELETE", f"/v1/apps/{app}")


def _raw(port: int, request: bytes, timeout: float = 30) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return received


def _agent_memory(engine: docker.DockerClient, agent: dict[str, str]) -> int:  # noqa: F811
    stats = engine.containers.get(agent["container"]).stats(stream=False)
    return int(stats["memory_stats"]["usage"])


def test_chunked_bodies_are_bounded_as_they_stream(agent: dict[str, str], callers: dict[str, Caller],  # noqa: F811
                                                  image: str, engine: docker.DockerClient) -> None:
    port = int(agent["api"].rsplit(":", 1)[1])
    assert callers["acme"]("POST", "/v1/apps/chunky/deploy",
                           {"version": "v1", "image": image, "manifest": manifest()}).status_code == 200
    head = b"POST /async/chunky/job HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    before = _agent_memory(engine, agent)
    huge = _raw(port, head + b"19000000\r\n" + b"x" * 65536)  # declares 400 MiB, sends 64 KiB
    negative = _raw(port, head + b"-5\r\nxxxxx\r\n0\r\n\r\n")
    garbage = _raw(port, head + b"zz\r\nxx\r\n0\r\n\r\n")
    smuggled = _raw(port, b"POST /async/chunky/job HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 413") and negative.startswith(b"HTTP/1.1 413"), (huge[:80], negative[:80])
    assert garbage.startswith(b"HTTP/1.1 400") and smuggled.startswith(b"HTTP/1.1 400")
    assert smuggled.count(b"HTTP/1.1 ") == 1, "nothing after the refusal is read as a request"
    # Many small chunks adding up to 300 MiB: refused once past the limit, the rest unread.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        chunk = b"100000\r\n" + b"x" * 0x100000 + b"\r\n"
        sent = 0
        try:
            for _ in range(300):
                s.sendall(chunk)
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = s.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413") and sent < 300, (reply[:80], sent)
    grown = _agent_memory(engine, agent) - before
    assert grown < 24 * 2**20, f"the agent grew by {grown / 2**20:.1f} MiB"
    # A chunked async request the agent accepts is replayed with one framing, and it works.
    r = httpx.post(f"{agent['gateway']}/async/chunky/echo", content=iter([b"hello ", b"world"]), timeout=30)
    assert r.status_code == 202, r.text
    inv = r.json()["id"]
    done = wait_for(lambda: (row := callers["acme"]("GET", f"/v1/invocations/{inv}").json())["status"] != "queued"
                    and row["status"] != "running" and row, what="the chunked invocation to finish")
    assert done["status"] in ("done", "failed") and done["result_status"] < 500, done
    callers["acme"]("DELETE", "/v1/apps/chunky")


def test_the_activator_asks_for_the_key_of_a_request_that_did_not_pass_the_gateway(
        agent: dict[str, str], callers: dict[str, Caller], image: str) -> None:  # noqa: F811
    acme = callers["acme"]
    assert acme("POST", "/v1/apps/keyed/deploy", {"version": "v1", "image": image,
                                                   "manifest": manifest()}).status_code == 200
    key = acme("POST", "/v1/apps/keyed/api-key").json()["api_key"]
    activator = int(os.environ["PLAT_AGENT_ACTIVATOR_PORT"])  # set by the agent fixture
    for headers in ({}, {"X-Plat-Via": "_activator_" + "0" * 32}, {"X-Plat-Key": "wrong"}):
        reply = _raw(activator, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Plat-App: keyed\r\nConnection: close\r\n"
                     + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n")
        assert reply.startswith(b"HTTP/1.1 401"), (headers, reply[:200])
    reply = _raw(activator, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Plat-App: keyed\r\nConnection: close\r\n"
                 + f"X-Plat-Key: {key}\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    # Through the gateway: the key is checked there, and the activator (scale from zero) trusts it.
    assert httpx.get(f"{agent['gateway']}/keyed/healthz", timeout=30).status_code == 401
    r = httpx.get(f"{agent['gateway']}/keyed/healthz", headers={"X-Plat-Key": key, "X-Plat-Internal": "0" * 32},
                  timeout=60)
    assert r.status_code == 200 and not r.headers.get("X-Plat-Instance", "").startswith("_activator_")
    assert httpx.get(f"{agent['gateway']}/keyed/healthz", headers={"X-Plat-Internal": "0" * 32},
                     timeout=30).status_code == 401, "a guessed internal key is no key"
    # An async call is stored without its key, and still delivered: the invoker has its own.
    r = httpx.get(f"{agent['gateway']}/async/keyed/healthz", headers={"X-Plat-Key": key}, timeout=30)
    assert r.status_code == 202, r.text
    inv = r.json()["id"]
    done = wait_for(lambda: (row := acme("GET", f"/v1/invocations/{inv}").json())["status"] in ("done", "failed",
                                                                                                 "dead") and row,
                    timeout=60, what="the keyed app's invocation to finish")
    assert (done["status"], done["result_status"]) == ("done", 200), done
    acme("DELETE", "/v1/apps/keyed")


def test_one_tenants_app_cannot_reach_anothers_by_its_address(
        agent: dict[str, str], callers: dict[str, Caller], image: str, engine: docker.DockerClient) -> None:  # noqa: F811
    """Instances sit on a bridge with inter-container traffic off: from a container on it, no
    instance answers (neither another tenant's nor its own); the gateway still reaches both."""
    for who in ("acme", "evil"):
        r = callers[who]("POST", f"/v1/apps/net-{who}/deploy",
                         {"version": "v1", "image": image, "manifest": {**manifest(), "scale": {"min_warm": 1}}})
        assert r.status_code == 200, r.text

    def address(app: str) -> tuple[str, str, int]:
        member = callers[app.removeprefix("net-")]("GET", f"/v1/apps/{app}").json()["instances"][0]
        container = engine.containers.get(member["id"])
        network = container.labels["plat.network"]
        ip = container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        return network, ip, int(container.labels["plat.port"])

    acme_net, acme_ip, port = address("net-acme")
    evil_net, evil_ip, _ = address("net-evil")
    assert acme_net == evil_net
    assert engine.networks.get(acme_net).attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    probe = ("import socket,sys\n"
             "for ip in sys.argv[1:]:\n"
             "    try:\n"
             f"        socket.create_connection((ip, {port}), timeout=3).close(); print(ip, 'open')\n"
             "    except OSError as e: print(ip, 'closed', e)\n")
    agent_image = engine.containers.get(agent["container"]).image.id
    out = engine.containers.run(agent_image, ["python3", "-c", probe, acme_ip, evil_ip], network=acme_net,
                                remove=True, entrypoint=[]).decode()
    assert f"{acme_ip} closed" in out and f"{evil_ip} closed" in out, out
    for who in ("acme", "evil"):
        assert httpx.get(f"{agent['gateway']}/net-{who}/healthz", timeout=30).status_code == 200
        callers[who]("DELETE", f"/v1/apps/net-{who}")


def _answers(api: Caller) -> bool:
    try:
        return api("GET", "/v1/health").status_code == 200
    except httpx.TransportError:
        return False


def test_an_agent_killed_mid_deploy_restarts_serving_what_it_was_serving(
        image: str, engine: docker.DockerClient, tmp_path: Path) -> None:
    """A test-only setting (PLAT_AGENT_FAULT) kills the agent at a named deploy step, as
    `kill -9` would; the engine restarts it and it reconciles from what runs. Killed after the
    switch, the new version serves; killed after warming only, the old one still does."""
    from tests.integration.conftest import free_port

    env = {"PLAT_HOME": str(tmp_path / "home"), "PLAT_AGENT_API_PORT": str(free_port()),
           "PLAT_AGENT_GATEWAY_PORT": str(free_port()), "PLAT_AGENT_ACTIVATOR_PORT": str(free_port())}

    def up(fault: str) -> tuple[Caller, str]:
        res = plat("agent", "up", "--json", env={**env, "PLAT_AGENT_FAULT": fault})
        assert res.code == 0, res.stderr
        info = json.loads(res.stdout)
        token = (tmp_path / "home" / "agent" / "admin-token").read_text().strip()
        return Caller(info["api"], token), info["gateway"]

    def serving(gateway: str) -> str:
        return httpx.get(f"{gateway}/killed/healthz", timeout=30).headers.get("X-Plat-Instance", "")

    def deploy(api: Caller, version: str) -> httpx.Response | None:
        body = {"version": version, "image": image, "manifest": {**manifest(), "scale": {"min_warm": 1}}}
        try:
            return api("POST", "/v1/apps/killed/deploy", body)
        except httpx.TransportError:
            return None  # the agent died mid-request

    try:
        api, gateway = up("")
        assert deploy(api, "v1").status_code == 200
        for fault, version, expected in (("after-switch", "v2", "v2"), ("after-warm", "v3", "v2")):
            api, gateway = up(fault)
            assert deploy(api, version) is None, f"the agent dies {fault}"
            wait_for(lambda api=api: _answers(api), timeout=60, what="the engine to restart the agent")
            status = api("GET", "/v1/apps/killed").json()
            assert status["live_version"] == expected, status
            assert serving(gateway).startswith(f"plat-killed-{expected}-"), serving(gateway)
        versions = {v["version"]: v["status"] for v in api("GET", "/v1/apps/killed").json()["versions"]}
        assert versions["v2"] == "live" and versions["v3"] == "retired", versions
        trail = api("GET", "/v1/apps/killed/audit").json()
        assert any(e["kind"] == "switched" and e["actor"] == "agent (recovered at start)" for e in trail)
    finally:
        plat("agent", "down", "--purge", env=env)
