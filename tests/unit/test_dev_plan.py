"""The dev loop as data: reload plans per runtime, the container spec, what a change means."""

from pathlib import Path

import pytest

from plat.app import resolve_app
from plat.dev.plan import classify, container_spec, dev_plan, volume_name, watched
from plat.errors import PlatError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("example", "reload", "target"), [
    ("hello-python-flask", "signal", "build"), ("hello-node", "self", "deps"), ("hello-go", "restart", "build")])
def test_every_runtime_declares_its_reload(example: str, reload: str, target: str) -> None:
    plan = dev_plan(resolve_app(ROOT / "examples" / example))
    assert (plan.reload, plan.target, plan.workdir) == (reload, target, "/src")
    assert plan.command


def test_container_spec_mounts_source_and_publishes_on_loopback() -> None:
    app = resolve_app(ROOT / "examples/hello-go")
    plan = dev_plan(app)
    spec = container_spec(app, plan, "img", 9000, {"plat.test": "x"}, {"EXTRA": "1"})
    assert spec["volumes"][str(app.context_dir)] == {"bind": "/src", "mode": "rw"}
    assert spec["volumes"][volume_name(app, "gocache")]["bind"] == "/root/.cache/go-build"
    assert spec["ports"] == {"8080/tcp": ("127.0.0.1", 9000)}
    assert spec["environment"]["PORT"] == "8080" and spec["environment"]["EXTRA"] == "1"
    assert spec["labels"]["plat.role"] == "dev" and spec["labels"]["plat.test"] == "x"
    assert "no-new-privileges" in spec["security_opt"] and spec["cap_drop"] == ["ALL"]


@pytest.mark.parametrize(("changed", "action"), [
    (["app.py"], "reload"), (["requirements.txt"], "rebuild"), (["app.py", "requirements.txt"], "rebuild"),
    (["frontend/package.json"], "rebuild"), (["../outside.py"], None), ([], None)])
def test_classify(tmp_path: Path, changed: list[str], action: str | None) -> None:
    deps = ["requirements.txt", "frontend/package.json"]
    assert classify([tmp_path / c for c in changed], tmp_path, deps) == action


@pytest.mark.parametrize(("path", "ok"), [
    ("app.py", True), ("src/x.go", True), ("node_modules/a/index.js", False), (".git/HEAD", False),
    ("__pycache__/a.pyc", False), ("app.py~", False), (".#app.py", False), ("a.swp", False), ("secret.env", False)])
def test_watched(tmp_path: Path, path: str, ok: bool) -> None:
    assert watched(tmp_path / path, tmp_path, {"secret.env"}) is ok


def test_own_dockerfile_has_no_dev_plan(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "plat.yaml").write_text("name: mine\n")
    with pytest.raises(PlatError, match="plat run"):
        dev_plan(resolve_app(tmp_path))
