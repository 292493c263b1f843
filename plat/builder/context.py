"""Assemble a build context: the user's source plus the injected scaffold.

The plan is data (which source files, which generated files); writing it as a tar stream or
into a folder happens at the edge. The user's tree is never modified: the scaffold lives only
in the context, under `.plat/`, and the user's own Dockerfile wins over it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from plat.app import AppSpec
from plat.docker_client import docker
from plat.errors import PlatError
from plat.paths import read_tree_file
from plat.runtimes.go_entry import GoMain
from plat.runtimes.registry import Runtime, load_runtimes
from plat.templating import render_tree

SCAFFOLD_DIR = ".plat"
EXTRA_CA_NAME = f"{SCAFFOLD_DIR}/extra-ca.crt"
ALWAYS_IGNORED = (".git", SCAFFOLD_DIR, ".env")
"""Never sent: Git metadata would bust the layer cache on every commit; `.plat/` is ours; `.env`
is given to the app as environment at start, never baked into a layer."""


@dataclass(frozen=True)
class ContextPlan:
    root: Path
    files: tuple[str, ...]
    """Source entries (relative POSIX paths, sorted), after .dockerignore."""
    generated: Mapping[str, bytes] = field(default_factory=dict)
    """Scaffold files by context path (`.plat/Dockerfile`, ...)."""
    dockerfile: str = "Dockerfile"


def ignore_patterns(root: Path) -> list[str]:
    text = read_tree_file(root, ".dockerignore", "write .dockerignore as lines of patterns")
    lines = text.splitlines() if text is not None else []
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return [*ALWAYS_IGNORED, *patterns]


def source_files(root: Path) -> tuple[str, ...]:
    """Files, folders and links Docker would send for `root`, honouring .dockerignore."""
    matcher = docker.utils.build.PatternMatcher(ignore_patterns(root))
    return tuple(sorted(p.replace(os.sep, "/") for p in matcher.walk(str(root))))


def base_images(runtime: Runtime, override: str | None, env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The runtime's base image and the images of stages it borrows from other runtimes."""
    runtimes = load_runtimes()
    stages = {role: runtimes[other].base_image_for(None, dict(env)) for role, other in runtime.stage_images.items()}
    return runtime.base_image_for(override, dict(env)), stages


DOCKERFILE_WORD = re.compile(r"^[A-Za-z0-9/][A-Za-z0-9._/:@+-]{0,511}$")
"""What a value rendered into a generated Dockerfile may look like: an image reference, a
name or a path. No space, quote, `$`, backslash or newline: nothing that starts an instruction."""


def check_dockerfile_values(variables: Mapping[str, object], where: str = "") -> None:
    """Refuse any string that would go into a generated Dockerfile unless it is one word
    (the second line of defence behind plat.yaml's own patterns)."""
    for key, value in variables.items():
        if isinstance(value, Mapping):
            check_dockerfile_values(value, f"{where}{key}.")
        elif isinstance(value, str) and value and not DOCKERFILE_WORD.fullmatch(value):
            raise PlatError(f"{where}{key} {value!r} cannot go into a Dockerfile",
                            "use letters, digits and ._/:@+- only (an image reference, a name or a path)")


def render_scaffold(runtime: Runtime, variables: Mapping[str, object]) -> dict[str, bytes]:
    """Render `templates/<runtime>/scaffold/` into `.plat/...` context entries."""
    folder = runtime.scaffold_dir
    if not folder.is_dir():
        raise PlatError(f"runtime {runtime.name!r} has no scaffold folder ({folder})")
    check_dockerfile_values(variables)
    return render_tree(folder, variables, prefix=f"{SCAFFOLD_DIR}/")


def extra_ca_files(env: Mapping[str, str]) -> dict[str, bytes]:
    """The opt-in extra CA bundle (PLAT_EXTRA_CA_CERTS) as a context entry, or nothing."""
    ca_path = env.get("PLAT_EXTRA_CA_CERTS")
    if not ca_path:
        return {}
    try:
        return {EXTRA_CA_NAME: Path(ca_path).read_bytes()}
    except OSError as exc:
        raise PlatError(f"PLAT_EXTRA_CA_CERTS: cannot read {ca_path} ({exc.strerror})",
                        "point it at a PEM bundle, or unset it") from None


