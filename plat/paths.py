"""Where plat's bundled data (runtime templates, examples) lives.

Installed wheels carry them under `plat/_data/`; a source checkout has them at the top.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    bundled = _PKG / "_data" / name
    return bundled if bundled.is_dir() else _PKG.parent / name


def templates_dir() -> Path:
    return _data_dir("templates")


def examples_dir() -> Path:
    return _data_dir("examples")


def agent_dir() -> Path:
    """The agent package's source, which `plat agent up` builds into the agent image."""
    bundled = _PKG / "_data" / "agent"
    return bundled if bundled.is_dir() else _PKG.parent / "agent"


def default_plat_home() -> Path:
    return Path.home() / ".local" / "share" / "plat"


def plat_home() -> Path:
    """Where plat keeps local state (the local agent's state dir, its admin token)."""
    import os

    return Path(os.environ.get("PLAT_HOME") or default_plat_home())


def read_tree_file(root: Path, name: str, hint: str) -> str | None:
    """The text of `root/name`, a file of the user's source tree, or None when it is absent.

    A link leading out of the tree is refused (an archive or a clone could otherwise read any
    file of the deploying machine into an image or an error message), and so is a file that
    is not UTF-8 text: each with a one-line PlatError naming the file."""
    from plat.errors import PlatError

    path = root / name
    if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
        raise PlatError(f"{path}: a symbolic link out of the app folder; plat reads only files inside it",
                        "replace the link with the file itself")
    if not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PlatError(f"{path}: not UTF-8 text", hint) from None
    except OSError as exc:
        raise PlatError(f"{path}: {exc.strerror}", hint) from None
