"""Every example and every `plat init` output builds and answers HTTP, on a real engine."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker
import git
import pytest

from tests.integration.conftest import LABEL, ROOT, get, plat

pytestmark = pytest.mark.integration
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "plat.yaml").is_file())


def run_detached(source: str | Path) -> dict:
    res = plat("run", str(source), "--detach", "--json", "--timeout", "120")
    assert res.code == 0, res.stderr
    return json.loads(res.stdout)


def test_examples_exist() -> None:
    assert {"hello-python-flask", "todo-react-flask", "hello-go", "hello-node"} <= set(EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_builds_and_answers(engine: docker.DockerClient, example: str) -> None:
    info = run_detached(ROOT / "examples" / example)
    try:
        assert get(info["url"] + "/healthz").status_code == 200
        assert get(info["url"] + "/").status_code == 200
        container = engine.containers.get(info["container"])
        host = container.attrs["HostConfig"]
        assert host["ReadonlyRootfs"] and host["CapDrop"] == ["ALL"]
        assert all(b["HostIp"] == "127.0.0.1" for bs in host["PortBindings"].values() for b in bs)
    finally:
        engine.containers.get(info["container"]).remove(force=True)


def test_todo_example_serves_ui_and_api(engine: docker.DockerClient) -> None:
    info = run_detached(ROOT / "examples" / "todo-react-flask")
    try:
        url = info["url"]
        assert "<div id=\"root\">" in get(url + "/").text
        created = __import__("httpx").post(url + "/api/todos", json={"title": "write tests"}, timeout=10)
        assert created.status_code == 201
        titles = [t["title"] for t in get(url + "/api/todos").json()]
        assert "write tests" in titles
    finally:
        engine.containers.get(info["container"]).remove(force=True)


@pytest.mark.parametrize(("runtime", "extra"), [("go", []), ("nodejs", []), ("python-flask", []),
                                                 ("python-flask", ["--frontend"])])
def test_init_output_builds_and_answers(engine: docker.DockerClient, tmp_path: Path, runtime: str,
                                        extra: list[str]) -> None:
    app = tmp_path / "demo-app"
    res = plat("init", str(app), "--runtime", runtime, *extra)
    assert res.code == 0, res.stderr
    assert (app / "plat.yaml").is_file()
    info = run_detached(app)
    try:
        assert get(info["url"] + "/healthz").status_code == 200
        body = get(info["url"] + "/").text
        assert ("<div id=\"root\">" in body) if extra else ("demo-app" in body)
    finally:
        engine.containers.get(info["container"]).remove(force=True)


def test_init_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    res = plat("init", str(tmp_path), "--runtime", "go")
    assert res.code == 1 and "not empty" in res.stderr and "--force" in res.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_user_dockerfile_wins(engine: docker.DockerClient, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "plat.yaml").write_text("name: own-dockerfile\n")
    (tmp_path / "Dockerfile").write_text("FROM " + os.environ["PLAT_BASE_IMAGE_PYTHON_FLASK"]
                                         + "\nLABEL made.by=user\n"
                                         # A server of its own, so the boot check has something to ask.
                                         + 'CMD ["sh", "-c", "exec python3 -m http.server \\"$PORT\\""]\n')
    res = plat("build", str(tmp_path), "--json")
    assert res.code == 0, res.stderr
    image = engine.images.get(json.loads(res.stdout)["image"])
    assert image.labels["made.by"] == "user"
    assert image.labels["org.opencontainers.image.title"] == "own-dockerfile"


def test_an_app_that_cannot_boot_fails_its_build_with_its_own_words(engine: docker.DockerClient,
                                                                     tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("flask\n")
    (tmp_path / "app.py").write_text(
        "import os\nfrom flask import Flask\n\napp = Flask(__name__)\n"
        "app.config['SECRET_KEY'] = os.environ['SESSION_SECRET']  # a secret the build does not have\n")
    res = plat("build", str(tmp_path))
    assert res.code == 1
    assert "the image exited with code" in res.stderr or "did not answer" in res.stderr, res.stderr
    assert "KeyError: 'SESSION_SECRET'" in res.stderr  # the app's own last log lines
    assert "--no-check" in res.stderr and "Traceback (most recent call last)" not in res.stderr.split("|")[0]
    unchecked = plat("build", str(tmp_path), "--no-check", "--json")
    assert unchecked.code == 0, unchecked.stderr
    assert json.loads(unchecked.stdout)["boot_seconds"] is None


def test_build_failure_prints_the_failing_step(engine: docker.DockerClient, tmp_path: Path) -> None:
    (tmp_path / "plat.yaml").write_text("name: broken\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM " + os.environ["PLAT_BASE_IMAGE_PYTHON_FLASK"] + "\nRUN echo first-line && echo boom-reason && exit 3\n")
    res = plat("build", str(tmp_path))
    assert res.code == 1
    assert re.search(r"step 2/\d+ `RUN echo first-line && echo boom-reason && exit 3` failed", res.stderr)
    assert "| boom-reason" in res.stderr and "Removing intermediate" not in res.stderr
    assert "Traceback" not in res.stderr


def test_rebuild_is_cached_and_tag_follows_content(engine: docker.DockerClient, tmp_path: Path) -> None:
    res = plat("init", str(tmp_path / "app"), "--runtime", "go")
    assert res.code == 0, res.stderr
    first = json.loads(plat("build", str(tmp_path / "app"), "--json").stdout)
    again = json.loads(plat("build", str(tmp_path / "app"), "--json").stdout)
    assert again["image"] == first["image"] and again["image_id"] == first["image_id"]
    assert again["up_to_date"] is True
    # The edit is unique to this run: tags follow content, and the engine outlives test runs,
    # so a fixed edit would find the image an earlier run built and rightly call it up to date.
    main = tmp_path / "app/main.go"
    main.write_text(main.read_text().replace("hello from", f"hi ({uuid.uuid4().hex[:8]}) from"))
    changed = json.loads(plat("build", str(tmp_path / "app"), "--json").stdout)
    assert changed["image"] != first["image"] and not changed["up_to_date"]
    # Only the source layer and what follows it are rebuilt: the dependency layer is cached.
    assert changed["cached_steps"] >= 3


def test_build_from_archive_and_git(engine: docker.DockerClient, tmp_path: Path) -> None:
    src = ROOT / "examples" / "hello-node"
    archive = tmp_path / "hello-node.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="hello-node")
    res = plat("build", str(archive), "--json")
    assert res.code == 0, res.stderr
    assert json.loads(res.stdout)["app"] == "hello-node"

    repo_dir = tmp_path / "repo"
    repo = git.Repo.init(repo_dir)
    for f in src.iterdir():
        (repo_dir / f.name).write_bytes(f.read_bytes())
    repo.index.add([f.name for f in src.iterdir()])
    commit = repo.index.commit("hello", author=git.Actor("t", "t@example.com"))
    repo.create_tag("v1")
    res = plat("build", str(repo_dir), "--ref", "v1", "--json")
    assert res.code == 0, res.stderr
    built = json.loads(res.stdout)
    assert built["revision"] == commit.hexsha and built["image"].endswith(":" + commit.hexsha[:12])


def test_hostile_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        tar.addfile(info)
    res = plat("build", str(archive))
    assert res.code == 1 and "escape.txt" in res.stderr
    assert not (tmp_path.parent / "escape.txt").exists()


def test_kaniko_without_executor_says_so(engine: docker.DockerClient) -> None:
    res = plat("build", str(ROOT / "examples/hello-go"), "--backend", "kaniko",
               env={"PLAT_KANIKO_IMAGE": "plat-test.invalid/kaniko:none"})
    assert res.code == 1
    assert "Kaniko executor is not available" in res.stderr


def test_no_engine_is_one_clear_line(tmp_path: Path) -> None:
    res = plat("build", str(ROOT / "examples/hello-go"), env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert res.code == 1
    assert "no Docker engine answers" in res.stderr and "Traceback" not in res.stderr


def test_run_ctrl_c_removes_the_container(engine: docker.DockerClient) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "plat", "run", str(ROOT / "examples/hello-go")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline()
            if line.startswith("http://127.0.0.1:"):
                url = line.strip()
            elif not line and proc.poll() is not None:
                break
        assert url, proc.stderr.read() if proc.stderr else ""
        assert get(url + "/healthz").status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()
    running = engine.containers.list(all=True, filters={"label": [LABEL, "plat.role=run", "plat.app=hello-go"]})
    assert running == []


def test_build_push_to_a_real_registry(engine: docker.DockerClient, registry: str) -> None:
    res = plat("build", str(ROOT / "examples/hello-go"), "--tag", f"{registry}/hello-go", "--push", "--json")
    assert res.code == 0, res.stderr
    built = json.loads(res.stdout)
    assert built["pushed"] is True and built["image"].startswith(f"{registry}/hello-go:")
    tags = get(f"http://{registry}/v2/hello-go/tags/list").json()["tags"]
    assert built["tag"] in tags


def test_push_without_registry_is_refused(engine: docker.DockerClient) -> None:
    res = plat("build", str(ROOT / "examples/hello-go"), "--push")
    assert res.code == 1 and "names no registry" in res.stderr
