"""Resolve an app folder into everything a build or run needs: manifest + runtime facts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from plat.config import Manifest, load_manifest, slugify
from plat.errors import PlatError
from plat.runtimes.detect import Detection, detect, frontend_of
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
    return AppSpec(root, manifest, runtime, detection, context_dir, user_dockerfile, frontend)


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
