"""Resolve an app folder into everything a build or run needs: manifest + runtime facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plat.config import Manifest, load_manifest, slugify
from plat.errors import PlatError
from plat.paths import read_tree_file
from plat.runtimes.detect import Detection, detect, frontend_of
from plat.runtimes.go_entry import GoMain, choose_main
from plat.runtimes.python_entry import EntryMiss, PythonEntry, find_entry
from plat.runtimes.registry import Runtime, get_runtime, load_runtimes

DEFAULT_PORT = 8080


@dataclass(frozen=True)
class AppSpec:
    root: Path
    """The app folder (where plat.yaml lives)."""
    manifest: Manifest
    runtime: Runtime | None
    """None only when the user's own Dockerfile builds the app and no runtime is pinned."""
    detection: Detection | None
    context_dir: Path
    user_dockerfile: str | None
    """The user's Dockerfile, relative to the context, when they have one: it wins."""
    frontend: str | None
    entry: PythonEntry | GoMain | None = None
    """The entry point found in the source (runtimes with an analyzer), or None."""
    procfile: str | None = None
    """The `web:` command of the app's Procfile, which wins over a found entry point."""

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def port(self) -> int:
        if self.manifest.port:
            return self.manifest.port
        return self.runtime.default_port if self.runtime else DEFAULT_PORT

    @property
    def health(self) -> str:
        return self.manifest.health


def _inside(root: Path, rel: str, what: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise PlatError(f"{root / 'plat.yaml'}: {what}: {rel!r} points outside the app folder")
    return path


def resolve_app(root: Path, manifest: Manifest | None = None, environment: str | None = None) -> AppSpec:
    """The app in `root`, as `environment` (plat.yaml's `environments:`) sees it when given."""
    root = root.resolve()
    if not root.is_dir():
        raise PlatError(f"{root}: no such folder")
    manifest = (manifest or load_manifest(root) or Manifest(name=slugify(root.name))).for_environment(environment)
    runtimes = load_runtimes()
    context_dir = _inside(root, manifest.build.context, "build.context")
    if not context_dir.is_dir():
        raise PlatError(f"{root / 'plat.yaml'}: build.context: {manifest.build.context!r} is not a folder")

    user_dockerfile: str | None = None
    if manifest.build.dockerfile:
        df = _inside(context_dir, manifest.build.dockerfile, "build.dockerfile")
        if not df.is_file():
            raise PlatError(f"{root / 'plat.yaml'}: build.dockerfile: {manifest.build.dockerfile!r} not found")
        user_dockerfile = df.relative_to(context_dir.resolve()).as_posix()
    elif (context_dir / "Dockerfile").is_file():
        user_dockerfile = "Dockerfile"

    detection: Detection | None = None
    runtime: Runtime | None = None
    if manifest.runtime:
        runtime = get_runtime(manifest.runtime)
    elif user_dockerfile is None:
        detection = detect(context_dir, runtimes)
        runtime = runtimes[detection.runtime]

    frontend: str | None = None
    fe = manifest.build.frontend
    if isinstance(fe, str):
        if not _inside(context_dir, fe, "build.frontend").is_dir():
            raise PlatError(f"{root / 'plat.yaml'}: build.frontend: folder {fe!r} not found")
        frontend = fe
    elif fe is not False and runtime is not None:
        frontend = frontend_of(context_dir, runtime)
    procfile = procfile_web(context_dir)
    entry: PythonEntry | GoMain | None = None
    if runtime is not None and user_dockerfile is None and runtime.analyzer == "python":
        entry = _python_entry(context_dir, runtime, procfile)
    elif runtime is not None and user_dockerfile is None and runtime.analyzer == "go":
        entry = choose_main(context_dir, manifest.build.main, root / "plat.yaml")
    return AppSpec(root, manifest, runtime, detection, context_dir, user_dockerfile, frontend, entry, procfile)


def procfile_web(root: Path) -> str | None:
    """The command of a Procfile's `web:` line (Heroku's convention), or None."""
    text = read_tree_file(root, "Procfile", "write Procfile as `<type>: <command>` lines")
    for line in (text or "").splitlines():
        kind, sep, command = line.partition(":")
        if sep and kind.strip() == "web" and command.strip():
            return command.strip()
    return None


def _python_entry(root: Path, runtime: Runtime, procfile: str | None) -> PythonEntry | None:
    found = find_entry(root, runtime.frameworks)
    if isinstance(found, PythonEntry):
        return found
    if procfile is not None:
        return None
    raise PlatError(no_python_entry(root, found, runtime),
                    "add a Procfile with a `web:` line (e.g. `web: gunicorn mypkg.wsgi:app`), "
                    "or write your own Dockerfile")


def no_python_entry(root: Path, miss: EntryMiss, runtime: Runtime) -> str:
    names = ", ".join(sorted({fw.name.capitalize() for fw in runtime.frameworks if fw.classes}))
    looked = ", ".join(miss.looked_at) or "no .py files"
    notes = f" ({'; '.join(miss.notes)})" if miss.notes else ""
    return (f"no web app found in {root}: no module makes an app object ({names}) or defines a "
            f"create_app() factory, and manage.py names no Django settings; looked at {looked}{notes}")


def agent_manifest(app: AppSpec) -> dict[str, object]:
    """What an agent needs to run the app, as the contract's `RunManifest` (plat.yaml's keys
    about where to deploy stay with the CLI). Env: `.env` first, plat.yaml's `env:` wins (as in Compose)."""
    from pydantic import ValidationError

    from plat.config import load_dotenv
    from plat_contract.manifest import RunManifest

    env = {**load_dotenv(app.root), **app.manifest.env}
    try:
        run = RunManifest(port=app.port, health=app.health, env=env, scale=app.manifest.scale,
                          resources=app.manifest.resources)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlatError(f"{app.root / '.env'}: {where}: {first['msg']}",
                        "variable names are letters, digits and '_', not starting with a digit") from None
    return run.model_dump(mode="json")
