"""Image references and layers, as data: what to pull, which layer chains an engine holds,
and how to keep credentials out of the messages an engine sends back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from plat_contract.api import Pull


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: `[registry/]path[:tag][@digest]`."""

    registry: str | None
    """`host[:port]` when the first component names one (has a `.` or `:`, or is `localhost`)."""
    repository: str
    """Everything before the tag or digest, registry included (what the engine's pull takes)."""
    tag: str | None
    digest: str | None

    def pull_args(self) -> tuple[str, str]:
        """`(repository, tag)` for the engine's pull: a digest wins over a tag, no tag means latest."""
        return self.repository, self.digest or self.tag or "latest"


def parse_reference(ref: str) -> ImageRef:
    """Split an image reference; a `:` in the registry host (a port) is not a tag."""
    ref = ref.strip()
    if not ref or any(c.isspace() for c in ref):
        raise ValueError(f"not an image reference: {ref!r}")
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    first, sep, rest = name.partition("/")
    registry = first if sep and rest and ("." in first or ":" in first or first == "localhost") else None
    if not name or (tag is not None and not tag) or (digest == "" and "@" in ref):
        raise ValueError(f"not an image reference: {ref!r}")
    return ImageRef(registry, name, tag, digest or None)


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
