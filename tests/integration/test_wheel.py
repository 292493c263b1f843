"""plat as users install it: a wheel built from this checkout, installed into a fresh virtual
environment, used from outside the checkout. Its contract package, templates and the agent's
sources come with it, so the agent image it builds holds the contract the agent imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration


def test_the_wheel_carries_the_contract_and_builds_the_agent_with_it(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, timeout=300)
    wheel = next(dist.glob("plat-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True, timeout=300)
    probe = (
        "import plat, plat_contract, plat.hostagent.install as la\n"
        "from plat_contract.api import DeployRequest\n"
        "files = la.agent_plan().generated\n"
        "print(plat.__file__); print(plat_contract.__file__)\n"
        "print(sorted(f for f in files if f.startswith('plat_contract/')))\n"
        "print('agent/api.py' in la.agent_plan().files or 'agent/api.py' in files)\n"
    )
    # Its dependencies (pydantic, docker, …) from this environment's site-packages, put on
    # PYTHONPATH so that its .pth files, which point at the checkout, are not read.
    deps = next(p for p in sys.path if p.endswith("site-packages"))
    proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": deps})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    site = str(venv / "lib")
    assert out[0].startswith(site) and out[1].startswith(site), "imported from the installed wheel"
    assert "plat_contract/api.py" in out[2] and "plat_contract/manifest.py" in out[2]
    assert out[3] == "True", "the agent's sources come with the wheel"
