"""Which Go main package to build: `.` or one of `cmd/<name>` (read from the source, not built).

One main is built as it is; several need `build.main` in plat.yaml, and `plat detect --explain`
lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from plat.errors import PlatError

_PACKAGE_MAIN = re.compile(rb"^\s*package\s+main\b", re.M)
_MAX_READ = 64 * 1024
_SKIP = frozenset({"vendor", "testdata", "node_modules", ".git"})


@dataclass(frozen=True)
class GoMain:
    package: str
    """The main package's folder, relative to the module root (`.` or `cmd/server`)."""
    why: str
    candidates: tuple[str, ...] = ()

    framework = "go"
    server = "go build"

    @property
    def target(self) -> str:
        return "." if self.package == "." else f"./{self.package}"

    @property
    def described(self) -> str:
        return f"the binary built from {self.target}"


def _is_main(folder: Path) -> bool:
    for source in sorted(folder.glob("*.go")):
        if source.name.endswith("_test.go") or source.is_symlink() or not source.is_file():
            continue
        try:
            with source.open("rb") as fh:
                if _PACKAGE_MAIN.search(fh.read(_MAX_READ)):
                    return True
        except OSError:
            continue
    return False


def find_mains(root: Path) -> list[str]:
    """Main packages: the module root, then `cmd/*` (Go's layout for several binaries)."""
    mains = ["."] if _is_main(root) else []
    cmd = root / "cmd"
    if cmd.is_dir() and not cmd.is_symlink():
        mains += [f"cmd/{d.name}" for d in sorted(cmd.iterdir())
                  if d.is_dir() and not d.is_symlink() and d.name not in _SKIP and _is_main(d)]
    return mains


def choose_main(root: Path, pinned: str | None, where: Path) -> GoMain | None:
    """The main to build: `build.main` if set (and a main package), else the only one there is;
    None when there is none (`go build` then says what is missing)."""
    mains = find_mains(root)
    listed = ", ".join(mains) or "none"
    if pinned:
        package = pinned.strip("/") or "."
        if package != "." and not _is_main(root / package):
            raise PlatError(f"{where}: build.main: {pinned!r} is not a main package (main packages: {listed})")
        return GoMain(package, f"build.main in plat.yaml picks {package}", tuple(mains))
    if len(mains) == 1:
        why = "the module root is package main" if mains[0] == "." else f"{mains[0]} is the only main package"
        return GoMain(mains[0], why, tuple(mains))
    if not mains:
        return None
    raise PlatError(f"{root}: more than one main package: {listed}",
                    f"pick one with `build: {{main: {mains[-1]}}}` in plat.yaml")
