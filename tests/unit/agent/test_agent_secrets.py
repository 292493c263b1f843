"""Per-app secret files: names and values checked, modes, atomic writes, tenants, listings."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import agent.secret_store
from agent.secret_store import CorruptSecrets, SecretError, SecretStore, check_key, check_value


@pytest.fixture
def secrets(tmp_path: Path) -> SecretStore:
    return SecretStore(tmp_path / "secrets")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("key", ["A", "_", "DATABASE_URL", "a1_b2", "x" * 128])
def test_good_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "1ABC", "A-B", "A B", "x" * 129, "É", "A\n", "PORT"])
def test_bad_keys(key: str) -> None:
    with pytest.raises(SecretError):
        check_key(key)


def test_values_are_strings_up_to_64_kib_without_nul() -> None:
    assert check_value("") == "" and check_value("x" * 65536) == "x" * 65536
    for bad in ("x" * 65537, "é" * 32769, "a\x00b", 5, None, ["x"]):
        with pytest.raises(SecretError):
            check_value(bad)


def test_set_list_delete_and_the_file_on_disk(secrets: SecretStore) -> None:
    updated = secrets.set("web", "acme", "B_KEY", "two")
    secrets.set("web", "acme", "A_KEY", "one")
    listing = secrets.listing("web")
    assert [e["key"] for e in listing] == ["A_KEY", "B_KEY"] and listing[1]["updated"] == updated
    assert all(set(e) == {"key", "updated"} for e in listing), "listings never carry values"
    path = secrets.root / "web.json"
    data = json.loads(path.read_text())
    assert data["tenant"] == "acme" and data["values"] == {"A_KEY": "one", "B_KEY": "two"}
    assert set(data["updated"]) == {"A_KEY", "B_KEY"}
    assert mode(secrets.root) == 0o700 and mode(path) == 0o600
    assert secrets.delete("web", "A_KEY") is True and secrets.delete("web", "A_KEY") is False
    assert [e["key"] for e in secrets.listing("web")] == ["B_KEY"]
    assert secrets.delete("web", "B_KEY") is True
    assert not path.exists() and secrets.tenant("web") is None, "the last secret gone, the file goes"
    assert list(secrets.root.iterdir()) == [], "no temp files left behind"


def test_env_is_for_the_owning_tenant_only(secrets: SecretStore) -> None:
    secrets.set("web", "acme", "TOKEN", "abc")
    assert secrets.env("web", "acme") == {"TOKEN": "abc"}
    assert secrets.env("web", "other") == {}
    assert secrets.env("nothing", "acme") == {}
    assert secrets.tenant("web") == "acme"


def test_a_new_tenant_does_not_inherit_another_tenants_values(secrets: SecretStore) -> None:
    secrets.set("web", "old", "TOKEN", "abc")
    secrets.set("web", "acme", "OTHER", "x")
    assert secrets.env("web", "acme") == {"OTHER": "x"} and secrets.tenant("web") == "acme"


def test_remove_all(secrets: SecretStore) -> None:
    secrets.set("web", "acme", "A", "1")
    secrets.set("web", "acme", "B", "2")
    assert secrets.remove_all("web") == 2 and secrets.listing("web") == []
    assert secrets.remove_all("web") == 0


def test_the_dir_is_made_private_even_if_it_existed(tmp_path: Path) -> None:
    root = tmp_path / "secrets"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    SecretStore(root).set("web", "acme", "A", "1")
    assert mode(root) == 0o700


def test_the_temp_file_is_private_from_the_start(secrets: SecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen at the moment of the swap: the new file was never world-readable."""
    seen: list[int] = []
    real = os.replace

    def spy(src: str, dst: Path) -> None:
        seen.append(mode(Path(src)))
        real(src, dst)

    monkeypatch.setattr(agent.secret_store.os, "replace", spy)
    secrets.set("web", "acme", "A", "1")
    assert seen == [0o600]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(secrets: SecretStore,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secrets.set("web", "acme", "A", "1")

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(agent.secret_store.os, "replace", boom)
    with pytest.raises(OSError):
        secrets.set("web", "acme", "B", "2")
    assert secrets.env("web", "acme") == {"A": "1"}
    assert [p.name for p in secrets.root.iterdir()] == ["web.json"]


def test_a_corrupt_file_is_reported_not_mistaken_for_bad_input(secrets: SecretStore) -> None:
    secrets.root.mkdir(parents=True)
    (secrets.root / "web.json").write_text("{oops")
    with pytest.raises(CorruptSecrets, match="web.json is not valid JSON"):
        secrets.listing("web")
    assert not isinstance(CorruptSecrets("x"), ValueError), "a 500 for the operator, not a 400 for the caller"
