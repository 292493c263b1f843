"""The dev loop as data: how a runtime reloads, the dev container's spec, what a change means."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from plat.app import AppSpec
from plat.errors import PlatError

Reload = Literal["signal", "restart", "self"]


@dataclass(frozen=True)
class DevPlan:
    target: str
    """The scaffold stage used as the dev image (its dependencies installed)."""
    workdir: str
    command: tuple[str, ...]
    reload: Reload
    signal: str = "SIGHUP"
    volumes: dict[str, str] = field(default_factory=dict)
    """Named caches (volume suffix → container path) that outlive a session."""


def dev_plan(app: AppSpec) -> DevPlan:
    rt = app.runtime
    if rt is None or not rt.dev:
        raise PlatError(f"{app.name}: `plat dev` needs a plat runtime with a dev section",
                        "your own Dockerfile builds this app: use `plat run` instead")
    d = rt.dev
    reload = str(d.get("reload", "restart"))
    if reload not in ("signal", "restart", "self"):
        raise PlatError(f"{rt.folder / 'runtime.yaml'}: dev.reload: expected signal, restart or self")
    return DevPlan(target=str(d["target"]), workdir=str(d["workdir"]), command=tuple(d["command"]),  # type: ignore[arg-type]
                   reload=reload, signal=str(d.get("signal", "SIGHUP")),  # type: ignore[arg-type]
                   volumes=dict(d.get("volumes", {})))  # type: ignore[arg-type]


def volume_name(app: AppSpec, suffix: str) -> str:
    """Per app folder, so two checkouts of one app do not share a cache."""
    digest = hashlib.sha256(str(app.root).encode()).hexdigest()[:8]
    return f"plat-dev-{app.name}-{digest}-{suffix}"


def container_spec(app: AppSpec, plan: DevPlan, image: str, host_port: int | None,
                   labels: dict[str, str], env: dict[str, str]) -> dict[str, Any]:
    """`containers.run` kwargs: the source bind-mounted, the port on 127.0.0.1 only."""
    volumes: dict[str, dict[str, str]] = {str(app.context_dir): {"bind": plan.workdir, "mode": "rw"}}
    for suffix, path in plan.volumes.items():
        volumes[volume_name(app, suffix)] = {"bind": path, "mode": "rw"}
    return {
        "image": image,
        "command": list(plan.command),
        "working_dir": plan.workdir,
        "detach": True,
        "environment": {**app.manifest.env, **env, "PORT": str(app.port)},
        "ports": {f"{app.port}/tcp": ("127.0.0.1", host_port)},
        "volumes": volumes,
        "labels": {"plat.managed": "true", "plat.app": app.name, "plat.role": "dev", **labels},
        "cap_drop": ["ALL"],
        "cap_add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
    }


def classify(changed: Iterable[Path], root: Path, dependency_files: Iterable[str]) -> str | None:
    """What a batch of changed paths calls for: "rebuild" (a dependency file), "reload", or None."""
    deps = set(dependency_files)
    rels = []
    for path in changed:
        try:
            rels.append(path.resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            continue
    if not rels:
        return None
    return "rebuild" if any(r in deps for r in rels) else "reload"


IGNORED_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", "dist", ".plat", ".pytest_cache"})


def watched(path: Path, root: Path, ignore: set[str]) -> bool:
    """Whether a changed path should trigger anything (editor droppings and build output do not)."""
    try:
        parts = path.resolve().relative_to(root.resolve()).parts
    except ValueError:
        return False
    if not parts or any(p in IGNORED_DIRS for p in parts):
        return False
    name = parts[-1]
    if name.endswith(("~", ".swp", ".swx", ".tmp")) or name.startswith(".#"):
        return False
    return "/".join(parts) not in ignore
