"""plat against real hosts: containers with their own sshd and Docker engine, driven over SSH.

Every test runs the real CLI in a subprocess with PLAT_SSH_CONFIG pointing at the test bed's
ssh_config (strict known_hosts). Hosts h1 and h2 are shared; tests that kill a host get their own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "flaky"


def plat(*args: str, env: dict[str, str], cwd: Path | None = None, stdin: str | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plat", *args], cwd=cwd, capture_output=True, text=True,
                          input=stdin, timeout=timeout, env={**os.environ, **env})


def make_app(tmp: Path, name: str, hosts: list, **extra: object) -> Path:
    app = tmp / name
    shutil.copytree(FIXTURE, app)
    manifest = yaml.safe_load((FIXTURE / "plat.yaml").read_text())
    manifest.update({"name": name, "hosts": hosts, "scale": {"min_warm": 1, "max_instances": 3, "concurrency": 8},
                     **extra})
    (app / "plat.yaml").write_text(yaml.safe_dump(manifest))
    return app


def bump(app: Path, version: str) -> None:
    """A one-line source change: a new version of the app."""
    src = app / "app.py"
    text = src.read_text()
    marker = "VERSION = os.environ.get(\"APP_VERSION\", "
    start = text.index(marker)
    end = text.index(")", start)
    src.write_text(text[:start] + marker + json.dumps(version) + text[end:])


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def deploy_json(app: Path, env: dict[str, str], *args: str) -> dict:
    proc = plat("deploy", "--json", *args, env=env, cwd=app)
    return {"code": proc.returncode, "stderr": proc.stderr, **(json.loads(proc.stdout) if proc.stdout.strip() else {})}


def version_at(host, app: str) -> str:  # type: ignore[no-untyped-def]
    return httpx.get(f"{host.gateway_url}/{app}/", timeout=10).json()["version"]


# -- host keys and authentication ---------------------------------------------------------
def test_unknown_host_key_is_refused_with_its_fingerprint_and_nothing_runs(fleet, tmp_path: Path) -> None:
    h1 = fleet.hosts[0]
    env = fleet.ssh_env(tmp_path / "ssh", trusted=[])
    app = make_app(tmp_path, "keys", [h1.name])
    proc = plat("hosts", "check", env=env.env, cwd=app)
    assert proc.returncode == 1
    assert "unknown host key ssh-ed25519 SHA256:" in proc.stderr and f"plat hosts trust {h1.name}" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = plat("deploy", env=env.env, cwd=app)
    assert proc.returncode == 1 and "unknown host key" in proc.stderr
    assert "keys" not in h1.check("docker ps -a --format '{{.Names}} {{.Image}}'")  # nothing was run
    # `plat hosts trust` shows the fingerprint and, given the right one, trusts it.
    wrong = plat("hosts", "trust", h1.name, "--fingerprint", "SHA256:not-it", env=env.env)
    assert wrong.returncode == 1 and "not the expected" in wrong.stderr
    assert env.known_hosts.read_text() == ""
    fp = proc.stderr.split("SHA256:")[1].split()[0]
    ok(plat("hosts", "trust", h1.name, "--fingerprint", f"SHA256:{fp}", env=env.env))
    assert f"[127.0.0.1]:{h1.ssh_port} ssh-ed25519 " in env.known_hosts.read_text()


def test_changed_host_key_and_wrong_client_key_are_refused(fleet, tmp_path: Path) -> None:
    h1 = fleet.hosts[0]
    app = make_app(tmp_path, "keys2", [h1.name])
    changed = fleet.ssh_env(tmp_path / "changed", mismatched=[h1.name])
    proc = plat("hosts", "check", env=changed.env, cwd=app)
    assert proc.returncode == 1 and "HOST KEY CHANGED" in proc.stderr and "nothing was run" in proc.stderr
    wrong = fleet.ssh_env(tmp_path / "wrongkey", key=fleet.other_key)
    proc = plat("hosts", "check", env=wrong.env, cwd=app)
    assert proc.returncode == 1 and f"{h1.name}: SSH refused user 'root'" in proc.stderr


def test_unreachable_host_stops_the_deploy_before_anything_changes(fleet, tmp_path: Path) -> None:
    h1 = fleet.hosts[0]
    app = make_app(tmp_path, "reach", [h1.name, "root@127.0.0.1:1"])
    res = deploy_json(app, fleet.env)
    assert res["code"] == 1 and "127.0.0.1:1: cannot reach 127.0.0.1:1 (connection refused)" in res["stderr"]
    assert "reach" not in h1.check("docker ps -a --format '{{.Names}}'")


# -- deploy, redeploy under load, rollback ---------------------------------------------------
@pytest.fixture(scope="module")
def shop(fleet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app deployed to h1 and h2 (the first deploy also bootstraps the agents)."""
    app = make_app(tmp_path_factory.mktemp("shop"), "shop", [h.name for h in fleet.hosts[:2]])
    bump(app, "v1")
    res = deploy_json(app, fleet.env)
    assert res["code"] == 0, res["stderr"]
    assert res["outcome"] == "ok" and [h["state"] for h in res["hosts"]] == ["switched", "switched"]
    return app


