"""plat.builder.archive: hostile archives are refused and never write outside dest."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from plat.builder.archive import _copy_capped, is_archive, unpack_archive
from plat.errors import PlatError

# -- building crafted archives --------------------------------------------------------


@dataclass
class M:
    """One crafted member: kind is file, dir, sym, hard, chr, blk or fifo."""

    name: str
    kind: str = "file"
    data: bytes = b"data"
    mode: int = 0o644
    link: str = ""


def f(name: str, data: bytes = b"data", mode: int = 0o644) -> M:
    return M(name, "file", data, mode)


def d(name: str, mode: int = 0o755) -> M:
    return M(name, "dir", mode=mode)


def sym(name: str, target: str) -> M:
    return M(name, "sym", link=target, mode=0o777)


def hard(name: str, target: str) -> M:
    return M(name, "hard", link=target)


_TAR_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
              "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
_ZIP_TYPES = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "sym": stat.S_IFLNK,
              "chr": stat.S_IFCHR, "blk": stat.S_IFBLK, "fifo": stat.S_IFIFO}


def make_tar(path: Path, members: list[M]) -> Path:
    with tarfile.open(path, "w:gz" if path.name.endswith(("gz", "tgz")) else "w") as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type, info.mode, info.linkname = _TAR_TYPES[m.kind], m.mode, m.link
            if m.kind == "file":
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                tf.addfile(info)
    return path


def make_zip(path: Path, members: list[M]) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # duplicate names are deliberate in some cases
        for m in members:
            info = zipfile.ZipInfo(m.name + ("/" if m.kind == "dir" and not m.name.endswith("/") else ""))
            info.create_system = 3
            info.external_attr = (_ZIP_TYPES[m.kind] | m.mode) << 16
            zf.writestr(info, m.link.encode() if m.kind == "sym" else b"" if m.kind == "dir" else m.data)
    return path


def patch_zip_sizes(path: Path, file_size: int) -> None:
    """Make every header declare `file_size` bytes, whatever the data really holds."""
    raw = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(sig)
        while at != -1:
            raw[at + offset:at + offset + 4] = struct.pack("<I", file_size)
            at = raw.find(sig, at + 4)
    path.write_bytes(bytes(raw))


@dataclass
class Box:
    """dest (the temp dir we unpack into) next to a sentinel dir that must stay empty."""

    root: Path
    dest: Path
    outside: Path
    archives: Path

    def assert_untouched(self) -> None:
        assert sorted(p.name for p in self.root.iterdir()) == ["dest", "outside"]
        assert list(self.outside.iterdir()) == []
        assert list(self.dest.iterdir()) == []  # a refusal empties dest again


@pytest.fixture
def box(tmp_path: Path) -> Box:
    root = tmp_path / "work"
    (root / "dest").mkdir(parents=True)
    (root / "outside").mkdir()
    (tmp_path / "archives").mkdir()
    return Box(root, root / "dest", root / "outside", tmp_path / "archives")


def build(box: Box, fmt: str, members: list[M]) -> Path:
    path = box.archives / f"a.{fmt}"
    return make_zip(path, members) if fmt == "zip" else make_tar(path, members)


# -- refusals ---------------------------------------------------------------------------

OUT = "<outside>"  # replaced by the sentinel dir's absolute path

# (id, members, the member the error must name, formats)
REFUSED = [
    ("dotdot", [f("../outside/pwned")], "../outside/pwned", "tar.gz zip"),
    ("dotdot-nested", [d("a"), f("a/../../outside/pwned")], "a/../../outside/pwned", "tar.gz zip"),
    ("dotdot-backslash", [f("..\\outside\\pwned")], "..\\outside\\pwned", "tar.gz zip"),
    ("dotdot-mixed", [f("a\\..\\../outside/pwned")], "a\\..\\../outside/pwned", "tar.gz zip"),
    ("absolute", [f(f"{OUT}/pwned")], f"{OUT}/pwned", "tar.gz zip"),
    ("absolute-backslash", [f("\\outside\\pwned")], "\\outside\\pwned", "tar.gz zip"),
    ("unc-path", [f("\\\\server\\share\\pwned")], "\\\\server\\share\\pwned", "tar.gz zip"),
    ("drive-letter", [f("C:\\outside\\pwned")], "C:\\outside\\pwned", "tar.gz zip"),
    ("drive-letter-slash", [f("c:/pwned")], "c:/pwned", "tar.gz zip"),
    ("drive-relative", [f("D:pwned")], "D:pwned", "tar.gz zip"),
    ("symlink-escape", [sym("link", "../outside")], "link", "tar.gz zip"),
    ("symlink-escape-deep", [d("a/b"), sym("a/b/link", "../../../outside")], "a/b/link", "tar.gz zip"),
    ("symlink-escape-backslash", [sym("link", "..\\outside")], "link", "tar.gz zip"),
    ("symlink-absolute", [sym("link", OUT)], "link", "tar.gz zip"),
    ("symlink-drive", [sym("link", "C:\\Windows")], "link", "tar.gz zip"),
    ("symlink-empty", [sym("link", "")], "link", "tar.gz"),
    # chains across entries: plant a link, then go through it
    ("chain-dot-then-dotdot", [sym("a", "."), f("a/../../outside/pwned")], "a/../../outside/pwned", "tar.gz zip"),
    ("chain-sub-then-dotdot", [d("sub"), sym("a", "sub"), f("a/../../outside/pwned")], "a/../../outside/pwned",
     "tar.gz zip"),
    ("chain-absolute-then-write", [sym("d", OUT), f("d/pwned")], "d", "tar.gz zip"),
    ("chain-write-through-in-tree-link", [d("sub"), sym("d", "sub"), f("d/pwned")], "d/pwned", "tar.gz zip"),
    ("chain-write-through-dot-link", [sym("d", "."), f("d/pwned")], "d/pwned", "tar.gz zip"),
    ("chain-mkdir-through-link", [d("sub"), sym("d", "sub"), d("d/x")], "d/x", "tar.gz zip"),
    # each link looks in-tree lexically, but p/.. is the parent of dest once p -> .
    ("chain-link-via-link", [sym("p", "."), sym("l", "p/../outside")], "l", "tar.gz zip"),
    ("chain-link-via-later-link", [sym("l", "p/../outside"), sym("p", ".")], "l", "tar.gz zip"),
    ("hardlink-escape", [hard("h", "../outside/x")], "h", "tar.gz"),
    ("hardlink-absolute", [hard("h", "/etc/passwd")], "h", "tar.gz"),
    ("hardlink-missing", [hard("h", "nothere")], "h", "tar.gz"),
    ("hardlink-later-member", [hard("h", "f"), f("f")], "h", "tar.gz"),
    ("hardlink-to-dir", [d("dir"), hard("h", "dir")], "h", "tar.gz"),
    ("hardlink-to-symlink", [sym("s", "x"), hard("h", "s")], "h", "tar.gz"),
    ("char-device", [M("dev", "chr")], "dev", "tar.gz zip"),
    ("block-device", [M("disk", "blk")], "disk", "tar.gz zip"),
    ("fifo", [M("pipe", "fifo")], "pipe", "tar.gz zip"),
    ("setuid", [f("run", mode=0o4755)], "run", "tar.gz zip"),
    ("setgid", [f("run", mode=0o2755)], "run", "tar.gz zip"),
    ("sticky-dir", [d("tmp", mode=0o1777)], "tmp", "tar.gz zip"),
    # overwrites, type changes and duplicates
    ("duplicate-file", [f("x"), f("x")], "x", "tar.gz zip"),
    ("file-over-dir", [d("x"), f("x")], "x", "tar.gz zip"),
    ("dir-over-file", [f("x"), d("x")], "x", "tar.gz zip"),
    ("file-over-symlink", [sym("x", "y"), f("x")], "x", "tar.gz zip"),
    ("file-under-file", [f("x"), f("x/y")], "x/y", "tar.gz zip"),
    ("file-over-implicit-dir", [f("x/y"), f("x")], "x", "tar.gz zip"),
]


@pytest.mark.parametrize(
    ("fmt", "members", "culprit"),
    [pytest.param(fmt, members, culprit, id=f"{case}-{fmt}")
     for case, members, culprit, formats in REFUSED for fmt in formats.split()],
)
def test_refused(box: Box, fmt: str, members: list[M], culprit: str) -> None:
    out = str(box.outside)
    members = [M(m.name.replace(OUT, out), m.kind, m.data, m.mode, m.link.replace(OUT, out)) for m in members]
    archive = build(box, fmt, members)
    with pytest.raises(PlatError) as err:
        unpack_archive(archive, box.dest)
    culprit = culprit.replace(OUT, out)
    assert repr(culprit) in err.value.message or repr(culprit + "/") in err.value.message  # zip dirs end in /
    assert err.value.hint
    assert "\n" not in err.value.message
    box.assert_untouched()


def test_declared_size_bomb_tar(box: Box) -> None:
    archive = build(box, "tar.gz", [f("small", b"x" * 100), f("big", b"\0" * 5000)])
    with pytest.raises(PlatError, match="'big'.*declared size"):
        unpack_archive(archive, box.dest, max_total_bytes=4096)
    box.assert_untouched()


def test_declared_size_bomb_zip(box: Box) -> None:
    archive = build(box, "zip", [f("bomb", b"\0" * 100)])
    patch_zip_sizes(archive, 0xFFFF_FFF0)  # claims ~4 GiB, over the default 512 MiB cap
    with pytest.raises(PlatError, match="'bomb'.*declared size"):
        unpack_archive(archive, box.dest)
    box.assert_untouched()


def test_lying_zip_header_is_refused(box: Box) -> None:
    """The header says 10 bytes but 3 MiB follow: never more than declared is written."""
    archive = build(box, "zip", [f("liar", b"\0" * (3 * 1024**2))])
    patch_zip_sizes(archive, 10)
    with pytest.raises(PlatError, match="'liar'"):
        unpack_archive(archive, box.dest, max_total_bytes=1024**2)
    box.assert_untouched()


def test_actual_bytes_are_capped_while_streaming() -> None:
    out = io.BytesIO()
    over = PlatError("too big")
    with pytest.raises(PlatError, match="too big"):
        _copy_capped(io.BytesIO(b"x" * (3 * 1024**2)), out, 1024**2 + 5, over)
    assert len(out.getvalue()) <= 1024**2 + 5
    assert _copy_capped(io.BytesIO(b"abc"), io.BytesIO(), 10, over) == 7


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_entry_count_bomb(box: Box, fmt: str) -> None:
    archive = build(box, fmt, [f(f"f{i}", b"") for i in range(50)])
    with pytest.raises(PlatError, match="'f10'.*more than 10 entries"):
        unpack_archive(archive, box.dest, max_entries=10)
    box.assert_untouched()


@pytest.mark.parametrize("name", ["a.rar", "a.tar.bz2", "a.7z", "a"])
def test_unknown_suffix(box: Box, name: str) -> None:
    archive = box.archives / name
    archive.write_bytes(b"whatever")
    with pytest.raises(PlatError, match="unsupported archive type"):
        unpack_archive(archive, box.dest)
    assert not is_archive(archive)
    box.assert_untouched()


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_corrupt_archive(box: Box, fmt: str) -> None:
    archive = box.archives / f"a.{fmt}"
    archive.write_bytes(b"this is not an archive at all")
    with pytest.raises(PlatError, match="cannot unpack"):
        unpack_archive(archive, box.dest)
    box.assert_untouched()


def test_dest_must_be_empty(box: Box) -> None:
    archive = build(box, "tar.gz", [f("x")])
    (box.dest / "old").write_text("")
    with pytest.raises(ValueError):
        unpack_archive(archive, box.dest)


# -- archives that are fine -----------------------------------------------------------

GOOD = [
    d("./"),
    d("app"),
    d("app/src"),
    f("app/src/main.py", b"print('hi')\n"),
    f("app/deep/er/implicit.txt", b"no dir entries for my parents\n"),
    f("app/run.sh", b"#!/bin/sh\n", mode=0o775),
    f("app/private", b"secret\n", mode=0o600),
    f("app/odd-perms", b"x", mode=0o777),
    sym("app/link", "src/main.py"),
    sym("app/deep/er/up", "../../src"),
    sym("app/dangling", "not/yet/there"),
    d("app/src"),  # a repeated directory entry is harmless
]


@pytest.mark.parametrize("fmt", ["tar.gz", "tgz", "tar", "zip"])
def test_unpacks_normal_archive(box: Box, fmt: str) -> None:
    archive = build(box, fmt, GOOD + ([hard("app/hard", "app/src/main.py")] if fmt != "zip" else []))
    assert is_archive(archive)
    unpack_archive(archive, box.dest)
    app = box.dest / "app"
    assert (app / "src/main.py").read_bytes() == b"print('hi')\n"
    assert (app / "deep/er/implicit.txt").read_text() == "no dir entries for my parents\n"
    assert stat.S_IMODE((app / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((app / "private").stat().st_mode) == 0o644
    assert stat.S_IMODE((app / "odd-perms").stat().st_mode) == 0o755
    assert os.readlink(app / "link") == "src/main.py"
    assert (app / "link").read_bytes() == b"print('hi')\n"
    assert (app / "deep/er/up/main.py").exists()
    assert (app / "dangling").is_symlink() and not (app / "dangling").exists()
    if fmt != "zip":
        assert (app / "hard").read_bytes() == b"print('hi')\n"
        assert os.path.samefile(app / "hard", app / "src/main.py")
    assert sorted(p.name for p in box.root.iterdir()) == ["dest", "outside"]
    assert list(box.outside.iterdir()) == []


def test_zip_without_unix_modes(box: Box) -> None:
    archive = box.archives / "win.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("folder/", b"")
        zf.writestr("folder/file.txt", b"hello")  # external_attr high bits are 0
    unpack_archive(archive, box.dest)
    assert (box.dest / "folder/file.txt").read_bytes() == b"hello"
    assert stat.S_IMODE((box.dest / "folder/file.txt").stat().st_mode) == 0o644


def test_is_archive(tmp_path: Path) -> None:
    for name in ["a.tar.gz", "b.TGZ", "c.tar", "d.zip"]:
        (tmp_path / name).write_bytes(b"")
        assert is_archive(tmp_path / name)
    assert not is_archive(tmp_path / "missing.zip")
    (tmp_path / "dir.zip").mkdir()
    assert not is_archive(tmp_path / "dir.zip")


def test_round_trip_of_a_real_tree(box: Box, tmp_path: Path) -> None:
    """Members named ./x, as `tar -C app .` writes them, including a real hardlink."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg/mod.py").write_text("x = 1\n")
    (src / "start").write_text("#!/bin/sh\n")
    (src / "start").chmod(0o755)
    os.link(src / "pkg/mod.py", src / "pkg/same.py")
    (src / "current").symlink_to("pkg")
    archive = box.archives / "real.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src, arcname=".")
    with tarfile.open(archive) as tf:
        assert any(m.islnk() and m.linkname.startswith("./") for m in tf.getmembers())
    unpack_archive(archive, box.dest)
    assert (box.dest / "current/mod.py").read_text() == "x = 1\n"
    assert os.path.samefile(box.dest / "pkg/mod.py", box.dest / "pkg/same.py")
    assert stat.S_IMODE((box.dest / "start").stat().st_mode) == 0o755


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_an_empty_member_name_gets_the_usual_refusal(box: Box, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # zipfile itself cannot write a nameless member (its is_dir() indexes the name): let it, here.
    monkeypatch.setattr(zipfile.ZipInfo, "is_dir", lambda self: self.filename.endswith("/"))
    archive = build(box, fmt, [f("")])
    monkeypatch.undo()
    with pytest.raises(PlatError) as err:
        unpack_archive(archive, box.dest)
    assert "refusing member '': empty member name" in err.value.message and err.value.hint
    box.assert_untouched()
