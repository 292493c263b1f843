"""The Ansible role and other YAML that plat ships parse as YAML (a stray `: ` in a task name
broke the whole role once; ansible-playbook only says so when it runs on a host)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for p in (ROOT / "infra").rglob("*") if p.suffix in (".yml", ".yaml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_it_parses(path: Path) -> None:
    assert yaml.safe_load(path.read_text()) is not None


def test_the_role_is_there() -> None:
    assert any(p.name == "main.yml" and p.parent.name == "tasks" for p in FILES)
