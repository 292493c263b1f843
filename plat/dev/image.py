"""The dev image: the runtime's toolchain and the app's dependencies, never its source.

The build context holds only the dependency files and plat's generated files, so the image
(and its layer cache) changes only when a dependency file does; the source is bind-mounted
at run time. Templates live in `templates/<runtime>/dev/` (Jinja2, like the scaffold).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from plat.app import AppSpec
from plat.builder.context import (
    EXTRA_CA_NAME,
    SCAFFOLD_DIR,
    ContextPlan,
    base_images,
    check_dockerfile_values,
    extra_ca_files,
    label_instruction,
)
from plat.builder.progress import BuildLog
from plat.dev.config import DevConfig
from plat.errors import PlatError
from plat.paths import read_tree_file
from plat.templating import render_tree

SUPERVISOR = "/usr/local/lib/plat/supervise.sh"
"""Where the dev image keeps plat's supervisor (reload: restart)."""
_SUPERVISOR_SRC = Path(__file__).with_name("supervise.sh")
PYPROJECT_REQUIREMENTS = f"{SCAFFOLD_DIR}/pyproject-requirements.txt"


def backend_dependency_files(app: AppSpec) -> tuple[str, ...]:
    """The runtime's dependency files, minus those of the frontend folder (its own image)."""
    assert app.runtime is not None
    fe = app.runtime.frontend.dir + "/" if app.runtime.frontend else None
    return tuple(f for f in app.runtime.dependency_files if not (fe and f.startswith(fe)))


def frontend_dependency_files(app: AppSpec, cfg: DevConfig) -> tuple[str, ...]:
    if not (app.frontend and cfg.frontend):
        return ()
    return tuple(f"{app.frontend}/{name}" for name in cfg.frontend.dependency_files)


def pyproject_requirements(text: str) -> list[str]:
    """`[project].dependencies` of a pyproject.toml: the dev image installs them, not the
    project itself (that would need the source, which is mounted instead)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlatError(f"pyproject.toml: not valid TOML ({exc})") from None
    deps = data.get("project", {}).get("dependencies", [])
    return [str(d) for d in deps] if isinstance(deps, list) else []


def render_dev_files(folder: Path, variables: Mapping[str, object]) -> dict[str, bytes]:
    """Render `templates/<runtime>/dev/` into `.plat/...` context entries (.j2 files rendered)."""
    if not folder.is_dir():
        raise PlatError(f"{folder}: missing: the runtime declares `dev:` but has no dev image template")
    check_dockerfile_values(variables)
    return render_tree(folder, variables, prefix=f"{SCAFFOLD_DIR}/")


def dev_context(app: AppSpec, cfg: DevConfig, *, frontend: bool = False,
                env: Mapping[str, str] | None = None) -> ContextPlan:
    """The dev image's build context (backend, or the frontend dev server's): reads only the
    dependency files, pyproject.toml and the extra CA bundle."""
    assert app.runtime is not None
    env = os.environ if env is None else env
    root = app.context_dir
    wanted = frontend_dependency_files(app, cfg) if frontend else backend_dependency_files(app)
    files = tuple(sorted(f for f in wanted if (root / f).is_file()))
    generated = extra_ca_files(env)
    pyproject = not frontend and "pyproject.toml" in files and "requirements.txt" not in files
    if pyproject:
        reqs = pyproject_requirements(read_tree_file(root, "pyproject.toml", "pyproject.toml is TOML text") or "")
        generated[PYPROJECT_REQUIREMENTS] = "".join(f"{r}\n" for r in reqs).encode()
    base, stages = base_images(app.runtime, app.manifest.build.base_image, env)
    variables = {
        "app": app.name, "runtime": app.runtime.name, "port": app.port, "base_image": base, "images": stages,
        "frontend": app.frontend, "extra_ca": EXTRA_CA_NAME in generated, "files": frozenset(files),
        "pyproject": pyproject, "workdir": cfg.workdir,
    }
    generated.update(render_dev_files(app.runtime.folder / "dev", variables))
    dockerfile = f"{SCAFFOLD_DIR}/{cfg.frontend.dockerfile if frontend and cfg.frontend else cfg.dockerfile}"
    if dockerfile not in generated:
        raise PlatError(f"{app.runtime.folder / 'dev'}: no {dockerfile.removeprefix(SCAFFOLD_DIR + '/')}.j2 "
                        "(named by dev.dockerfile in runtime.yaml)")
    return ContextPlan(root, files, generated, dockerfile)


def finish(plan: ContextPlan, labels: Mapping[str, str], supervisor: bool) -> ContextPlan:
    """Append plat's supervisor and one LABEL step to the rendered Dockerfile (last, so the
    dependency layers above stay cached whatever the labels are)."""
    text = plan.generated[plan.dockerfile].rstrip(b"\n") + b"\n"
    generated = dict(plan.generated)
    if supervisor:
        generated[f"{SCAFFOLD_DIR}/supervise.sh"] = _SUPERVISOR_SRC.read_bytes()
        text += f"COPY {SCAFFOLD_DIR}/supervise.sh {SUPERVISOR}\n".encode()
    text += label_instruction(labels).encode() + b"\n"
    generated[plan.dockerfile] = text
    return replace(plan, generated=generated)


def image_tag(app: AppSpec, frontend: bool = False) -> str:
    return f"plat-dev/{app.name}{'-frontend' if frontend else ''}:latest"


def build_image(client, plan: ContextPlan, tag: str,
                on_event: Callable[[BuildLog], None] = lambda log: None) -> str:
    """Build (the engine's layer cache makes an unchanged one quick); returns the image id."""
    from plat.builder.docker_backend import build

    return build(client, plan, tag, labels={}, on_event=on_event).image_id or tag
