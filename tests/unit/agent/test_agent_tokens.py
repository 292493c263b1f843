"""Tokens: what is stored, how a bearer header is read, and the admin token's first start."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agent.db import Store
from agent.tokens import (
    Principal,
    authenticate,
    bootstrap_admin,
    key_allows,
    new_token,
    token_hash,
    write_secret_file,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "agent.db")


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    a, b = new_token(), new_token()
    assert a != b and a.startswith("plat_") and len(a) >= 40
    assert token_hash(a) == hashlib.sha256(a.encode()).hexdigest() and a not in token_hash(a)


ROWS = [{"name": "ops", "token_hash": token_hash("tok-admin"), "admin": 1},
        {"name": "acme", "token_hash": token_hash("tok-acme"), "admin": 0}]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer tok-admin", Principal("ops", True)),
        ("Bearer tok-acme", Principal("acme", False)),
        ("bearer tok-acme", Principal("acme", False)),  # the scheme is case-insensitive (RFC 7235)
        ("Bearer   tok-acme  ", Principal("acme", False)),
        ("Bearer tok-wrong", None),
        ("Bearer tok-acm", None),
        ("Bearer ", None),
        ("Basic dG9rLWFjbWU=", None),
        ("tok-acme", None),
        ("", None),
        (None, None),
    ],
)
def test_authenticate(header: str | None, expected: Principal | None) -> None:
    assert authenticate(header, ROWS) == expected


def test_secret_file_is_0600_even_over_a_looser_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "admin-token"
    path.parent.mkdir()
    path.write_text("old")
    os.chmod(path, 0o644)
    write_secret_file(path, "new\n")
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == "new\n"


def test_first_start_creates_the_admin_token_mode_0600(store: Store, tmp_path: Path) -> None:
    assert bootstrap_admin(store, tmp_path) is True
    path = tmp_path / "admin-token"
    assert path.stat().st_mode & 0o777 == 0o600
    token = path.read_text().strip()
    assert authenticate(f"Bearer {token}", store.tenant_hashes()) == Principal("default", True)
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("agent.db*"))  # the WAL included
    assert token_hash(token).encode() in stored and token.encode() not in stored


def test_later_starts_keep_the_token(store: Store, tmp_path: Path) -> None:
    bootstrap_admin(store, tmp_path)
    token = (tmp_path / "admin-token").read_text()
    assert bootstrap_admin(store, tmp_path) is False
    assert (tmp_path / "admin-token").read_text() == token
    assert len(store.tenants()) == 1


def test_deleting_the_file_rotates_the_admin_token(store: Store, tmp_path: Path) -> None:
    bootstrap_admin(store, tmp_path)
    old = (tmp_path / "admin-token").read_text().strip()
    (tmp_path / "admin-token").unlink()
    assert bootstrap_admin(store, tmp_path) is True
    new = (tmp_path / "admin-token").read_text().strip()
    assert new != old
    assert authenticate(f"Bearer {old}", store.tenant_hashes()) is None
    assert authenticate(f"Bearer {new}", store.tenant_hashes()) == Principal("default", True)
    assert len(store.tenants()) == 1


def test_a_crash_before_the_hash_is_stored_loses_no_token(store: Store, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*_: object, **__: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(store, "add_tenant", crash)
    with pytest.raises(OSError):
        bootstrap_admin(store, tmp_path)
    monkeypatch.undo()
    assert bootstrap_admin(store, tmp_path) is True  # the next start finishes the job
    token = (tmp_path / "admin-token").read_text().strip()
    assert authenticate(f"Bearer {token}", store.tenant_hashes()) == Principal("default", True)


def test_tenant_tokens_do_not_grant_admin(store: Store, tmp_path: Path) -> None:
    bootstrap_admin(store, tmp_path)
    acme = new_token()
    store.add_tenant("acme", token_hash(acme))
    assert authenticate(f"Bearer {acme}", store.tenant_hashes()) == Principal("acme", False)


def test_app_keys() -> None:
    key = new_token()
    assert key_allows(None, None) and key_allows("anything", None), "a public app needs no key"
    assert key_allows(key, token_hash(key))
    assert not key_allows(None, token_hash(key)) and not key_allows("", token_hash(key))
    assert not key_allows(key + "x", token_hash(key))
