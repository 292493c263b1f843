"""The build context is data: which files, which generated scaffold, in what tar."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from plat.app import AppSpec, resolve_app
from plat.builder.context import content_hash, materialize, plan_context, source_files, write_tar
from plat.config import Manifest
from plat.errors import PlatError
from plat.runtimes.registry import load_runtimes


def make_runtime(root: Path) -> Path:
    rt = root / "rt" / "toy"
    (rt / "scaffold").mkdir(parents=True)
    (rt / "runtime.yaml").write_text(
        "name: toy\nsummary: toy\ndefault_port: 9000\nbase_image: toy:1\n"
        "detect:\n  signals:\n    - {file: toy.txt, weight: 1, says: toy}\n"
    )
    (rt / "scaffold" / "Dockerfile.j2").write_text(
        "FROM {{ base_image }}\n{% if extra_ca %}COPY .plat/extra-ca.crt /ca.crt\n{% endif %}"
        "{% if 'req.txt' in files %}COPY req.txt .\n{% endif %}ENV PORT={{ port }} APP={{ app }}\nCOPY . .\n"
    )
    (rt / "scaffold" / "entry.sh").write_text("#!/bin/sh\nexec app\n")
    return rt.parent


def app_tree(root: Path) -> Path:
    app = root / "app"
    for rel, text in {
        "toy.txt": "x", "req.txt": "dep", "src/main.txt": "main", "src/skip.log": "no",
        "keep.log": "yes", ".git/HEAD": "ref", "node_modules/x/index.js": "",
        ".dockerignore": "# comment\n**/*.log\n!keep.log\nnode_modules\n",
    }.items():
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text(text)
    return app


def toy_app(tmp_path: Path, **manifest: object) -> AppSpec:
    rt = load_runtimes(make_runtime(tmp_path))["toy"]
    app = app_tree(tmp_path)
    return AppSpec(app, Manifest(name="toy-app", **manifest), rt, None, app, None, None)


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in root.rglob("*")}


def test_source_files_honour_dockerignore_and_skip_git(tmp_path: Path) -> None:
    files = source_files(app_tree(tmp_path))
    assert "src/main.txt" in files and "keep.log" in files and ".dockerignore" in files
    assert not {"src/skip.log", ".git/HEAD", ".git", "node_modules"} & set(files)


def test_plan_renders_scaffold_with_variables(tmp_path: Path) -> None:
    plan = plan_context(toy_app(tmp_path), env={})
    dockerfile = plan.generated[".plat/Dockerfile"].decode()
    assert plan.dockerfile == ".plat/Dockerfile"
    assert dockerfile.startswith("FROM toy:1\n")
    assert "COPY req.txt" in dockerfile and "ENV PORT=9000 APP=toy-app" in dockerfile
    assert "extra-ca" not in dockerfile
    assert plan.generated[".plat/entry.sh"] == b"#!/bin/sh\nexec app\n"


def test_base_image_overrides(tmp_path: Path) -> None:
    app = toy_app(tmp_path)
    assert b"FROM local/toy" in \
        plan_context(app, env={"PLAT_BASE_IMAGE_TOY": "local/toy"}).generated[".plat/Dockerfile"]
    app2 = toy_app(tmp_path / "b", build={"base_image": "mine/toy"})
    assert b"FROM mine/toy" in \
        plan_context(app2, env={"PLAT_BASE_IMAGE_TOY": "local/toy"}).generated[".plat/Dockerfile"]


def test_extra_ca_is_opt_in(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    plan = plan_context(toy_app(tmp_path), env={"PLAT_EXTRA_CA_CERTS": str(ca)})
    assert plan.generated[".plat/extra-ca.crt"] == ca.read_bytes()
    assert b"COPY .plat/extra-ca.crt" in plan.generated[".plat/Dockerfile"]
    with pytest.raises(PlatError, match="PLAT_EXTRA_CA_CERTS"):
        plan_context(toy_app(tmp_path / "c"), env={"PLAT_EXTRA_CA_CERTS": str(tmp_path / "missing.pem")})


def test_user_dockerfile_wins(tmp_path: Path) -> None:
    app_dir = app_tree(tmp_path)
    (app_dir / "Dockerfile").write_text("FROM scratch\n")
    app = resolve_app(app_dir, Manifest(name="mine"))
    plan = plan_context(app, env={})
    assert (plan.dockerfile, dict(plan.generated)) == ("Dockerfile", {})
    assert app.runtime is None


def test_tar_has_source_and_scaffold_and_never_touches_the_tree(tmp_path: Path) -> None:
    app = toy_app(tmp_path)
    before = snapshot(app.root)
    buf = io.BytesIO()
    write_tar(plan_context(app, env={}), buf)
    buf.seek(0)
    names = tarfile.open(fileobj=buf).getnames()
    assert {"toy.txt", "src/main.txt", ".plat/Dockerfile", ".plat/entry.sh"} <= set(names)
    assert not any(n.startswith((".git", "node_modules")) for n in names)
    assert snapshot(app.root) == before
    assert not (app.root / ".plat").exists()


def test_content_hash_tracks_content_not_mtime(tmp_path: Path) -> None:
    app = toy_app(tmp_path)
    first = content_hash(plan_context(app, env={}))
    os.utime(app.root / "toy.txt", (1, 1))
    assert content_hash(plan_context(app, env={})) == first
    (app.root / "src/main.txt").write_text("changed")
    assert content_hash(plan_context(app, env={})) != first
    (app.root / "src/skip.log").write_text("ignored files do not count")
    second = content_hash(plan_context(app, env={}))
    assert second == content_hash(plan_context(app, env={}))


def test_materialize_writes_the_same_entries(tmp_path: Path) -> None:
    plan = plan_context(toy_app(tmp_path), env={})
    dest = tmp_path / "out"
    dest.mkdir()
    materialize(plan, dest)
    written = {p.relative_to(dest).as_posix() for p in dest.rglob("*")}
    assert set(plan.files) | set(plan.generated) <= written | {".plat"}
    assert (dest / ".plat/Dockerfile").read_bytes() == plan.generated[".plat/Dockerfile"]


def test_build_context_cannot_escape_the_app(tmp_path: Path) -> None:
    app_dir = app_tree(tmp_path)
    with pytest.raises(PlatError, match="outside the app folder"):
        resolve_app(app_dir, Manifest(name="x", build={"context": "../"}))
    with pytest.raises(PlatError, match="outside the app folder"):
        resolve_app(app_dir, Manifest(name="x", build={"dockerfile": "../../etc/passwd"}))


def test_labels_become_one_instruction_in_the_generated_dockerfile(tmp_path: Path) -> None:
    from plat.builder.context import label_instruction, with_labels

    assert label_instruction({"b": 'say "hi"', "a": "1"}) == 'LABEL "a"="1" "b"="say \\"hi\\""'
    plan = plan_context(toy_app(tmp_path), env={})
    labelled = with_labels(plan, {"plat.app": "toy-app"})
    assert labelled is not None
    assert labelled.generated[".plat/Dockerfile"].endswith(b'COPY . .\nLABEL "plat.app"="toy-app"\n')
    assert plan.generated[".plat/Dockerfile"].endswith(b"COPY . .\n")  # the plan itself is unchanged


def test_user_dockerfile_is_never_edited_for_labels(tmp_path: Path) -> None:
    from plat.builder.context import with_labels

    app_dir = app_tree(tmp_path)
    (app_dir / "Dockerfile").write_text("FROM scratch\n")
    assert with_labels(plan_context(resolve_app(app_dir, Manifest(name="mine")), env={}), {"a": "b"}) is None