def test_deploy_to_two_hosts_and_invoke_each(fleet, shop: Path) -> None:
    for h in fleet.hosts[:2]:
        assert version_at(h, "shop") == "v1"
        proc = ok(plat("invoke", "shop", "/", "--host", h.name, "--json", env=fleet.env, cwd=shop))
        assert json.loads(proc.stdout)["body"]["version"] == "v1"
    status = json.loads(ok(plat("status", "shop", "--json", env=fleet.env, cwd=shop)).stdout)
    assert [s["host"] for s in status] == [h.name for h in fleet.hosts[:2]]
    assert {s["apps"][0]["live_version"] for s in status} == {status[0]["apps"][0]["live_version"]}
    # Deploying the same source again changes nothing anywhere.
    again = deploy_json(shop, fleet.env)
    assert again["code"] == 0 and [h["state"] for h in again["hosts"]] == ["unchanged", "unchanged"]


def test_a_one_line_change_sends_only_the_changed_layer(fleet, shop: Path) -> None:
    bump(shop, "v2")
    res = deploy_json(shop, fleet.env)
    assert res["code"] == 0, res["stderr"]
    for h in res["hosts"]:
        assert h["state"] == "switched" and 0 < h["bytes_sent"] < 200_000, h
    assert {version_at(h, "shop") for h in fleet.hosts[:2]} == {"v2"}


def test_redeploy_under_load_has_no_failed_requests(fleet, shop: Path) -> None:
    stop = threading.Event()
    codes: list[int] = []

    def load(url: str) -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    codes.append(http.get(url).status_code)
                except httpx.HTTPError:
                    codes.append(-1)

    threads = [threading.Thread(target=load, args=(f"{h.gateway_url}/shop/",))
               for h in fleet.hosts[:2] for _ in range(2)]
    for t in threads:
        t.start()
    try:
        bump(shop, "v3")
        res = deploy_json(shop, fleet.env)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert res["code"] == 0, res["stderr"]
    assert len(codes) > 50 and all(c == 200 for c in codes), {c: codes.count(c) for c in set(codes)}
    assert {version_at(h, "shop") for h in fleet.hosts[:2]} == {"v3"}


def test_rollback_on_every_host_and_merged_audit(fleet, shop: Path) -> None:
    proc = ok(plat("rollback", "shop", "--json", env=fleet.env, cwd=shop))
    assert len(json.loads(proc.stdout)) == 2
    assert {version_at(h, "shop") for h in fleet.hosts[:2]} == {"v2"}
    audit = json.loads(ok(plat("audit", "shop", "--json", env=fleet.env, cwd=shop)).stdout)
    kinds = {(e["host"], e["kind"]) for e in audit}
    for h in fleet.hosts[:2]:
        assert (h.name, "rollback") in kinds and (h.name, "switched") in kinds and (h.name, "lock-acquire") in kinds
    assert all("@" in (e.get("actor") or "") for e in audit if e["kind"] in ("switched", "rollback"))


def test_logs_are_merged_and_tagged_with_the_host(fleet, shop: Path) -> None:
    for h in fleet.hosts[:2]:
        httpx.get(f"{h.gateway_url}/shop/flaky/log-{h.name}", timeout=10)
    proc = ok(plat("logs", "shop", "--tail", "50", env=fleet.env, cwd=shop))
    tagged = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert {h.name for h in fleet.hosts[:2]} <= tagged


