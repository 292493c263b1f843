"""A corpus of real apps, made by their frameworks' own generators or taken from the example
apps frameworks ship in their source distributions, never written here.

Each `CorpusApp` says where its source comes from, how to make it, and a page it must answer.
Downloads are pinned and cached (`PLAT_CORPUS_CACHE`, default `~/.cache/plat/corpus`), so a
second run needs no network. Used by tests/integration/test_corpus.py and bench/build.py;
`python -m tools.corpus DEST` writes every app under DEST.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FLASK = "flask==3.1.3"
FASTAPI = "fastapi==0.165.0"
DJANGO = "django==5.2.19"


def cache_dir() -> Path:
    root = Path(os.environ.get("PLAT_CORPUS_CACHE") or Path.home() / ".cache/plat/corpus")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True)


def sdist(requirement: str) -> Path:
    """The unpacked source distribution of `requirement` (name==version), from PyPI."""
    name, version = requirement.split("==")
    unpacked = cache_dir() / f"{name}-{version}"
    if not unpacked.is_dir():
        downloads = cache_dir() / "downloads"
        _pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(downloads), requirement)
        archive = next(downloads.glob(f"{name}-{version}.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(cache_dir(), filter="data")
    return unpacked


def wheels(requirement: str) -> Path:
    """`requirement` and its dependencies as unpacked wheels in one folder (a PYTHONPATH entry)."""
    target = cache_dir() / f"site-{requirement.replace('==', '-')}"
    if not target.is_dir():
        downloads = cache_dir() / "wheels"
        _pip("download", "--only-binary", ":all:", "-d", str(downloads), requirement)
        staging = target.with_suffix(".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for wheel in downloads.glob("*.whl"):
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(staging)
        staging.rename(target)
    return target


def _copy(source: Callable[[], Path], sub: str) -> Callable[[Path], None]:
    def make(dest: Path) -> None:
        shutil.copytree(source() / sub, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return make


def _django_startproject(dest: Path) -> None:
    """`django-admin startproject mysite` into `dest`, exactly as Django's tutorial runs it."""
    dest.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(wheels(DJANGO))}
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite", str(dest)], check=True, env=env)


def _fastapi_bigger(dest: Path) -> None:
    """FastAPI's "Bigger Applications" example (a package with routers), plus the one line a
    user adds to say what it depends on."""
    _copy(lambda: sdist(FASTAPI), "docs_src/bigger_applications")(dest)
    (dest / "requirements.txt").write_text("fastapi\n")


def _fastapi_first_steps(dest: Path) -> None:
    """FastAPI's First Steps: "copy that to a file main.py", and nothing else."""
    dest.mkdir(parents=True)
    shutil.copy(sdist(FASTAPI) / "docs_src/first_steps/tutorial001.py", dest / "main.py")


@dataclass(frozen=True)
class CorpusApp:
    name: str
    shape: str
    make: Callable[[Path], None]
    path: str
    """A page the app answers with 200 once deployed."""
    expect: str
    """Text that page holds."""
    target: str
    """The entry point plat must find."""
    health: str | None = None
    """A health path for plat.yaml, when the app's `/` needs state it does not have (a database)."""


CORPUS = (
    CorpusApp("flaskr", "Flask package with a create_app() factory and pyproject.toml (Flask's tutorial)",
              _copy(lambda: sdist(FLASK), "examples/tutorial"), "/auth/login", "Log In", "flaskr:create_app()",
              health="/auth/login"),
    CorpusApp("js-example", "Flask package making `app` in __init__.py, pyproject.toml (Flask's JavaScript example)",
              _copy(lambda: sdist(FLASK), "examples/javascript"), "/", "fetch", "js_example:app"),
    CorpusApp("mysite", "Django project from `django-admin startproject`, no edits, no dependency file",
              _django_startproject, "/", "The install worked successfully", "mysite.wsgi:application"),
    # Its app-wide dependency wants ?token=jessica on every path, `/` included.
    CorpusApp("bigger-app", "FastAPI package with routers under uvicorn (FastAPI's Bigger Applications)",
              _fastapi_bigger, "/?token=jessica", "Hello Bigger Applications", "app.main:app",
              health="/?token=jessica"),
    CorpusApp("first-steps", "FastAPI module main.py, no dependency file (FastAPI's First Steps)",
              _fastapi_first_steps, "/", "Hello World", "main:app"),
)


def make(app: CorpusApp, dest: Path) -> Path:
    """Write `app` into `dest/<name>` and return that folder."""
    folder = dest / app.name
    app.make(folder)
    if app.health:
        (folder / "plat.yaml").write_text(f"name: {app.name}\nhealth: {app.health}\n")
    return folder


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for corpus_app in CORPUS:
        print(make(corpus_app, out))
