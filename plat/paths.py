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
