"""infra/ansible against two fresh hosts: the agent as a host process, then `plat deploy` to it.

The hosts are containers whose PID 1 is an entrypoint, not systemd, so the role takes its fallback
supervisor path there (plat-agent-fallback); the systemd path is not exercised here.
Ansible speaks OpenSSH with strict host key checking against the test bed's known_hosts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from plat import __version__
from plat.config import AgentSettings
from plat.hostagent.bootstrap import remote_agent_env
from tests.e2e.test_fleet import deploy_json, make_app

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "infra" / "ansible"
NAMES = ["a1", "a2"]


def playbook(inventory: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"), "ANSIBLE_HOME": str(workdir / "home"),
           "ANSIBLE_LOCAL_TEMP": str(workdir / "tmp"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "ANSIBLE_HOST_KEY_CHECKING": "True"}
    return subprocess.run(["ansible-playbook", "-i", str(inventory), str(ANSIBLE / "site.yml")], cwd=workdir,
                          capture_output=True, text=True, timeout=600, env=env)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP → {host: {"ok": n, "changed": n, "failed": n, …}}."""
    section = output.rsplit("PLAY RECAP", 1)[-1]
    return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+:\s+(.*)$", section, re.M)}


def failed(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def provisioned(fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Hosts a1 and a2, fresh, provisioned once by the playbook (removed at the end)."""
    if not shutil.which("ansible-playbook"):
        pytest.fail("ansible-playbook is not installed: scripts/test installs it (apt-get install ansible-core)")
    work = tmp_path_factory.mktemp("ansible")
    t0 = time.monotonic()
    hosts = fleet.testbed.make_hosts(NAMES)  # joined to the shared ssh_env (fleet.env) as they start
    try:
        known = fleet.shared.known_hosts
        assert all(h.known_hosts_line in known.read_text() for h in hosts)
        inventory = work / "inventory.ini"
        inventory.write_text(
            "[plat_hosts]\n"
            + "".join(f"{h.name} ansible_host=127.0.0.1 ansible_port={h.ssh_port}\n" for h in hosts)
            + "\n[plat_hosts:vars]\n"
            "ansible_user=root\n"
            "ansible_become=false\n"  # root already; the hosts have no sudo
            f"ansible_ssh_private_key_file={fleet.key.private}\n"
            f"ansible_ssh_common_args='-o UserKnownHostsFile={known} -o GlobalKnownHostsFile=/dev/null "
            "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'\n"
            f"plat_agent_controller_cache={work / 'cache'}\n"
            f"plat_agent_controller_python={sys.executable}\n")  # this venv's pip downloads the wheels
        boot = time.monotonic() - t0
        first = playbook(inventory, work)
        assert first.returncode == 0, failed(first)
        yield {"hosts": hosts, "inventory": inventory, "work": work, "first": first, "boot": boot,
               "took": time.monotonic() - t0 - boot}
    finally:
        for name in NAMES:
            fleet.testbed.remove_host(name)


def test_playbook_installs_the_agent_as_a_process_and_a_second_run_changes_nothing(provisioned) -> None:
    first = provisioned["first"]
    assert {h: r["failed"] + r["unreachable"] for h, r in recap(first.stdout).items()} == {n: 0 for n in NAMES}
    assert all(r["changed"] > 0 for r in recap(first.stdout).values())
    # No systemd in these hosts: the role says it took the fallback path.
    assert first.stdout.count("under the fallback supervisor, not systemd") == len(NAMES), first.stdout
    t0 = time.monotonic()
    second = playbook(provisioned["inventory"], provisioned["work"])
    assert second.returncode == 0, failed(second)
    assert {h: r["changed"] for h, r in recap(second.stdout).items()} == {n: 0 for n in NAMES}, second.stdout
    print(f"\nhosts up in {provisioned['boot']:.1f}s; playbook: first run {provisioned['took']:.1f}s, "
          f"second {time.monotonic() - t0:.1f}s")

    expected = {**remote_agent_env(AgentSettings()), "PLAT_AGENT_STATE": "/var/lib/plat-agent"}
    for h in provisioned["hosts"]:
        # The settings are plat's own for remote agents, in a file only root reads.
        assert h.check("stat -c '%a %U' /etc/plat/agent.env").split() == ["600", "root"]
        env = dict(line.split("=", 1) for line in h.check("cat /etc/plat/agent.env").splitlines()
                   if line and not line.startswith("#"))
        assert env == expected
        # The agent is a process (no container), answers on loopback, and has written its admin token.
        health = json.loads(h.check("curl -fsS -H \"Authorization: Bearer $(cat /var/lib/plat-agent/admin-token)\" "
                                       "http://127.0.0.1:7070/v1/health"))
        assert health["version"] == __version__
        assert h.check("/usr/local/sbin/plat-agent-fallback status").startswith("running")
        assert "python -m agent" in h.check("ps -eo args")
        assert h.check("stat -c %a /var/lib/plat-agent/admin-token").strip() == "600"


def test_plat_deploys_to_hosts_whose_agent_ansible_installed(fleet, provisioned, tmp_path: Path) -> None:
    hosts = provisioned["hosts"]
    app = make_app(tmp_path, "ansibled", [h.name for h in hosts])
    res = deploy_json(app, fleet.env)
    assert res["code"] == 0, res["stderr"]
    assert res["outcome"] == "ok" and [h["state"] for h in res["hosts"]] == ["switched", "switched"], res
    for h in hosts:
        names = h.check("docker ps -a --format '{{.Names}}'").split()
        assert "plat-agent" not in names  # plat left the Ansible-managed agent alone
        r = httpx.get(f"{h.gateway_url}/ansibled/", timeout=30)
        assert r.status_code == 200, r.text

