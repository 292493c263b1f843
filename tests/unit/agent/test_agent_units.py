"""Agent builders and store, as data: HAProxy config and commands, stats parsing, queue, tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.db import Store
from agent.haproxy_config import (
    AppRoute,
    GatewayConfig,
    Server,
    add_server,
    app_load,
    backend_name,
    delete_server,
    parse_stat,
    render,
    render_map,
)
from agent.invoker import backoff, outcome
from agent.settings import Settings
from agent.tokens import authenticate, new_token, token_hash, write_secret_file

CFG = GatewayConfig(bind="0.0.0.0", port=8080, domain="apps.example", state_dir="/state",
                    activator="127.0.0.1:7071", control="127.0.0.1:7070", activator_name="_activator_" + "ab" * 16)


def test_render_routes_by_host_and_path_with_activator_backup() -> None:
    text = render(CFG, [AppRoute("web", 30, (Server("i1", "172.18.0.2:8080", 8),), api_key_sha256="AB12" * 16)])
    assert "bind 0.0.0.0:8080" in text
    assert "acl by_host var(txn.host) -m end .apps.example" in text
    assert "set-path /%[path,field(3,/,0)]" in text and " -m reg " not in text
    assert "use_backend %[var(txn.app),map(/state/apps.map,unknown)]" in text
    assert "backend app_web\n    balance leastconn\n    timeout server 30000ms" in text
    assert f"    server _activator_{'ab' * 16} 127.0.0.1:7071 backup\n    server i1 172.18.0.2:8080 maxconn 8" in text
    assert "    http-send-name-header X-Plat-Via" in text, "the activator learns a request passed the key check"
    assert "sha2(256),hex,lower -m str " + "ab12" * 16 in text
    assert "http-reuse always" in text and "stats socket /state/haproxy.sock" in text
    assert render_map(["web", "api"]) == "api app_api\nweb app_web\n"


def test_runtime_commands() -> None:
    assert add_server("web", Server("i1", "10.0.0.2:80", 4)) == \
        "add server app_web/i1 10.0.0.2:80 maxconn 4; enable server app_web/i1"
    assert delete_server("web", "i1") == "del server app_web/i1"
    assert delete_server("web", "i1", force=True) == "shutdown sessions server app_web/i1; del server app_web/i1"
    with pytest.raises(ValueError):
        backend_name("Bad_Name")


def test_parse_stat_and_app_load() -> None:
    csv = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,lastsess\n"
           f"app_web,_activator_{'ab' * 16},0,0,0,0,,1,UP,-1\n"
           "app_web,i1,2,2,8,8,8,40,UP,3\n"
           "app_web,i2,0,0,1,1,8,5,UP,-1\n"
           "app_web,BACKEND,5,5,9,9,,45,UP,3\n"
           "app_api,i9,0,0,0,0,,0,UP,100\n")
    rows = parse_stat(csv)
    assert len(rows) == 5
    queued, servers = app_load(rows, "web")
    assert queued == 7 and servers == {"i1": (8, 3), "i2": (1, None)}


def test_backoff_and_outcomes() -> None:
    assert [backoff(n, 0.5) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(30) == 60.0
    assert [outcome(s) for s in (200, 302, 404, 429, 500, 503, None)] == \
        ["done", "done", "failed", "retry", "retry", "retry", "retry"]


def test_queue_claims_atomically_and_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    store = Store(db)
    store.add_tenant("t", token_hash("x"))
    ids = [store.enqueue("web", "t", "POST", "/", {}, b"b", 3, 1000) for _ in range(40)]
    claimed: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        s = Store(db)
        while (job := s.claim_due(1e12)) is not None:
            with lock:
                claimed.append(job["id"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids), "every job claimed exactly once"
    # A restart finds them 'running' (their worker died): they go back to the queue.
    again = Store(db)
    assert again.requeue_running() == 40
    assert again.claim_due(1e12)["attempts"] == 2


def test_activate_is_transactional_and_keeps_n_versions(tmp_path: Path) -> None:
    store = Store(tmp_path / "a.db")
    store.add_tenant("t", token_hash("x"))
    for v in ("v1", "v2", "v3", "v4", "v5"):
        store.add_version("web", "t", v, f"web:{v}", None, {"port": 80})
        store.activate("web", v, keep=2)
    assert store.app("web")["live_version"] == "v5"
    assert [v["version"] for v in store.versions("web")] == ["v5", "v4", "v3"]
    kinds = [e["kind"] for e in store.events("web", None)]
    assert kinds.count("switched") == 5 and kinds.count("deploy-started") == 5
    store.add_version("web", "t", "bad", "web:bad", None, {})
    store.fail_version("web", "bad", "health check failed")
    assert store.app("web")["live_version"] == "v5"


def test_tokens_constant_time_lookup_and_secret_file(tmp_path: Path) -> None:
    a, b = new_token(), new_token()
    rows = [{"name": "a", "token_hash": token_hash(a), "admin": 1},
            {"name": "b", "token_hash": token_hash(b), "admin": 0}]
    assert authenticate(f"Bearer {a}", rows).admin is True
    assert authenticate(f"Bearer {b}", rows).tenant == "b"
    assert authenticate("Bearer nope", rows) is None and authenticate(None, rows) is None
    assert authenticate(a, rows) is None  # no scheme
    path = tmp_path / "s" / "admin-token"
    write_secret_file(path, a)
    assert path.stat().st_mode & 0o777 == 0o600


def test_settings_from_env_table() -> None:
    s = Settings.from_env({"PLAT_AGENT_STATE": "/x", "PLAT_AGENT_API_PORT": "9", "PLAT_AGENT_IDLE_TIMEOUT": "1.5"})
    assert (s.state_dir, s.api_port, s.api_bind, s.idle_timeout_override) == (Path("/x"), 9, "127.0.0.1", 1.5)
    assert Settings.from_env({}).gateway_bind == "127.0.0.1"


def test_agent_never_imports_the_cli() -> None:
    """The agent imports the contract (and so pydantic), never the CLI or its libraries."""
    code = ("import sys, agent.__main__, agent.api, agent.core; "
            "bad = [m for m in ('plat', 'typer', 'rich', 'jinja2', 'git', 'httpx') if m in sys.modules]; "
            "print(json.dumps([bad, 'plat_contract.api' in sys.modules]))"
            ).replace("print(json", "import json; print(json")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [[], True]


def test_systemd_unit_runs_the_agent_hardened() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(Path(__file__).resolve().parents[3] / "infra/systemd/plat-agent.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("-m agent")
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert service[key] == "yes"
    assert service["ProtectSystem"] == "strict" and service["Restart"] == "on-failure"


def test_the_async_backend_speaks_tls_to_an_https_api() -> None:
    from dataclasses import replace

    assert "    server agent 127.0.0.1:7070\n" in render(CFG, [])
    assert "    server agent 127.0.0.1:7070 ssl verify none\n" in render(replace(CFG, control_tls=True), [])


@pytest.mark.parametrize(("bind", "expected"), [("127.0.0.1", "127.0.0.1:7070"), ("0.0.0.0", "127.0.0.1:7070"),
                                                ("localhost", "127.0.0.1:7070"), ("10.0.0.5", "10.0.0.5:7070")])
def test_the_gateway_reaches_the_api_where_it_listens(bind: str, expected: str) -> None:
    from agent.__main__ import control_address

    assert control_address(bind, 7070) == expected


def test_an_instance_is_hardened_limited_and_on_its_tenants_network() -> None:
    from agent.core import spec_of
    from agent.docker_driver import apps_network, instance_spec
    from agent.settings import Settings
    from plat_contract.manifest import RunManifest

    settings = Settings.from_env({"PLAT_AGENT_STATE": "/s"})
    deployed = RunManifest().with_limits(settings.default_memory, settings.default_cpus)
    spec = spec_of("web", "v1", "web:v1", deployed, "acme")
    assert (spec.memory, spec.cpus) == ("512m", 1.0), "a deploy with no limits gets the agent's defaults"
    own = spec_of("web", "v1", "web:v1", RunManifest.model_validate({"resources": {"memory": "1g", "cpus": 2}})
                  .with_limits("512m", 1.0), "acme")
    assert (own.memory, own.cpus) == ("1g", 2.0)
    old = spec_of("web", "v0", "web:v0", RunManifest(), "acme")
    assert (old.memory, old.cpus) == (None, None), "a version stored by an older agent runs as it did"
    kw = instance_spec(spec, apps_network("plat"))
    assert kw["network"] == "plat-apps" and kw["labels"]["plat.network"] == "plat-apps"
    assert kw["cap_drop"] == ["ALL"] and kw["security_opt"] == ["no-new-privileges"] and kw["read_only"] is True
    assert (kw["mem_limit"], kw["nano_cpus"], kw["pids_limit"]) == ("512m", 1_000_000_000, 256)
    assert "ports" not in kw and "privileged" not in kw, "nothing published, nothing privileged"


def test_a_stored_manifest_an_older_agent_took_is_repaired_or_refused_without_its_values() -> None:
    from plat_contract.manifest import RunManifest

    fixed = RunManifest.from_stored({"scale": {"min_warm": 5}, "runtime": "go", "build": {}})
    assert (fixed.scale.min_warm, fixed.scale.max_instances) == (4, 4)
    with pytest.raises(ValueError) as err:
        RunManifest.from_stored({"env": {"my.var": "s3cret-value"}})
    assert "env" in str(err.value) and "s3cret-value" not in str(err.value)