def plan_context(app: AppSpec, env: Mapping[str, str] | None = None) -> ContextPlan:
    """What goes into the build context for `app` (pure apart from reading the tree)."""
    env = os.environ if env is None else env
    root = app.context_dir
    files = source_files(root)
    if app.user_dockerfile:
        return ContextPlan(root, files, {}, app.user_dockerfile)
    assert app.runtime is not None
    generated = extra_ca_files(env)
    base, stages = base_images(app.runtime, app.manifest.build.base_image, env)
    variables = {
        "app": app.name,
        "runtime": app.runtime.name,
        "port": app.port,
        "base_image": base,
        "images": stages,
        "frontend": app.frontend,
        "entry": entry_variables(app),
        "extra_ca": EXTRA_CA_NAME in generated,
        "files": frozenset(files),
    }
    generated.update(render_scaffold(app.runtime, variables))
    return ContextPlan(root, files, generated, f"{SCAFFOLD_DIR}/Dockerfile")


def entry_variables(app: AppSpec) -> dict[str, object] | None:
    """The found entry point as the scaffold sees it (each name admitted by the analyzer's patterns)."""
    entry = app.entry
    if entry is None or app.runtime is None:
        return None
    if isinstance(entry, GoMain):
        # The root package builds as `./`; a sub-package as `./cmd/server`.
        return {"main": "" if entry.package == "." else entry.package,
                "vendored": (app.context_dir / "vendor" / "modules.txt").is_file()}
    framework = next((fw for fw in app.runtime.frameworks if fw.name == entry.framework), None)
    declared = {"requirements.txt", "pyproject.toml"} & {p.name for p in app.context_dir.iterdir()}
    return {"module": entry.module, "obj": entry.obj, "factory": entry.factory, "kind": entry.kind,
            "path": entry.path, "django_settings": entry.django_settings or "",
            # The framework itself when the app declares no dependencies (a bare `startproject`).
            "framework_package": framework.packages[0] if framework and not declared else "",
            "folders": [f for f in (framework.folders if framework else ()) if FOLDER.fullmatch(f)]}


FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def label_instruction(labels: Mapping[str, str]) -> str:
    """One `LABEL` instruction for all labels: the legacy builder turns each API label into a
    step of its own (about 80 ms each), one instruction is one step."""
    return "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in sorted(labels.items()))


def with_labels(plan: ContextPlan, labels: Mapping[str, str]) -> ContextPlan | None:
    """The plan with `labels` appended to its generated Dockerfile; None for a user Dockerfile
    (which is never edited: pass its labels to the engine instead)."""
    dockerfile = plan.generated.get(plan.dockerfile)
    if dockerfile is None:
        return None
    text = dockerfile.rstrip(b"\n") + b"\n" + label_instruction(labels).encode() + b"\n"
    return replace(plan, generated={**plan.generated, plan.dockerfile: text})


def _entries(plan: ContextPlan) -> Iterator[tuple[str, Path | bytes]]:
    for rel in plan.files:
        if rel not in plan.generated:
            yield rel, plan.root / rel
    yield from plan.generated.items()


def _tarinfo(name: str, src: Path | bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if isinstance(src, bytes):
        info.size, info.mode, info.mtime = len(src), 0o644, 0
        return info
    st = src.lstat()
    info.mtime = int(st.st_mtime)
    info.mode = stat.S_IMODE(st.st_mode) & 0o755
    if stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(src)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
    else:
        raise PlatError(f"{src}: not a regular file, folder or link; add it to .dockerignore")
    return info


def write_tar(plan: ContextPlan, fileobj: IO[bytes]) -> None:
    """Stream the context as an uncompressed tar (what the Engine's build API takes)."""
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, src in _entries(plan):
            info = _tarinfo(name, src)
            if isinstance(src, bytes):
                tar.addfile(info, io.BytesIO(src))
            elif info.isfile():
                with open(src, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)


def content_hash(plan: ContextPlan) -> str:
    """A digest of names, modes, link targets and contents: same context, same hash."""
    digest = hashlib.sha256()
    for name, src in _entries(plan):
        info = _tarinfo(name, src)
        digest.update(f"{name}\0{info.type!r}\0{info.mode:o}\0{info.linkname}\0".encode())
        if isinstance(src, bytes):
            digest.update(src)
        elif info.isfile():
            with open(src, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def materialize(plan: ContextPlan, dest: Path) -> None:
    """Write the context into `dest` (an empty folder), for backends that need a directory."""
    for name, src in _entries(plan):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, bytes):
            target.write_bytes(src)
        elif src.is_symlink():
            target.symlink_to(os.readlink(src))
        elif src.is_dir():
            target.mkdir(exist_ok=True)
        else:
            shutil.copy2(src, target)
