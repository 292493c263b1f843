"""Which changed paths `plat dev` ignores: .dockerignore, .gitignore, plat's defaults, editor noise.

Pure: patterns in, a matcher out. Matching follows .dockerignore rules (docker's own fnmatch,
`**` included; the last matching pattern wins; `!` re-includes); a path is ignored when it or
one of its parent folders matches. .gitignore patterns are translated: a pattern without a
slash matches at any depth, one with a slash is relative to the app folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from plat.docker_client import docker

DEFAULT_IGNORES = tuple(f"**/{name}" for name in (
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", "dist", ".plat",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".idea", ".vscode", ".hypothesis",
))
"""Never worth a reload: VCS data, installed dependencies, caches, build output."""

_EDITOR_NOISE = re.compile(
    r"(~|\.sw[a-px]|\.tmp|\.bak|\.orig|\.py[co]|___jb_\w+___)$"  # backups, vim swap, JetBrains safe-write
    r"|^\.#|^#.*#$|^4913$|^\.DS_Store$"  # emacs locks and autosaves, vim's write test, macOS
    r"|\.timestamp-\d+-\w+\.mjs$"  # Vite's bundled config, written next to vite.config.js
)


@dataclass(frozen=True)
class Ignore:
    patterns: tuple[tuple[bool, str], ...]
    """(negated, pattern) in file order: the last match decides."""

    def matches(self, rel: str) -> bool:
        """Whether `rel` (a POSIX path relative to the app folder) is ignored."""
        parts = [p for p in rel.split("/") if p and p != "."]
        if not parts:
            return False
        if _EDITOR_NOISE.search(parts[-1]):
            return True
        candidates = ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
        ignored = False
        for negated, pattern in self.patterns:
            if any(docker.utils.fnmatch.fnmatch(c, pattern) for c in candidates):
                ignored = not negated
        return ignored


def _split(line: str) -> tuple[bool, str] | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    return negated, line[1:] if negated else line


def dockerignore_patterns(text: str) -> list[tuple[bool, str]]:
    out = []
    for line in text.splitlines():
        item = _split(line)
        if item and item[1].strip("/"):
            out.append((item[0], item[1].strip("/")))
    return out


def gitignore_patterns(text: str, base: str = "") -> list[tuple[bool, str]]:
    """Translate .gitignore lines (of the folder `base`, relative to the app) to dockerignore form."""
    out = []
    prefix = f"{base.strip('/')}/" if base.strip("/") else ""
    for line in text.splitlines():
        item = _split(line.replace("\\#", "#"))
        if not item:
            continue
        negated, pattern = item
        body = pattern.rstrip("/")
        if not body:
            continue
        anchored = "/" in body
        body = body.lstrip("/")
        out.append((negated, prefix + (body if anchored else f"**/{body}")))
    return out


def make_ignore(dockerignore: str = "", gitignores: Iterable[tuple[str, str]] = (),
                extra: Iterable[str] = ()) -> Ignore:
    """Defaults, then .gitignore files ((folder, text) pairs), then .dockerignore, then `extra`."""
    patterns: list[tuple[bool, str]] = [(False, p) for p in DEFAULT_IGNORES]
    for base, text in gitignores:
        patterns += gitignore_patterns(text, base)
    patterns += dockerignore_patterns(dockerignore)
    patterns += [(False, p) for p in extra]
    return Ignore(tuple(patterns))


def load_ignore(root: Path, extra: Iterable[str] = (), frontend: str | None = None) -> Ignore:
    """The matcher for an app folder (reads its .dockerignore and .gitignore files)."""

    def read(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    gitignores = [("", read(root / ".gitignore"))]
    if frontend:
        gitignores.append((frontend, read(root / frontend / ".gitignore")))
    return make_ignore(read(root / ".dockerignore"), gitignores, extra)
