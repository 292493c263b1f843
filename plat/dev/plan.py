"""The dev loop as data: what a batch of changed files calls for, the containers' specs, env.

Everything here is pure: paths and settings in, values out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from plat.app import AppSpec
from plat.dev.config import DevConfig
from plat.dev.ignore import Ignore
from plat.dev.image import SUPERVISOR
from plat.docker_client import docker

ENV_FILES = (".env", "plat.yaml")
"""Read when a container is created: a change recreates the containers (same image)."""
TMPFS = "rw,exec,nosuid,nodev,size=512m"
"""/tmp: exec, because Go builds and runs its binary there."""

Kind = Literal["rebuild", "recreate", "reload", "frontend", "none"]


@dataclass(frozen=True)
class WatchRules:
    ignore: Ignore
    dependency_files: frozenset[str]
    """Relative to the source folder: a change rebuilds the dev image."""
    watch: tuple[str, ...] = ("**",)
    frontend: str | None = None
    """The frontend folder: its dev server reloads it (HMR), the backend is left alone."""
    frontend_dependency_files: frozenset[str] = frozenset()
    env_files: frozenset[str] = frozenset(ENV_FILES)
    """Relative to the source folder (`../.env` when plat.yaml is above the build context)."""


@dataclass(frozen=True)
class Reaction:
    rebuild: bool = False
    rebuild_frontend: bool = False
    recreate: bool = False
    reload: bool = False
    frontend: bool = False
    paths: tuple[str, ...] = ()
    """The changes that called for it, sorted."""

    @property
    def kind(self) -> Kind:
        if self.rebuild or self.rebuild_frontend:
            return "rebuild"
        if self.recreate:
            return "recreate"
        if self.reload:
            return "reload"
        return "frontend" if self.frontend else "none"


def react(changed: Iterable[str], rules: WatchRules) -> Reaction:
    """What a batch of changed paths (POSIX, relative to the source folder) calls for."""
    flags = dict(rebuild=False, rebuild_frontend=False, recreate=False, reload=False, frontend=False)
    paths = set()
    fe = f"{rules.frontend}/" if rules.frontend else None
    for rel in changed:
        if rel in rules.env_files:
            key = "recreate"
        elif rel.startswith("../") or rules.ignore.matches(rel):
            continue
        elif rel in rules.dependency_files:
            key = "rebuild"
        elif rel in rules.frontend_dependency_files:
            key = "rebuild_frontend"
        elif fe and rel.startswith(fe):
            key = "frontend"
        elif any(docker.utils.fnmatch.fnmatch(rel, g) for g in rules.watch):
            key = "reload"
        else:
            continue
        flags[key] = True
        paths.add(rel)
    return Reaction(**flags, paths=tuple(sorted(paths)))


def relative(path: str | Path, source: Path) -> str:
    """A changed path as the rules see it: POSIX, relative to the source folder (`../x` outside)."""
    return Path(os.path.relpath(path, source)).as_posix()




def dev_env(app: AppSpec, cfg: DevConfig, dotenv: Mapping[str, str]) -> dict[str, str]:
    """The runtime's dev env, then plat.yaml's env, then .env; PORT is always the app's port."""
    standby = {"PLAT_DEV_STANDBY": "1"} if cfg.standby and cfg.reload == "restart" else {}
    return {"HOME": "/tmp", **cfg.env, **app.manifest.env, **dotenv, "PORT": str(app.port), **standby}


def cache_volume(runtime: str, suffix: str) -> str:
    """Shared by every app of a runtime, like a build cache on a developer's machine."""
    return f"plat-dev-{runtime}-{suffix}"


def labels(app: AppSpec, role: str, session: str | None, extra: Mapping[str, str]) -> dict[str, str]:
    out = {"plat.managed": "true", "plat.app": app.name, "plat.role": role}
    if session:
        out["plat.dev.session"] = session
    return {**out, **extra}


def _hardened(user: str) -> dict[str, Any]:
    """runner.container_spec's hardening, minus what fights a dev loop: no memory or CPU limit
    (compilers and dev servers need more than the app), and /tmp may hold executables."""
    return {
        "user": user,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "read_only": True,
        "tmpfs": {"/tmp": TMPFS},
        "pids_limit": 1024,
        "init": True,
    }


@dataclass(frozen=True)
class Ports:
    app: int
    """Host port (127.0.0.1) of the app."""
    frontend: int | None = None
    """Host port of the frontend dev server, when there is one."""


def backend_spec(app: AppSpec, cfg: DevConfig, *, image: str, name: str, ports: Ports, env: Mapping[str, str],
                 labels: Mapping[str, str], user: str, caches: Mapping[str, str] = {}) -> dict[str, Any]:
    """`containers.run` kwargs for the app: source bind-mounted, ports on 127.0.0.1 only.
    The frontend dev server shares this container's network, so its port is published here."""
    command = list(cfg.command)
    if cfg.reload == "restart":
        command = ["sh", SUPERVISOR, *command]
    published: dict[str, tuple[str, int]] = {f"{app.port}/tcp": ("127.0.0.1", ports.app)}
    if ports.frontend is not None and cfg.frontend is not None:
        published[f"{cfg.frontend.port}/tcp"] = ("127.0.0.1", ports.frontend)
    volumes = {str(app.context_dir): {"bind": cfg.workdir, "mode": "rw"}}
    volumes.update({vol: {"bind": path, "mode": "rw"} for vol, path in caches.items()})
    return {
        "image": image, "name": name, "command": command, "working_dir": cfg.workdir, "detach": True,
        "environment": dict(env), "ports": published, "volumes": volumes, "labels": dict(labels),
        **_hardened(user),
    }


def frontend_spec(app: AppSpec, cfg: DevConfig, *, image: str, name: str, backend_id: str, ports: Ports,
                  env: Mapping[str, str], labels: Mapping[str, str], user: str) -> dict[str, Any]:
    """The frontend dev server, in the backend's network namespace: 127.0.0.1:$PORT is Flask."""
    assert cfg.frontend is not None and app.frontend is not None and ports.frontend is not None
    fe = cfg.frontend
    environment = {**env, **fe.env, "PLAT_FRONTEND_PORT": str(fe.port),
                   "PLAT_FRONTEND_CLIENT_PORT": str(ports.frontend)}
    return {
        "image": image, "name": name, "command": list(fe.command), "working_dir": f"{cfg.workdir}/{app.frontend}",
        "detach": True, "environment": environment, "network_mode": f"container:{backend_id}",
        "volumes": {str(app.context_dir): {"bind": cfg.workdir, "mode": "rw"}}, "labels": dict(labels),
        **_hardened(user),
    }


_MARKER = re.compile(r"^plat-dev: (start|exit) (\d+)(?: (-?\d+))?$")


def parse_marker(line: str) -> tuple[str, int, int | None] | None:
    """("start", gen, None) or ("exit", gen, code) for a supervisor line, else None."""
    m = _MARKER.match(line.strip())
    if not m:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3)) if m.group(3) is not None else None
