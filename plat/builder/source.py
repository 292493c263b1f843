"""Turn a SOURCE argument (folder, archive or Git URL) into a local folder to build from.

Archives and clones land in a temporary folder that is removed afterwards; a folder is used
in place and never modified.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from plat.builder.archive import is_archive, unpack_archive
from plat.builder.gitsource import check_git_url, clone, looks_like_git_url, redact_url
from plat.errors import PlatError


@dataclass(frozen=True)
class LocalSource:
    path: Path
    origin: str | None = None
    """The Git URL a clone came from (recorded as the image's OCI source label)."""


def _single_top_folder(root: Path) -> Path:
    """Archives of a repository usually hold one top folder (`app-main/`): build that."""
    entries = [p for p in root.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() else root


@contextmanager
def open_source(source: str, ref: str | None = None) -> Iterator[LocalSource]:
    path = Path(source).expanduser()
    if ref is not None and not (looks_like_git_url(source) or (path / ".git").exists()):
        raise PlatError(f"--ref {ref!r} needs a Git source, and {source!r} is not one")
    if path.is_dir() and ref is None:
        yield LocalSource(path.resolve())
        return
    if path.is_file():
        if not is_archive(path):
            raise PlatError(f"{source}: not a folder or a .tar.gz/.tgz/.tar/.zip archive")
        with tempfile.TemporaryDirectory(prefix="plat-src-") as tmp:
            unpack_archive(path, Path(tmp))
            yield LocalSource(_single_top_folder(Path(tmp)))
        return
    if looks_like_git_url(source) or path.is_dir():
        url = check_git_url(source)
        with tempfile.TemporaryDirectory(prefix="plat-git-") as tmp:
            dest = Path(tmp) / "src"
            clone(url, dest, ref)
            yield LocalSource(dest, redact_url(url) if looks_like_git_url(source) else None)
        return
    raise PlatError(f"{source}: no such folder or archive, and not a Git URL",
                    "give a folder, a .tar.gz/.zip archive, or an https:// or git@ URL")
