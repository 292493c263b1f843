"""The per-app deploy lock (a lease), as data: the public view, the refusal (requests are
checked by the contract's LockRequest).

The store takes and releases leases atomically; this module decides what they look like.
A lease whose holder stopped renewing shows as stale but is never taken over on its own:
a person decides (`plat lock release`), since the holder may only be slow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def view(row: dict[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The lease as clients see it (no token hash, no tenant)."""
    if row is None:
        return None
    expires = row["renewed"] + row["ttl"]
    return {"app": row["app"], "holder": row["holder"], "machine": row["machine"], "pid": row["pid"],
            "since": row["since"], "renewed": row["renewed"], "expires": expires, "stale": now > expires}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def held_message(lock: dict[str, Any]) -> str:
    return (f"{lock['app']} is locked by {lock['holder']} on {lock['machine']} (pid {lock['pid']}) "
            f"since {iso(lock['since'])}")
