"""Which changed paths `plat dev` ignores: .dockerignore, .gitignore, plat's defaults, editor noise.

Pure: patterns in, a matcher out. plat's defaults, then each .gitignore (read by pathspec, as
git reads it, relative to its own folder), then .dockerignore and the runtime's extra globs (by
docker's own rules: `**` included, the last matching pattern wins, `!` re-includes; a path is
ignored when it or one of its parent folders matches).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pathspec

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
    defaults: tuple[str, ...]
    gitignores: tuple[tuple[str, pathspec.GitIgnoreSpec], ...]
    """(folder relative to the app, its .gitignore), outermost first."""
    patterns: tuple[tuple[bool, str], ...]
    """.dockerignore and extra globs: (negated, pattern) in order; the last match decides."""

    def matches(self, rel: str) -> bool:
        """Whether `rel` (a POSIX path relative to the app folder) is ignored."""
        parts = [p for p in rel.split("/") if p and p != "."]
        if not parts:
            return False
        if _EDITOR_NOISE.search(parts[-1]):
            return True
        candidates = ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]
        ignored = any(docker.utils.fnmatch.fnmatch(c, p) for p in self.defaults for c in candidates)
        path = "/".join(parts)
        for base, spec in self.gitignores:
            if base and not path.startswith(base + "/"):
                continue
            verdict = spec.check_file(path[len(base) + 1:] if base else path).include
            if verdict is not None:
                ignored = verdict
        for negated, pattern in self.patterns:
            if any(docker.utils.fnmatch.fnmatch(c, pattern) for c in candidates):
                ignored = not negated
        return ignored


def dockerignore_patterns(text: str) -> list[tuple[bool, str]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = (line[1:] if negated else line).strip("/")
        if pattern:
            out.append((negated, pattern))
    return out


def make_ignore(dockerignore: str = "", gitignores: Iterable[tuple[str, str]] = (),
                extra: Iterable[str] = ()) -> Ignore:
    """Defaults, then .gitignore files ((folder, text) pairs), then .dockerignore, then `extra`."""
    specs = tuple((base.strip("/"), pathspec.GitIgnoreSpec.from_lines(text.splitlines())) for base, text in gitignores)
    return Ignore(DEFAULT_IGNORES, specs,
                  tuple(dockerignore_patterns(dockerignore)) + tuple((False, p) for p in extra))


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
