"""`plat init`: render a runtime's starter app, or copy an example, into a folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from plat.config import slugify
from plat.errors import PlatError
from plat.paths import examples_dir
from plat.runtimes.registry import Runtime
from plat.templating import render_tree

_SKIP = {"node_modules", "__pycache__", ".venv", "dist"}


def starter_files(runtime: Runtime, name: str, *, frontend: bool = False) -> dict[str, bytes]:
    """The files of a new app (relative path → content). Pure apart from reading templates."""
    if not runtime.app_dir.is_dir():
        raise PlatError(f"runtime {runtime.name!r} has no starter app")
    variables = {"app": name, "port": runtime.default_port, "frontend": frontend}
    files = render_tree(runtime.app_dir, variables)
    if frontend:
        if runtime.frontend is None:
            raise PlatError(f"runtime {runtime.name!r} has no frontend option",
                            "--frontend works with: python-flask")
        fe_dir = runtime.folder / runtime.frontend.dir
        files.update(render_tree(fe_dir, variables, prefix=f"{runtime.frontend.dir}/"))
    return files


def check_target(dest: Path, force: bool) -> None:
    for folder in (dest, *dest.parents):
        if folder.exists() and not folder.is_dir():
            raise PlatError(f"{folder}: exists and is not a folder",
                            f"choose a folder for the new app other than {dest}")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise PlatError(f"{dest}: folder is not empty", "choose an empty folder, or pass --force to write into it")


def write_files(dest: Path, files: dict[str, bytes]) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if rel.endswith(".sh"):
            target.chmod(0o755)
    return sorted(files)


def example_names() -> list[str]:
    root = examples_dir()
    return sorted(p.name for p in root.iterdir() if (p / "plat.yaml").is_file()) if root.is_dir() else []


def copy_example(name: str, dest: Path) -> list[str]:
    names = example_names()
    if name not in names:
        raise PlatError(f"unknown example {name!r}", f"available examples: {', '.join(names)}")
    src = examples_dir() / name
    ignore = shutil.ignore_patterns(*_SKIP)
    shutil.copytree(src, dest, ignore=ignore, dirs_exist_ok=True)
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())


def default_name(dest: Path) -> str:
    return slugify(dest.resolve().name)
