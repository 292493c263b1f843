"""Find a Python app's entry point by reading its source, never by importing it.

The user's code never runs on the developer's machine: files are parsed with `ast` and
matched against the frameworks a runtime declares as data (`python.frameworks` in its
runtime.yaml). The result names a module, an object in it, whether the object is a factory
to call, and whether a WSGI or an ASGI server runs it, plus why plat chose it, for
`plat detect --explain`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from plat.errors import PlatError
from plat.paths import read_tree_file

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,9}$")
"""What a module or object name rendered into the image's environment may look like."""

OBJECT_NAMES = ("app", "application", "api", "server")
FACTORY_NAMES = ("create_app", "make_app", "app_factory", "get_app", "create_application")
PREFERRED_FILES = ("wsgi", "asgi", "app", "main", "application", "server", "api", "run")
_MAX_SOURCE = 512 * 1024
_MAX_FILES = 400
_SKIP_DIRS = frozenset({".git", ".venv", "venv", "env", "node_modules", "__pycache__", "tests", "test", "docs",
                        "build", "dist", ".plat", "migrations", "site-packages", ".tox", ".nox"})


class Framework(BaseModel):
    """A web framework as data: the packages that declare it, the classes that make its app
    object, and the server interface that runs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    packages: tuple[str, ...]
    classes: tuple[str, ...] = ()
    kind: str = "wsgi"
    """`wsgi` (gunicorn) or `asgi` (uvicorn)."""
    folders: tuple[str, ...] = ()
    """Folders the framework creates at start when they are missing (Flask's `instance/`), made
    in the image: the instance's root filesystem is read-only."""


@dataclass(frozen=True)
class PythonEntry:
    module: str
    """Dotted module path, importable from `path` (`flaskr`, `mysite.wsgi`)."""
    obj: str
    factory: bool
    """Call `obj()` to get the app (`create_app()`), or use `obj` as it is."""
    kind: str
    framework: str
    why: str
    path: str = ""
    """A folder under the app root to put on `sys.path` (`src` for a src layout), or ""."""
    django_settings: str | None = None

    @property
    def target(self) -> str:
        return f"{self.module}:{self.obj}{'()' if self.factory else ''}"

    @property
    def server(self) -> str:
        return "uvicorn" if self.kind == "asgi" else "gunicorn"

    @property
    def described(self) -> str:
        return f"{self.target} under {self.server} ({self.kind.upper()})"


@dataclass(frozen=True)
class EntryMiss:
    """No entry point: what was looked at, for a message that helps."""

    looked_at: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


def _parse(root: Path, rel: str) -> ast.Module | None:
    try:
        if (root / rel).stat().st_size > _MAX_SOURCE:
            return None
        text = read_tree_file(root, rel, "")
    except (OSError, PlatError):  # an unreadable, escaping or binary file is no evidence
        return None
    if text is None:
        return None
    try:
        return ast.parse(text, filename=rel)
    except (SyntaxError, ValueError):
        return None


def _called_name(node: ast.expr) -> str | None:
    """`Flask` for `Flask(...)` or `flask.Flask(...)`."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _callable_without_args(fn: ast.FunctionDef) -> bool:
    args = fn.args
    required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
    kw_required = sum(1 for d in args.kw_defaults if d is None)
    return required <= 0 and kw_required == 0


@dataclass(frozen=True)
class _Found:
    obj: str
    factory: bool
    framework: Framework
    why: str


def _objects(tree: ast.Module, frameworks: Sequence[Framework], rel: str) -> Iterator[_Found]:
    """App objects (`app = Flask(__name__)`) and factories (`def create_app(): ...`) at module level."""
    imported = _imports(tree)
    known = [fw for fw in frameworks if imported & set(fw.packages)]
    by_class = {cls: fw for fw in known for cls in fw.classes}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            cls = _called_name(value) if value is not None else None
            if isinstance(target, ast.Name) and cls in by_class:
                yield _Found(target.id, False, by_class[cls], f"{rel} makes `{target.id} = {cls}(…)`")
        if isinstance(node, ast.FunctionDef) and node.name in FACTORY_NAMES and known:
            if _callable_without_args(node):
                yield _Found(node.name, True, known[0], f"{rel} defines the factory `{node.name}()`")


def _module_of(rel: str, path: str) -> str:
    inner = rel[len(path) + 1:] if path else rel
    parts = inner[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _candidate_files(root: Path) -> list[tuple[str, str]]:
    """(file, sys.path folder) pairs: top-level modules, packages (two levels deep) and a src layout."""
    out: list[tuple[str, str]] = []

    def walk(folder: Path, rel: str, base: str, depth: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if len(out) >= _MAX_FILES or entry.is_symlink():
                continue
            name = rel + "/" + entry.name if rel else entry.name
            if entry.is_file() and entry.suffix == ".py" and IDENTIFIER.fullmatch(entry.stem):
                out.append((name, base))
            elif (entry.is_dir() and depth < 2 and entry.name not in _SKIP_DIRS and IDENTIFIER.fullmatch(entry.name)
                  and (entry / "__init__.py").is_file()):
                walk(entry, name, base, depth + 1)

    walk(root, "", "", 0)
    if (root / "src").is_dir() and not (root / "src" / "__init__.py").exists():
        walk(root / "src", "src", "src", 0)
    return out


def _rank(rel: str, found: _Found) -> tuple[int, int, int, str]:
    stem = rel.rsplit("/", 1)[-1][:-3]
    if stem == "__init__":
        stem = rel.rsplit("/", 2)[-2] if "/" in rel else stem
    file_rank = PREFERRED_FILES.index(stem) if stem in PREFERRED_FILES else len(PREFERRED_FILES)
    names = OBJECT_NAMES + FACTORY_NAMES
    obj_rank = names.index(found.obj) if found.obj in names else len(names)
    return (rel.count("/"), file_rank, obj_rank, rel)


_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z0-9_.]+)['"]""")


