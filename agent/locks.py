"""The per-app deploy lock (a lease), as data: request checks, the public view, the refusal.

The store takes and releases leases atomically; this module decides what they look like.
A lease whose holder stopped renewing shows as stale but is never taken over on its own:
a person decides (`plat lock release`), since the holder may only be slow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

TTL_DEFAULT, TTL_MIN, TTL_MAX = 60.0, 5.0, 3600.0
MAX_TEXT = 200


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT or not value.isprintable():
        raise ValueError(f"{key} must be printable text of 1 to {MAX_TEXT} characters")
    return value.strip()


def lock_request(body: dict[str, Any]) -> tuple[str, str, int, float]:
    """`(holder, machine, pid, ttl)` from a lock request body, or ValueError naming the field."""
    pid = body.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 <= pid < 2**31:
        raise ValueError("pid must be a non-negative integer")
    ttl = body.get("ttl", TTL_DEFAULT)
    if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not TTL_MIN <= ttl <= TTL_MAX:
        raise ValueError(f"ttl must be a number of seconds from {TTL_MIN:g} to {TTL_MAX:g}")
    return _text(body, "holder"), _text(body, "machine"), pid, float(ttl)


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
