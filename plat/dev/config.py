"""The `dev:` section of a runtime's runtime.yaml: how `plat dev` runs and reloads an app.

The registry keeps `Runtime.dev` free-form; this is its schema, validated when `plat dev`
needs it, with errors that name the file and the key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plat.errors import PlatError
from plat.runtimes.registry import Runtime

Reload = Literal["restart", "signal", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FrontendDev(_Strict):
    """A dev server for the app's frontend folder (Vite), next to the backend."""

    dockerfile: str = Field(description="Dev image template under templates/<runtime>/dev/, without .j2.")
    command: tuple[str, ...] = Field(min_length=1)
    port: int = Field(5173, ge=1, le=65535, description="Port of the dev server (HMR included).")
    dependency_files: tuple[str, ...] = Field(("package.json", "package-lock.json"),
                                              description="Relative to the frontend folder.")
    env: dict[str, str] = {}


class DevConfig(_Strict):
    dockerfile: str = Field("Dockerfile", description="Dev image template under templates/<runtime>/dev/, without .j2.")
    workdir: str = Field("/src", description="Where the source is bind-mounted in the container.")
    command: tuple[str, ...] = Field(min_length=1, description="Runs the app from the mounted source.")
    reload: Reload = Field(
        "restart",
        description="restart: plat's supervisor in the container restarts `command` on each change; "
                    "signal: `signal` is sent to `command`, which reloads itself; "
                    "none: `command` watches the files itself.")
    signal: str = "SIGHUP"
    standby: bool = Field(False, description="reload: restart only. `command` knows plat's standby protocol "
                                             "(see plat/dev/supervise.sh): a prepared process takes each restart.")
    watch: tuple[str, ...] = Field(("**",), description="Globs (relative to the app) whose changes reload the app.")
    ignore: tuple[str, ...] = Field((), description="Globs that never trigger anything (on top of .dockerignore, "
                                                    ".gitignore and plat's defaults).")
    caches: dict[str, str] = Field(default_factory=dict,
                                   description="Named volumes (name suffix → container path) kept between sessions.")
    env: dict[str, str] = {}
    frontend: FrontendDev | None = None


def dev_config(runtime: Runtime) -> DevConfig:
    """The runtime's dev settings, or a PlatError naming runtime.yaml."""
    path = runtime.folder / "runtime.yaml"
    if not runtime.dev:
        raise PlatError(f"runtime {runtime.name!r} has no `dev:` section in {path}",
                        "`plat run` builds and runs it without the reload loop")
    try:
        return DevConfig.model_validate(runtime.dev)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PlatError(f"{path}: dev.{where}: {first['msg']}") from None