def test_proxyjump_reaches_a_host_through_another(fleet, shop: Path, tmp_path: Path) -> None:
    """h2 by its address on the hosts' private network, reachable only through h1 (ProxyJump)."""
    h1, h2 = fleet.hosts[:2]
    env = fleet.ssh_env(tmp_path / "jump")
    with env.config.open("a") as f:
        f.write(f"\nHost inner-h2\n    HostName {h2.ip}\n    Port 22\n    User root\n    IdentityFile {env.key}\n"
                f"    IdentitiesOnly yes\n    UserKnownHostsFile {env.known_hosts}\n    ProxyJump {h1.name}\n")
    app = make_app(tmp_path, "shop", ["inner-h2"])
    proc = plat("status", "shop", "--json", env={**fleet.env, **env.env}, cwd=app)
    assert proc.returncode == 1 and "inner-h2: unknown host key" in proc.stderr  # strict through the jump too
    with env.known_hosts.open("a") as f:
        f.write(f"{h2.ip} {h2.host_key}\n")
    proc = ok(plat("status", "shop", "--json", env={**fleet.env, **env.env}, cwd=app))
    assert json.loads(proc.stdout)[0]["host"] == "inner-h2"
    assert json.loads(proc.stdout)[0]["apps"][0]["app"] == "shop"


# -- locks -------------------------------------------------------------------------------------
def wait_for_lock(fleet, app: Path, hosts_holding=any, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    """Poll `plat lock status` until the lock is held (on any, or on all, hosts)."""
    def held() -> bool:
        st = json.loads(ok(plat("lock", "status", app.name, "--json", env=fleet.env, cwd=app)).stdout)
        return hosts_holding(s["lock"] for s in st)

    wait_for(held, timeout, f"a deploy to take the lock of {app.name}")


def test_a_second_concurrent_deploy_is_refused_by_the_lock(fleet, shop: Path) -> None:
    bump(shop, "v4")
    first = subprocess.Popen([sys.executable, "-m", "plat", "deploy", "--json"], cwd=shop, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **fleet.env})
    try:
        wait_for_lock(fleet, shop, any)
        second = plat("deploy", env=fleet.env, cwd=shop)
        assert second.returncode == 1 and "shop is locked on" in second.stderr and "pid" in second.stderr
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    st = json.loads(ok(plat("lock", "status", "shop", "--json", env=fleet.env, cwd=shop)).stdout)
    assert not any(s["lock"] for s in st)  # released at the end


def test_a_lock_left_by_a_killed_deploy_is_reported_and_released(fleet, shop: Path) -> None:
    bump(shop, "v5")
    proc = subprocess.Popen([sys.executable, "-m", "plat", "deploy", "--json"], cwd=shop, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **fleet.env})
    wait_for_lock(fleet, shop, all)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    refused = plat("deploy", env=fleet.env, cwd=shop)
    assert refused.returncode == 1 and "is locked on" in refused.stderr and "plat lock" in refused.stderr
    ok(plat("lock", "release", "shop", env=fleet.env, cwd=shop))
    res = deploy_json(shop, fleet.env)
    assert res["code"] == 0 and res["outcome"] == "ok", res["stderr"]
    assert {version_at(h, "shop") for h in fleet.hosts[:2]} == {"v5"}


# -- secrets -----------------------------------------------------------------------------------
def test_a_secret_reaches_the_app_and_nowhere_else(fleet, shop: Path) -> None:
    import hashlib

    canary = "canary-" + os.urandom(8).hex()
    proc = ok(plat("secrets", "set", "shop", "PLAT_CANARY", env=fleet.env, cwd=shop, stdin=canary))
    listed = ok(plat("secrets", "list", "shop", env=fleet.env, cwd=shop))
    assert "PLAT_CANARY" in listed.stdout
    outputs = proc.stdout + proc.stderr + listed.stdout + listed.stderr
    for h in fleet.hosts[:2]:
        seen = httpx.get(f"{h.gateway_url}/shop/env/PLAT_CANARY", timeout=10).json()
        assert seen == {"set": True, "sha256": hashlib.sha256(canary.encode()).hexdigest()}
    audit = ok(plat("audit", "shop", "--json", env=fleet.env, cwd=shop))
    outputs += audit.stdout + audit.stderr
    assert "PLAT_CANARY" in audit.stdout and canary not in outputs
    h1 = fleet.hosts[0]
    image = json.loads(h1.check("docker inspect plat-agent --format '{{json .Config.Env}}'"))
    assert canary not in json.dumps(image)
    assert canary not in h1.check("docker logs plat-agent 2>&1")
    assert canary not in h1.check("ps auxww")
    images = h1.check("docker images --format '{{.Repository}}:{{.Tag}}' shop").split()
    for ref in images:
        assert canary not in h1.check(f"docker history --no-trunc {ref}")
        rc, _ = h1.exec(f"docker save {ref} | grep -a -c {canary}")
        assert rc == 1  # grep found nothing in any layer
    stored = h1.check("stat -c '%a %U' /var/lib/plat-agent/secrets/shop.json")
    assert stored.split() == ["600", "root"]


