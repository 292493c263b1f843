"""Bearer tokens: only their SHA-256 is stored; lookups compare in constant time.

Tokens are 256-bit random strings, so an unsalted SHA-256 is not guessable; every stored
hash is compared, so timing does not reveal which tenant (if any) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


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
    if not header or not header.startswith("Bearer "):
        return None
    presented = token_hash(header[7:].strip())
    found: Principal | None = None
    for row in hashes:
        if hmac.compare_digest(presented, row["token_hash"]):
            found = Principal(row["name"], bool(row["admin"]))
    return found


def write_secret_file(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
