"""The docs' commands run: every ```sh block of each quickstart, in order, in one shell, in an
empty folder, with the real `plat` against the real Docker engine and a local agent of its own.

A block fenced ```sh no-run is skipped (it needs real remote hosts, or runs until Ctrl-C).
Also here: `plat doctor --json` against the local engine.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import ROOT, free_port, plat
from tools.markdown import runnable_blocks

pytestmark = pytest.mark.integration
QUICKSTARTS = sorted((ROOT / "docs").glob("quickstart-*.md"))
TIMEOUT = 900


def plat_on_path(bin_dir: Path) -> str:
    """A PATH on which `plat` is this interpreter's: the venv's entry point, else a shim running
    `python -m plat`."""
    venv_bin = Path(sys.executable).parent
    if (venv_bin / "plat").is_file():
        return f"{venv_bin}{os.pathsep}{os.environ['PATH']}"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "plat"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m plat \"$@\"\n")
    shim.chmod(0o755)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(scope="module")
def docs_env(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment the docs' shells run in: a PLAT_HOME and agent ports of their own, the
    engine fixture's base images and labels (in os.environ), and `plat` on PATH."""
    # A PLAT_HOME of its own gives the agent its own container name: a developer's agent stays.
    home = tmp_path_factory.mktemp("plat-home")
    env = {**os.environ, "PLAT_HOME": str(home), "PLAT_AGENT_API_PORT": str(free_port()),
           "PLAT_AGENT_GATEWAY_PORT": str(free_port()), "PLAT_AGENT_ACTIVATOR_PORT": str(free_port()),
           "PLAT_SSH_CONFIG": str(home / "no-ssh-config"), "NO_COLOR": "1",
           "PATH": plat_on_path(tmp_path_factory.mktemp("bin"))}
    env.pop("PLAT_DEBUG", None)
    found = shutil.which("plat", path=env["PATH"])
    assert found and Path(found).parent in (Path(sys.executable).parent, Path(env["PATH"].split(os.pathsep)[0]))
    try:
        yield env
    finally:
        subprocess.run([sys.executable, "-m", "plat", "agent", "down", "--purge"], check=False, env=env,
                       capture_output=True, timeout=120)


def shell_script(path: Path) -> str:
    """The quickstart's runnable blocks as one bash script, each announced with its line."""
    lines = ["set -euo pipefail", "PS4='+ '", "set -x"]
    for block in runnable_blocks(path.read_text()):
        lines += [f"echo '### {path.name}:{block.line}' >&2", block.text.rstrip("\n")]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("doc", QUICKSTARTS, ids=lambda p: p.stem)
def test_quickstart_commands_run(doc: Path, docs_env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / f"{doc.stem}.sh"
    script.write_text(shell_script(doc))
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(script)], check=False, cwd=work, env=docs_env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    seconds = time.monotonic() - t0
    tail = "\n".join((proc.stderr + "\n--- stdout ---\n" + proc.stdout[-3000:]).splitlines()[-80:])
    assert proc.returncode == 0, f"docs/{doc.name}: a command failed (exit {proc.returncode}):\n{tail}"
    commands = sum(1 for b in runnable_blocks(doc.read_text()) for ln in b.text.splitlines() if ln.strip())
    print(f"docs/{doc.name}: {commands} commands in {seconds:.1f}s")


def test_doctor_json_against_the_local_engine(engine: docker.DockerClient, tmp_path: Path) -> None:
    res = plat("doctor", "--json", cwd=tmp_path,
               env={"PLAT_HOME": str(tmp_path / "home"), "PLAT_SSH_CONFIG": str(tmp_path / "no-ssh-config")})
    checks = json.loads(res.stdout)
    by_name = {c["check"]: c for c in checks}
    assert by_name["docker engine"]["status"] == "ok", res.stdout
    assert by_name["docker engine"]["detail"].startswith(f"Docker {engine.version()['Version']}")
    assert by_name["ssh config"]["status"] == "ok"
    assert "local agent" in by_name["plat.yaml"]["detail"]
    assert res.code == (1 if any(c["status"] == "fail" for c in checks) else 0), res.stderr