# -- failures mid-deploy -----------------------------------------------------------------------
def test_a_host_dying_mid_deploy_rolls_the_others_back(fleet, tmp_path: Path) -> None:
    doomed = fleet.spare_host("h3")
    app = make_app(tmp_path, "dying", [fleet.hosts[0].name, doomed.name], deploy={"batch": 1})
    bump(app, "v1")
    first = deploy_json(app, fleet.env)
    assert first["code"] == 0, first["stderr"]
    bump(app, "v2")
    # The new version boots slowly, so the doomed host (switched second) is mid-warm when it dies.
    manifest = yaml.safe_load((app / "plat.yaml").read_text())
    manifest["env"] = {"STARTUP_DELAY": "4"}
    (app / "plat.yaml").write_text(yaml.safe_dump(manifest))
    proc = subprocess.Popen([sys.executable, "-m", "plat", "deploy", "--json"], cwd=app, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **fleet.env})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        rc, out = doomed.exec("docker ps --format '{{.Names}}'")
        if rc == 0 and out.count("dying") >= 2:  # the new version's instance is starting
            break
        time.sleep(0.2)
    doomed.container.kill()
    out, err = proc.communicate(timeout=300)
    fleet.testbed.remove_host(doomed.name)
    assert proc.returncode == 1
    res = json.loads(out)
    by = {h["host"]: h for h in res["hosts"]}
    assert by[fleet.hosts[0].name]["state"] == "rolled back"
    assert by[doomed.name]["state"] == "failed" and doomed.name in by[doomed.name]["detail"]
    assert "back on (or still on) its previous version" in err
    assert version_at(fleet.hosts[0], "dying") == "v1"


def test_keep_on_failure_reports_mixed_and_retry_failed_converges(fleet, tmp_path: Path) -> None:
    h1, h2 = fleet.hosts[:2]
    app = make_app(tmp_path, "mixed", [h1.name, h2.name], deploy={"batch": 1, "on_failure": "keep"})
    bump(app, "v1")
    assert deploy_json(app, fleet.env)["code"] == 0
    # Only h2 gets a setting that makes the app crash on start.
    ok(plat("secrets", "set", "mixed", "CRASH_ON_START", "--host", h2.name, "--no-restart", env=fleet.env, cwd=app,
            stdin="1"))
    bump(app, "v2")
    res = deploy_json(app, fleet.env)
    assert res["code"] == 1 and res["outcome"] == "mixed"
    assert [h["state"] for h in res["hosts"]] == ["kept new", "failed"]
    assert "MIXED" in res["stderr"] and "plat deploy --retry-failed" in res["stderr"]
    assert (version_at(h1, "mixed"), version_at(h2, "mixed")) == ("v2", "v1")  # h2 still serves the old one
    ok(plat("secrets", "rm", "mixed", "CRASH_ON_START", "--host", h2.name, "--no-restart", env=fleet.env, cwd=app))
    retry = deploy_json(app, fleet.env, "--retry-failed")
    assert retry["code"] == 0, retry["stderr"]
    assert [h["state"] for h in retry["hosts"]] == ["unchanged", "switched"]
    assert {version_at(h, "mixed") for h in (h1, h2)} == {"v2"}


def test_a_host_without_docker_is_named_with_the_fix(fleet, tmp_path: Path) -> None:
    bare = fleet.spare_host("h4")
    try:
        bare.check("mv /usr/bin/docker /usr/bin/docker.hidden")
        app = make_app(tmp_path, "nodocker", [bare.name])
        proc = plat("hosts", "bootstrap", env=fleet.env, cwd=app)
        assert proc.returncode == 1
        assert f"{bare.name}: Docker is not installed" in proc.stderr and "--install-docker" in proc.stderr
    finally:
        fleet.testbed.remove_host(bare.name)


