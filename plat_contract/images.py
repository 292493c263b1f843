"""Image references, parsed once for plat and the agent: `[registry[:port]/]path[:tag][@digest]`."""

from __future__ import annotations

from dataclasses import dataclass


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

    def push_args(self) -> tuple[str, str]:
        """`(repository, tag)` for the engine's push (no tag means latest)."""
        return self.repository, self.tag or "latest"


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
