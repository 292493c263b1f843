"""Pure builders: build-stream parsing, Kaniko argv, container spec, tags and labels."""

from pathlib import Path

import git
import pytest

from plat.app import AppSpec
from plat.builder.docker_backend import build_failure
from plat.builder.kaniko import executor_args
from plat.builder.progress import BuildLog
from plat.builder.tagging import oci_labels, source_version
from plat.config import Manifest
from plat.runner import container_spec

STREAM = [
    {"stream": "Step 1/3 : FROM python:3.12-slim\n"},
    {"stream": " ---> 1234\n"},
    {"stream": "Step 2/3 : RUN pip install -r requirements.txt\n"},
    {"stream": " ---> Using cache\n"},
    {"stream": "Step 3/3 : RUN make\n"},
    {"stream": " ---> Running in abc\n"},
    {"stream": "make: *** No rule to make target\n"},
    {"errorDetail": {"code": 2, "message": "The command '/bin/sh -c make' returned a non-zero code: 2"},
     "error": "The command '/bin/sh -c make' returned a non-zero code: 2"},
]


def test_build_log_follows_steps_and_failure() -> None:
    log = BuildLog()
    for event in STREAM:
        log.feed(event)
    assert (log.step, log.total, log.cached_steps) == (3, 3, 1)
    assert log.failed_instruction == "RUN make"
    assert list(log.tail) == ["make: *** No rule to make target"]
    err = build_failure(log)
    assert "step 3/3 `RUN make` failed" in err.message
    assert "| make: *** No rule" in err.message
    assert err.hint is None


def test_build_log_success_and_missing_base_hint() -> None:
    log = BuildLog()
    for event in [{"stream": "Step 1/1 : FROM nowhere/img\n"}, {"aux": {"ID": "sha256:feed"}},
                  {"stream": "Successfully built feed\n"}]:
        log.feed(event)
    assert log.image_id == "sha256:feed" and log.error is None
    log.feed({"error": "pull access denied for nowhere/img"})
    assert "PLAT_BASE_IMAGE_" in (build_failure(log).hint or "")


def test_kaniko_argv_local_tar() -> None:
    argv = executor_args(context_dir="/workspace", dockerfile=".plat/Dockerfile", destination="app:abc",
                         tar_path="/out/image.tar", build_args={"B": "2", "A": "1"},
                         labels={"plat.app": "app"}, platform="linux/arm64")
    assert argv == [
        "--context=dir:///workspace",
        "--dockerfile=/workspace/.plat/Dockerfile",
        "--destination=app:abc",
        "--snapshot-mode=redo",
        "--no-push",
        "--tar-path=/out/image.tar",
        "--build-arg=A=1",
        "--build-arg=B=2",
        "--label=plat.app=app",
        "--custom-platform=linux/arm64",
    ]


def test_kaniko_argv_push() -> None:
    argv = executor_args(context_dir="/ctx/", dockerfile="Dockerfile", destination="r.example/app:1", tar_path=None)
    assert "--no-push" not in argv and "--dockerfile=/ctx/Dockerfile" in argv


def test_container_spec_is_hardened_and_loopback_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAT_LABELS", "plat.test=abc")
    m = Manifest(name="web", port=5000, env={"MODE": "x"}, resources={"memory": "128m", "cpus": 0.5})
    spec = container_spec(AppSpec(tmp_path, m, None, None, tmp_path, "Dockerfile", None), "web:1")
    assert spec["ports"] == {"5000/tcp": ("127.0.0.1", None)}
    assert spec["cap_drop"] == ["ALL"] and spec["security_opt"] == ["no-new-privileges"]
    assert spec["read_only"] is True and "/tmp" in spec["tmpfs"]
    assert spec["environment"] == {"MODE": "x", "PORT": "5000"}
    assert (spec["mem_limit"], spec["nano_cpus"], spec["pids_limit"]) == ("128m", 500_000_000, 256)
    assert spec["labels"]["plat.app"] == "web" and spec["labels"]["plat.test"] == "abc"


def test_source_version_outside_git_is_content_hash(tmp_path: Path) -> None:
    v = source_version(tmp_path, "ab" * 32)
    assert (v.tag, v.revision, v.dirty) == ("ab" * 6, None, False)


def test_source_version_git_clean_and_dirty(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path)
    (tmp_path / "app").mkdir()
    (tmp_path / "app/a.txt").write_text("1")
    (tmp_path / "other.txt").write_text("1")
    repo.index.add(["app/a.txt", "other.txt"])
    commit = repo.index.commit("one", author=git.Actor("t", "t@example.com"))
    clean = source_version(tmp_path / "app", "cd" * 32)
    assert (clean.tag, clean.revision, clean.dirty) == (commit.hexsha[:12], commit.hexsha, False)
    (tmp_path / "other.txt").write_text("changes elsewhere do not dirty this app")
    assert not source_version(tmp_path / "app", "cd" * 32).dirty
    (tmp_path / "app/a.txt").write_text("2")
    dirty = source_version(tmp_path / "app", "ef" * 32)
    assert dirty.dirty and dirty.tag == f"{commit.hexsha[:12]}-dirty-efefefef"


def test_oci_labels() -> None:
    v = source_version(Path("/nonexistent-plat-dir"), "12" * 32)
    labels = oci_labels("web", "go", v, "https://example.com/web.git")
    assert labels["org.opencontainers.image.title"] == "web"
    assert labels["org.opencontainers.image.source"] == "https://example.com/web.git"
    assert labels["plat.runtime"] == "go" and labels["plat.managed"] == "true"


@pytest.mark.parametrize(("repo", "ok"), [("app", False), ("team/app", False), ("localhost/app", True),
                                           ("127.0.0.1:5000/app", True), ("registry.example.com/t/app", True)])
def test_the_one_reference_parser_says_which_names_a_registry(repo: str, ok: bool) -> None:
    from plat_contract.images import parse_reference

    assert (parse_reference(f"{repo}:v1").registry is not None) is ok
    assert parse_reference(f"{repo}:v1").push_args() == (repo, "v1")


def test_docker_sdk_is_imported_without_paramiko() -> None:
    import subprocess
    import sys

    code = ("import sys; import plat.docker_client as d; "
            "assert 'paramiko' not in sys.modules; assert d.docker.DockerClient; "
            "import paramiko; assert paramiko.SSHClient")
    assert subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin"}).returncode == 0


def test_the_boot_check_runs_an_image_as_the_agent_would() -> None:
    from plat.builder.bootcheck import boot_kwargs
    from plat_contract.instance import hardening

    kwargs = boot_kwargs("shop:abc", 8080, {"MODE": "x"}, None, None)
    assert kwargs["environment"] == {"MODE": "x", "PORT": "8080"}
    assert kwargs["ports"] == {"8080/tcp": ("127.0.0.1", None)}  # loopback only
    assert kwargs["read_only"] and kwargs["cap_drop"] == ["ALL"] and kwargs["security_opt"] == ["no-new-privileges"]
    assert kwargs["mem_limit"] == "512m" and kwargs["nano_cpus"] == 1_000_000_000
    for key, value in hardening("256m", 0.5).items():
        assert boot_kwargs("i", 1, {}, "256m", 0.5)[key] == value
