"""Bearer tokens: only their SHA-256 is stored; lookups compare in constant time.

Tokens are 256-bit random strings, so an unsalted SHA-256 is not guessable (a salt or a slow
hash defends low-entropy passwords, which these are not); every stored hash is compared, so
timing does not reveal which tenant (if any) matched. Per-app API keys are the same kind of
token, checked by HAProxy against the same SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

ADMIN_TENANT = "default"
ADMIN_TOKEN_FILE = "admin-token"


@dataclass(frozen=True)
class Principal:
    tenant: str
    admin: bool


def new_token() -> str:
    return "plat_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(header: str | None, hashes: list[dict]) -> Principal | None:
    """The tenant whose token is in `Authorization: Bearer …`, or None."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    presented = token_hash(token.strip())
    found: Principal | None = None
    for row in hashes:
        if hmac.compare_digest(presented, row["token_hash"]):
            found = Principal(row["name"], bool(row["admin"]))
    return found


def key_allows(presented: str | None, key_sha256: str | None) -> bool:
    """Whether an app's API key check passes: always for a public app (no key), else in constant time."""
    if key_sha256 is None:
        return True
    return hmac.compare_digest(token_hash(presented or ""), key_sha256)


def write_secret_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


class TenantStore(Protocol):
    def tenants(self) -> list[dict]: ...
    def add_tenant(self, name: str, token_hash: str, admin: bool = False) -> None: ...
    def set_token_hash(self, name: str, token_hash: str) -> None: ...


def bootstrap_admin(store: TenantStore, state_dir: Path) -> bool:
    """Make sure an admin token exists and its only copy is `<state_dir>/admin-token` (0600).

    At first start, creates the admin tenant. The file is written before the hash is stored,
    so a crash in between never leaves a token nobody has. Deleting the file and restarting
    rotates the admin token. Returns whether a new token was written."""
    path = state_dir / ADMIN_TOKEN_FILE
    admins = [t["name"] for t in store.tenants() if t["admin"]]
    if admins and path.exists():
        return False
    token = new_token()
    write_secret_file(path, token + "\n")
    if admins:
        store.set_token_hash(admins[0], token_hash(token))
    else:
        store.add_tenant(ADMIN_TENANT, token_hash(token), admin=True)
    return True
