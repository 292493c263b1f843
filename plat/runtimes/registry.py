"""Load runtime definitions from `templates/<name>/runtime.yaml`.

Adding a runtime means adding a folder: nothing here knows any runtime by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plat.errors import PlatError
from plat.paths import templates_dir
from plat.runtimes.python_entry import Framework


class Signal(BaseModel):
    """One piece of evidence: a file exists (and optionally its text matches a regex)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    contains: str | None = None
    weight: float = Field(gt=0, le=1)
    says: str


class Detection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    signals: tuple[Signal, ...]
    absorbs: tuple[str, ...] = ()


class Frontend(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: str
    marker: str


class Runtime(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    summary: str
    default_port: int = Field(ge=1, le=65535)
    base_image: str
    stage_images: dict[str, str] = {}
    detect: Detection
    frontend: Frontend | None = None
    dependency_files: tuple[str, ...] = ()
    dev: dict[str, object] = {}
    analyzer: Literal["python", "go"] | None = None
    """Code that finds the entry point in the source (plat/runtimes/<analyzer>_entry.py)."""
    frameworks: tuple[Framework, ...] = ()
    """The frameworks the analyzer knows, as data."""
    folder: Path

    @property
    def env_key(self) -> str:
        """`PLAT_BASE_IMAGE_<RUNTIME>`: the env override of this runtime's base image."""
        return "PLAT_BASE_IMAGE_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    @property
    def scaffold_dir(self) -> Path:
        return self.folder / "scaffold"

    @property
    def app_dir(self) -> Path:
        return self.folder / "app"

    def base_image_for(self, override: str | None = None, env: Mapping[str, str] | None = None) -> str:
        """Manifest override, then env override, then the runtime's upstream default."""
        env = os.environ if env is None else env
        return override or env.get(self.env_key) or self.base_image


def _load(folder: Path) -> Runtime:
    path = folder / "runtime.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return Runtime.model_validate({**data, "folder": folder})
    except (yaml.YAMLError, ValidationError) as exc:
        raise PlatError(f"{path}: invalid runtime definition: {exc}") from exc


@lru_cache(maxsize=4)
def _load_all(root: Path) -> dict[str, Runtime]:
    runtimes = {}
    for folder in sorted(p for p in root.iterdir() if (p / "runtime.yaml").is_file()):
        rt = _load(folder)
        runtimes[rt.name] = rt
    return runtimes


def load_runtimes(root: Path | None = None) -> dict[str, Runtime]:
    """All runtimes by name, sorted."""
    return _load_all((root or templates_dir()).resolve())


def get_runtime(name: str, root: Path | None = None) -> Runtime:
    runtimes = load_runtimes(root)
    if name not in runtimes:
        raise PlatError(
            f"unknown runtime {name!r}",
            f"available runtimes: {', '.join(runtimes)}",
        )
    return runtimes[name]
