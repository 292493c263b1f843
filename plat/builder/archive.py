"""Safe unpacking of user-supplied archives.

Threat model: the archive is hostile until checked. Members may try to escape `dest`
(absolute or drive-letter names, `..` with either separator, symlinks or hardlinks that
point out, a symlink planted by one member and written *through* by a later one), smuggle
special files (devices, FIFOs, setuid/setgid/sticky bits), or fill the disk (many entries,
huge declared sizes, headers that under-declare). So every member is checked, and the
count and declared size summed, before anything is written; each write re-checks the tree
with `os.lstat` (no symlink parents, no overwrites or type changes) and uses O_EXCL; bytes
are counted while streaming; every symlink is verified with `realpath` at the end (links
that each look in-tree can chain out). No `extract*` calls. A refusal empties `dest` again.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from plat.errors import PlatError

_Mode = Literal["r:gz", "r:", "zip"]
_SUFFIXES: dict[str, _Mode] = {".tar.gz": "r:gz", ".tgz": "r:gz", ".tar": "r:", ".zip": "zip"}
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1024 * 1024
_MAX_LINK_TARGET = 4096
_HINT = "Rebuild the archive from the app folder with relative paths only, e.g. `tar -czf app.tar.gz -C app .`."
_TOO_BIG = "Use a smaller archive (or raise the limit)."
_CORRUPT = "Check that the archive is complete and not corrupt."
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError)
_SPECIAL = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "FIFO"}


class _Refusal(Exception):
    def __init__(self, member: str, reason: str, hint: str = _HINT) -> None:
        super().__init__(reason)
        self.member, self.reason, self.hint = member, reason, hint


@dataclass(frozen=True)
class _Entry:
    name: str  # as stored in the archive, for messages
    parts: tuple[str, ...]  # normalised path below dest
    kind: str  # "file", "dir", "symlink" or "hardlink"
    mode: int = 0o644  # already reduced to 0o644 or 0o755
    size: int = 0
    link: str = ""  # symlink target, or the member a hardlink points to
    open: Callable[[], IO[bytes]] | None = None


def is_archive(path: Path) -> bool:
    """True if `path` is an existing file with a suffix `unpack_archive` understands."""
    return path.is_file() and _suffix(path) is not None


def unpack_archive(
    archive: Path, dest: Path, *, max_total_bytes: int = 512 * 1024**2, max_entries: int = 20_000
) -> None:
    """Unpack `archive` (.tar.gz, .tgz, .tar or .zip) into the existing, empty directory `dest`."""
    suffix = _suffix(archive)
    if suffix is None:
        raise PlatError(f"{archive.name}: unsupported archive type", "Use a .tar.gz, .tgz, .tar or .zip archive.")
    if not dest.is_dir() or any(dest.iterdir()):
        raise ValueError(f"unpack_archive needs an existing empty directory, got {dest}")
    root = os.path.realpath(dest)
    try:
        with _members(archive, _SUFFIXES[suffix]) as members:
            entries = _scan(members, max_total_bytes, max_entries)
            _Writer(root, max_total_bytes).write_all(entries)
    except _Refusal as exc:
        _empty(root)
        raise PlatError(f"{archive.name}: refusing member {exc.member!r}: {exc.reason}", exc.hint) from None
    except _READ_ERRORS as exc:
        _empty(root)
        raise PlatError(f"{archive.name}: cannot unpack ({exc})", _CORRUPT) from exc


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in _SUFFIXES if name.endswith(s)), None)


# -- reading: turn tar and zip members into checked entries ---------------------------


@contextmanager
def _members(archive: Path, mode: _Mode) -> Iterator[Iterator[_Entry]]:
    if mode == "zip":
        with zipfile.ZipFile(archive) as zf:
            yield (_zip_entry(zf, info) for info in zf.infolist())
    else:
        with tarfile.open(archive, mode) as tf:
            yield (_tar_entry(tf, member) for member in tf)


def _tar_entry(tf: tarfile.TarFile, m: tarfile.TarInfo) -> _Entry:
    if m.type in _SPECIAL:
        raise _Refusal(m.name, f"{_SPECIAL[m.type]} entries are not allowed")
    if m.mode & 0o7000:
        raise _Refusal(m.name, "setuid/setgid/sticky bits are not allowed")
    if m.isreg():
        return _entry(m.name, "file", m.mode, m.size, open=lambda: tf.extractfile(m))
    kind = "dir" if m.isdir() else "symlink" if m.issym() else "hardlink" if m.islnk() else None
    if kind is None:
        raise _Refusal(m.name, f"unsupported tar entry type {m.type!r}")
    return _entry(m.name, kind, m.mode, link=m.linkname)


def _zip_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Entry:
    if not info.filename:  # zipfile's own is_dir() fails on it
        raise _Refusal(info.filename, "empty member name")
    mode = info.external_attr >> 16  # unix mode, if the archiver recorded one
    kind = stat.S_IFMT(mode)
    if mode & 0o7000:
        raise _Refusal(info.filename, "setuid/setgid/sticky bits are not allowed")
    if info.flag_bits & 0x1:
        raise _Refusal(info.filename, "encrypted members are not supported")
    if info.is_dir() or kind == stat.S_IFDIR:
        return _entry(info.filename, "dir")
    if kind == stat.S_IFLNK:
        if info.file_size > _MAX_LINK_TARGET:
            raise _Refusal(info.filename, "symlink target is too long")
        with zf.open(info) as fh:
            target = fh.read(_MAX_LINK_TARGET).decode("utf-8", "replace")
        return _entry(info.filename, "symlink", link=target)
    if kind not in (0, stat.S_IFREG):
        raise _Refusal(info.filename, f"special file (mode {oct(mode)}) is not allowed")
    return _entry(info.filename, "file", mode, info.file_size, open=lambda: zf.open(info))


def _entry(name: str, kind: str, mode: int = 0, size: int = 0, **kw: object) -> _Entry:
    parts = _safe_parts(name)
    if not parts and kind != "dir":
        raise _Refusal(name, "empty member name")
    return _Entry(name, parts, kind, 0o755 if mode & 0o100 else 0o644, size, **kw)  # type: ignore[arg-type]  # kw: the link/open fields


def _safe_parts(name: str) -> tuple[str, ...]:
    """The path components of `name` (either separator), refusing anything that leaves dest."""
    path = name.replace("\\", "/")
    if "\x00" in path:
        raise _Refusal(name, "NUL byte in name")
    if path.startswith("/") or _DRIVE.match(path):
        raise _Refusal(name, "absolute path")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise _Refusal(name, "'..' path component")
    return parts


def _scan(members: Iterator[_Entry], max_bytes: int, max_entries: int) -> list[_Entry]:
    """Check every member, the entry count and the declared total size before writing."""
    entries: list[_Entry] = []
    declared = 0
    for entry in members:
        entries.append(entry)
        declared += entry.size
        if len(entries) > max_entries:
            raise _Refusal(entry.name, f"more than {max_entries} entries", _TOO_BIG)
        if declared > max_bytes:
            raise _Refusal(entry.name, f"declared size exceeds the {max_bytes}-byte limit", _TOO_BIG)
    return entries


# -- writing: create each entry below root, re-checking the tree on disk --------------


class _Writer:
    def __init__(self, root: str, max_bytes: int) -> None:
        self.root, self.budget = root, max_bytes
        self.seen: dict[tuple[str, ...], str] = {}  # what each member path already is
        self.symlinks: list[_Entry] = []

    def path(self, parts: tuple[str, ...]) -> str:
        return os.path.join(self.root, *parts)

    def write_all(self, entries: list[_Entry]) -> None:
        for entry in entries:
            if entry.parts:  # skip the archive's own root, e.g. "./"
                self.write(entry)
        for link in self.symlinks:
            real = os.path.realpath(self.path(link.parts))
            if os.path.commonpath([real, self.root]) != self.root:
                raise _Refusal(link.name, f"symlink resolves outside the archive (via {link.link!r})")

    def write(self, entry: _Entry) -> None:
        self.check_parents(entry)
        self.check_target(entry)
        path = self.path(entry.parts)
        if entry.kind == "symlink":
            self.check_symlink(entry)
        source = self.check_hardlink(entry) if entry.kind == "hardlink" else ""
        try:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            if entry.kind == "dir":
                os.makedirs(path, mode=0o755, exist_ok=True)
            elif entry.kind == "file":
                self.write_file(entry, path)
            elif entry.kind == "symlink":
                os.symlink(entry.link.replace("\\", "/"), path)
                self.symlinks.append(entry)
            else:
                os.link(source, path, follow_symlinks=False)
        except _READ_ERRORS as exc:
            raise _Refusal(entry.name, f"cannot unpack ({exc})", _CORRUPT) from exc
        for i in range(1, len(entry.parts)):
            self.seen.setdefault(entry.parts[:i], "dir")
        self.seen[entry.parts] = entry.kind

    def check_parents(self, entry: _Entry) -> None:
        for i in range(1, len(entry.parts)):
            try:
                st = os.lstat(self.path(entry.parts[:i]))
            except FileNotFoundError:
                return
            prefix = "/".join(entry.parts[:i])
            if stat.S_ISLNK(st.st_mode):
                raise _Refusal(entry.name, f"would be written through the symlink {prefix!r}")
            if not stat.S_ISDIR(st.st_mode):
                raise _Refusal(entry.name, f"parent {prefix!r} is not a directory")

    def check_target(self, entry: _Entry) -> None:
        previous = self.seen.get(entry.parts)
        if previous and not (previous == entry.kind == "dir"):
            raise _Refusal(entry.name, f"would replace an earlier {previous} of the same name")
        if os.path.lexists(self.path(entry.parts)) and not (entry.kind == "dir" and previous == "dir"):
            raise _Refusal(entry.name, "would overwrite an existing path")

    def check_symlink(self, entry: _Entry) -> None:
        target = entry.link.replace("\\", "/")
        if not target or "\x00" in target:
            raise _Refusal(entry.name, "empty or invalid symlink target")
        if target.startswith("/") or _DRIVE.match(target):
            raise _Refusal(entry.name, f"symlink to absolute path {entry.link!r}")
        depth = len(entry.parts) - 1  # resolve lexically from the link's own directory
        for part in target.split("/"):
            depth += -1 if part == ".." else 0 if part in ("", ".") else 1
            if depth < 0:
                raise _Refusal(entry.name, f"symlink target {entry.link!r} points outside the archive")

    def check_hardlink(self, entry: _Entry) -> str:
        try:
            target = _safe_parts(entry.link)
        except _Refusal:
            target = ()
        if not target or self.seen.get(target) != "file" or not os.path.isfile(self.path(target)):
            raise _Refusal(entry.name, f"hardlink target {entry.link!r} is not an earlier file in the archive")
        return self.path(target)

    def write_file(self, entry: _Entry, path: str) -> None:
        assert entry.open is not None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, entry.open() as src:
            os.fchmod(out.fileno(), entry.mode)
            over = _Refusal(entry.name, "unpacked size exceeds the limit", _TOO_BIG)
            self.budget = _copy_capped(src, out, self.budget, over)


def _copy_capped(src: IO[bytes], out: IO[bytes], budget: int, over: Exception) -> int:
    """Stream `src` to `out` in chunks, raising `over` before writing past `budget` bytes.

    Returns the budget left. Headers can lie, so this counts what is actually read.
    """
    while chunk := src.read(_CHUNK):
        budget -= len(chunk)
        if budget < 0:
            raise over
        out.write(chunk)
    return budget


def _empty(root: str) -> None:
    """Remove everything below root (it was empty before); never follows symlinks."""
    for child in os.scandir(root):
        if child.is_dir(follow_symlinks=False):
            shutil.rmtree(child.path)
        else:
            os.unlink(child.path)