def _string_setting(tree: ast.Module, name: str) -> str | None:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            return node.value.value
    return None


def _django(root: Path, frameworks: Sequence[Framework]) -> PythonEntry | None:
    django = next((fw for fw in frameworks if fw.name == "django"), None)
    manage = read_tree_file(root, "manage.py", "") if django else None
    if django is None or manage is None:
        return None
    match = _SETTINGS.search(manage)
    if not match or not MODULE.fullmatch(match.group(1)):
        return None
    settings = match.group(1)
    tree = _parse(root, settings.replace(".", "/") + ".py")
    if tree is None:
        return None
    wsgi, asgi = _string_setting(tree, "WSGI_APPLICATION"), _string_setting(tree, "ASGI_APPLICATION")
    chosen, kind = (wsgi, "wsgi") if wsgi else (asgi, "asgi")
    if not chosen or "." not in chosen or not MODULE.fullmatch(chosen):
        return None
    module, obj = chosen.rsplit(".", 1)
    setting = "WSGI_APPLICATION" if kind == "wsgi" else "ASGI_APPLICATION"
    return PythonEntry(module, obj, False, kind, "django",
                       f"manage.py names settings {settings}, whose {setting} is {chosen}",
                       django_settings=settings)


def find_entry(root: Path, frameworks: Sequence[Framework]) -> PythonEntry | EntryMiss:
    """The app's entry point, or what was looked at when there is none."""
    django = _django(root, frameworks)
    if django:
        return django
    files = _candidate_files(root)
    best: tuple[tuple[int, int, int, str], str, str, _Found] | None = None
    for rel, base in files:
        tree = _parse(root, rel)
        if tree is None:
            continue
        for found in _objects(tree, frameworks, rel):
            key = _rank(rel, found)
            if best is None or key < best[0]:
                best = (key, rel, base, found)
    if best is None:
        return EntryMiss(tuple(rel for rel, _ in files[:8]))
    _, rel, base, found = best
    module = _module_of(rel, base)
    if not MODULE.fullmatch(module) or not IDENTIFIER.fullmatch(found.obj):
        return EntryMiss((rel,), (f"{rel}: {module!r} is not an importable module name",))
    return PythonEntry(module, found.obj, found.factory, found.framework.kind, found.framework.name, found.why, base)