# -- registry mode -----------------------------------------------------------------------------
def test_registry_mode_pushes_once_and_hosts_pull(fleet, tmp_path: Path) -> None:
    reg = fleet.registry()
    app = make_app(tmp_path, "pulled", [h.name for h in fleet.hosts[:2]], registry=f"{reg.address}/team")
    bump(app, "v1")
    env = {**fleet.env, "PLAT_REGISTRY_USERNAME": reg.username, "PLAT_REGISTRY_PASSWORD": reg.password}
    res = deploy_json(app, env)
    assert res["code"] == 0, res["stderr"]
    assert res["image"].startswith(f"{reg.address}/team/pulled:")
    assert [h["bytes_sent"] for h in res["hosts"]] == [None, None]
    assert reg.password not in res["stderr"]
    for h in fleet.hosts[:2]:
        assert version_at(h, "pulled") == "v1"
    bad = deploy_json(app, {**env, "PLAT_REGISTRY_PASSWORD": "wrong"}, "--force")
    assert bad["code"] == 1 and "wrong" not in bad["stderr"]


# -- agents started by someone else: an older plat, an operator ----------------------------------
def replace_agent(host, image: str, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Harness: the host's agent container replaced by one of `image` with `env`, labelled as
    plat's bootstrap labels the agents it starts (an older plat's agent looks just like this)."""
    from plat.hostagent.install import STATE_DIR as AGENT_STATE
    from plat.hostagent.install import container_spec

    labels = container_spec(image, env, AGENT_STATE)["labels"]
    host.check("docker rm -f plat-agent")
    host.check(["docker", "run", "-d", "--name", "plat-agent", "--network", "host", "--restart", "unless-stopped",
                "--security-opt", "no-new-privileges", "-v", "/var/run/docker.sock:/var/run/docker.sock",
                "-v", f"{AGENT_STATE}:{AGENT_STATE}",
                *[arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")],  # type: ignore[attr-defined]
                *[arg for k, v in env.items() for arg in ("-e", f"{k}={v}")], image])


def test_an_agent_of_another_version_is_named_and_deploy_upgrades_it(fleet, tmp_path: Path) -> None:
    from plat import __version__
    from plat.config import AgentSettings
    from plat.hostagent.bootstrap import remote_agent_env

    host = fleet.spare_host("h7")
    try:
        app = make_app(tmp_path, "upgraded", [host.name])
        bump(app, "v1")
        ok(plat("hosts", "bootstrap", env=fleet.env, cwd=app))
        # Harness: the agent an older plat installed, one that reports version 0.0.1.
        image = host.check("docker inspect -f '{{.Config.Image}}' plat-agent").strip()
        host.put_file("/tmp/old-agent/Dockerfile", (
            f"FROM {image}\n"
            "RUN sed -i 's/^__version__ = .*/__version__ = \"0.0.1\"/' /opt/plat/agent/__init__.py\n").encode())
        host.check("docker build -q -t plat-agent:0.0.1 /tmp/old-agent")
        replace_agent(host, "plat-agent:0.0.1", remote_agent_env(AgentSettings()))
        checked = wait_for(lambda: (p := plat("hosts", "check", env=fleet.env, cwd=app)).returncode == 0 and p, 60,
                           "the replaced agent to answer", interval=0.5)
        assert f"{host.name}: agent 0.0.1 ok (CLI is {__version__})" in checked.stdout, checked.stdout + checked.stderr
        res = deploy_json(app, fleet.env)
        assert res["code"] == 0, res["stderr"]
        assert [b["changed"] for b in res["bootstrap"]] == [["agent upgraded"]]
        assert version_at(host, "upgraded") == "v1"
        assert f"agent {__version__} ok" in ok(plat("hosts", "check", env=fleet.env, cwd=app)).stdout
    finally:
        fleet.testbed.remove_host(host.name)


# -- transport http ----------------------------------------------------------------------------
AGENT_API_PORT = 7070  # as bootstrap and infra/ansible set it; here on every interface, over TLS


def serve_agent_over_https(host, directory: Path) -> tuple[str, Path, str]:  # type: ignore[no-untyped-def]
    """Harness: restart the host's agent with its API on every interface, over TLS, as an operator
    would for hosts plat cannot SSH into. (url, ca, admin token)."""
    from plat.config import AgentSettings
    from plat.hostagent.bootstrap import remote_agent_env
    from tools.testbed import make_ca_and_cert

    directory.mkdir(parents=True, exist_ok=True)
    ca, cert, key = make_ca_and_cert(directory, "127.0.0.1")  # the API is reached on its published port
    host.put_file("/var/lib/plat-agent/tls/server.crt", cert.read_bytes())
    host.put_file("/var/lib/plat-agent/tls/server.key", key.read_bytes(), mode=0o600)
    image = host.check("docker inspect -f '{{.Config.Image}}' plat-agent").strip()
    env = {**remote_agent_env(AgentSettings()), "PLAT_AGENT_API_BIND": "0.0.0.0",
           "PLAT_AGENT_API_PORT": str(AGENT_API_PORT), "PLAT_AGENT_TLS_CERT": "/var/lib/plat-agent/tls/server.crt",
           "PLAT_AGENT_TLS_KEY": "/var/lib/plat-agent/tls/server.key"}
    replace_agent(host, image, env)
    url = f"https://127.0.0.1:{host.ports[AGENT_API_PORT]}"
    trusted = ssl.create_default_context(cafile=str(ca))

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/v1/health", verify=trusted, timeout=2) is not None
        except httpx.HTTPError:
            return False

    wait_for(answers, 60, lambda: f"the agent over HTTPS; its log:\n{host.check('docker logs plat-agent 2>&1')}",
             interval=0.3)
    return url, ca, host.check("cat /var/lib/plat-agent/admin-token").strip()


def test_transport_http_deploys_through_the_agents_https_api(fleet, tmp_path: Path) -> None:
    host = fleet.spare_host("h6", ports=(AGENT_API_PORT,))
    try:
        seed = make_app(tmp_path / "ssh", "viahttp", [host.name])
        ok(plat("hosts", "bootstrap", env=fleet.env, cwd=seed))  # puts the agent image on the host
        url, ca, token = serve_agent_over_https(host, tmp_path / "tls")
        reg = fleet.registry()
        entry = {"host": host.name, "transport": "http", "url": url, "ca": str(ca), "token_env": "H6_TOKEN",
                 "gateway": host.gateway_url}
        app = make_app(tmp_path, "viahttp", [entry], registry=f"{reg.address}/team")
        bump(app, "v1")
        # No SSH at all: an ssh_config that knows no host, so any SSH attempt would fail.
        env = {"PLAT_HOME": str(tmp_path / "home"), "PLAT_SSH_CONFIG": str(tmp_path / "no_ssh_config"),
               "PLAT_REGISTRY_USERNAME": reg.username, "PLAT_REGISTRY_PASSWORD": reg.password, "H6_TOKEN": token}
        (tmp_path / "no_ssh_config").write_text("")
        res = deploy_json(app, env)
        assert res["code"] == 0, res["stderr"]
        assert [h["state"] for h in res["hosts"]] == ["switched"] and version_at(host, "viahttp") == "v1"
        invoked = ok(plat("invoke", "viahttp", "--json", env=env, cwd=app))
        assert '"v1"' in invoked.stdout
        status = json.loads(ok(plat("status", "viahttp", "--json", env=env, cwd=app)).stdout)
        assert [(h["host"], h["apps"][0]["live_version"]) for h in status] == [(host.name, res["version"])]
        canary = "canary-" + os.urandom(8).hex()
        ok(plat("secrets", "set", "viahttp", "PLAT_CANARY", env=env, cwd=app, stdin=canary))
        assert httpx.get(f"{host.gateway_url}/viahttp/env/PLAT_CANARY", timeout=10).json()["set"] is True
        bump(app, "v2")
        assert deploy_json(app, env)["code"] == 0 and version_at(host, "viahttp") == "v2"
        rolled = ok(plat("rollback", "viahttp", env=env, cwd=app))
        assert version_at(host, "viahttp") == "v1", rolled.stdout + rolled.stderr

        # A wrong token, and a certificate no configured CA vouches for: the host, what, which setting.
        for bad_env, bad_entry, expected in (
                ({**env, "H6_TOKEN": "not-the-token"}, entry, ("the agent refused the token", "`token_env:`")),
                (env, {**entry, "ca": None}, ("the agent's tls certificate is not trusted", "`ca:`"))):
            manifest = yaml.safe_load((app / "plat.yaml").read_text())
            manifest["hosts"] = [bad_entry]
            (app / "plat.yaml").write_text(yaml.safe_dump(manifest))
            proc = plat("status", "viahttp", env=bad_env, cwd=app)
            assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert f"{host.name}: {expected[0]}" in proc.stderr.lower() and expected[1] in proc.stderr, proc.stderr
            assert token not in proc.stderr + proc.stdout
        assert version_at(host, "viahttp") == "v1"  # nothing changed
    finally:
        fleet.testbed.remove_host(host.name)
