"""Images as data: which layer chains an engine holds, and how to keep credentials out of the
messages an engine sends back (references are parsed by `plat_contract.images`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from plat_contract.api import Pull


def auth_config(auth: Mapping[str, str] | None) -> dict[str, str] | None:
    """The engine's `auth_config` for a pull: username and password only, or none."""
    if not auth:
        return None
    return {"username": auth["username"], "password": auth["password"]}


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """The ChainID of every prefix of an image's layers (OCI image spec):
    chain(0) = diff(0); chain(n) = "sha256:" + sha256(chain(n-1) + " " + diff(n))."""
    out: list[str] = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def all_chains(images_diff_ids: Iterable[Iterable[str]]) -> list[str]:
    """Every chain ID present on an engine, given each image's `RootFS.Layers`, sorted."""
    return sorted({c for diffs in images_diff_ids for c in chain_ids(diffs)})


def redact(text: str, values: Iterable[str], min_length: int = 1) -> str:
    """`text` with every occurrence of each value (at least `min_length` long) replaced by `***`.

    Longest values first, so a value that contains another is hidden whole."""
    for value in sorted({v for v in values if v and len(v) >= min_length}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def pull_secrets(pull: Pull | None) -> list[str]:
    """The strings of a deploy's `pull` option that must never appear in a message."""
    return [pull.auth.password, pull.auth.username] if pull and pull.auth else []
