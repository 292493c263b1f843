"""The dev image as data: its context holds dependency files only, never the source."""

import re
from pathlib import Path

import pytest

from plat.app import resolve_app
from plat.builder.context import EXTRA_CA_NAME
from plat.dev.config import dev_config
from plat.dev.image import SUPERVISOR, dev_context, finish, image_tag, pyproject_requirements

ROOT = Path(__file__).resolve().parents[2]
ENV = {"PLAT_BASE_IMAGE_PYTHON_FLASK": "py:local", "PLAT_BASE_IMAGE_NODEJS": "node:local",
       "PLAT_BASE_IMAGE_GO": "go:local"}


def context(example_or_path, frontend: bool = False, env=ENV):  # type: ignore[no-untyped-def]
    path = example_or_path if isinstance(example_or_path, Path) else ROOT / "examples" / example_or_path
    app = resolve_app(path)
    return dev_context(app, dev_config(app.runtime), frontend=frontend, env=env)


@pytest.mark.parametrize(("example", "files", "base", "copies"), [
    ("hello-python-flask", ("requirements.txt",), "py:local", "COPY requirements.txt ./"),
    ("hello-node", ("package-lock.json", "package.json"), "node:local", "COPY package.json package-lock.json ./"),
    ("hello-go", ("go.mod",), "go:local", "COPY go.mod ./"),
    ("todo-react-flask", ("requirements.txt",), "py:local", "COPY requirements.txt ./"),
])
def test_context_has_dependency_files_only(example: str, files: tuple[str, ...], base: str, copies: str) -> None:
    plan = context(example)
    assert plan.files == files
    dockerfile = plan.generated[plan.dockerfile].decode()
    assert f"FROM {base}\n" in dockerfile and copies in dockerfile
    assert not re.search(r"^COPY \. ", dockerfile, re.M), "the source is mounted, never copied"
    assert "{{" not in dockerfile and "{%" not in dockerfile


def test_frontend_context() -> None:
    plan = context("todo-react-flask", frontend=True)
    assert plan.files == ("frontend/package-lock.json", "frontend/package.json")
    assert plan.dockerfile == ".plat/Dockerfile.frontend"
    dockerfile = plan.generated[plan.dockerfile].decode()
    assert "FROM node:local\n" in dockerfile  # the node stage image, borrowed from the nodejs runtime
    assert "COPY frontend/package.json frontend/package-lock.json ./" in dockerfile and "RUN npm ci" in dockerfile
    assert ".plat/vite-dev.mjs" in plan.generated


def test_optional_files_are_optional(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.19\n")
    (tmp_path / "go.sum").write_text("")
    (tmp_path / "main.go").write_text("package main\nfunc main() {}\n")
    dockerfile = context(tmp_path).generated[".plat/Dockerfile"].decode()
    assert "COPY go.mod go.sum ./" in dockerfile
    (tmp_path / "go.mod").unlink()
    (tmp_path / "go.sum").unlink()
    (tmp_path / "plat.yaml").write_text("name: x\nruntime: go\n")
    assert "go mod download" not in context(tmp_path).generated[".plat/Dockerfile"].decode()


def test_node_without_lockfile_installs(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "x", "main": "server.js"}')
    (tmp_path / "server.js").write_text("")
    dockerfile = context(tmp_path).generated[".plat/Dockerfile"].decode()
    assert "COPY package.json ./" in dockerfile and "RUN npm install" in dockerfile


def test_pyproject_dependencies_without_the_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["flask>=3", "requests"]\n')
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    plan = context(tmp_path)
    assert plan.generated[".plat/pyproject-requirements.txt"] == b"flask>=3\nrequests\n"
    assert "COPY .plat/pyproject-requirements.txt ./requirements.txt" in plan.generated[plan.dockerfile].decode()


@pytest.mark.parametrize(("text", "deps"), [
    ('[project]\ndependencies = ["a", "b[x]>=1"]\n', ["a", "b[x]>=1"]),
    ('[project]\nname = "x"\n', []),
    ('[tool.poetry]\nname = "x"\n', []),
])
def test_pyproject_requirements(text: str, deps: list[str]) -> None:
    assert pyproject_requirements(text) == deps


def test_extra_ca_is_in_the_context(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    plan = context("hello-node", env={**ENV, "PLAT_EXTRA_CA_CERTS": str(ca)})
    assert plan.generated[EXTRA_CA_NAME] == ca.read_bytes()
    assert "NODE_EXTRA_CA_CERTS=/plat-ca/bundle.pem" in plan.generated[plan.dockerfile].decode()
    assert "extra-ca" not in context("hello-node").generated[".plat/Dockerfile"].decode()


def test_finish_appends_supervisor_and_one_label_step() -> None:
    plan = finish(context("hello-go"), {"plat.role": "dev-image", "plat.test": "t"}, supervisor=True)
    lines = plan.generated[plan.dockerfile].decode().rstrip("\n").splitlines()
    assert lines[-2] == f"COPY .plat/supervise.sh {SUPERVISOR}"
    assert lines[-1] == 'LABEL "plat.role"="dev-image" "plat.test"="t"'
    assert plan.generated[".plat/supervise.sh"].startswith(b"#!/bin/sh")
    plain = finish(context("hello-go"), {}, supervisor=False)
    assert ".plat/supervise.sh" not in plain.generated


def test_image_tags() -> None:
    app = resolve_app(ROOT / "examples/todo-react-flask")
    assert (image_tag(app), image_tag(app, frontend=True)) == (
        "plat-dev/todo-react-flask:latest", "plat-dev/todo-react-flask-frontend:latest")
