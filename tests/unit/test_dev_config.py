"""The `dev:` section of runtime.yaml: every runtime declares one, and bad ones are named."""

from pathlib import Path

import pytest

from plat.dev.config import DevConfig, dev_config
from plat.errors import PlatError
from plat.runtimes.registry import Runtime, load_runtimes


def _runtime(tmp_path: Path, dev: dict) -> Runtime:
    return Runtime.model_validate({
        "name": "toy", "summary": "toy", "default_port": 8080, "base_image": "debian",
        "detect": {"signals": [{"file": "toy", "weight": 1, "says": "toy"}]}, "dev": dev, "folder": tmp_path})


@pytest.mark.parametrize("name", sorted(load_runtimes()))
def test_every_runtime_declares_a_valid_dev_section(name: str) -> None:
    rt = load_runtimes()[name]
    cfg = dev_config(rt)
    assert cfg.command and cfg.workdir == "/src"
    assert (rt.folder / "dev" / f"{cfg.dockerfile}.j2").is_file()
    if cfg.frontend:
        assert (rt.folder / "dev" / f"{cfg.frontend.dockerfile}.j2").is_file()


def test_reload_strategies_are_data() -> None:
    runtimes = load_runtimes()
    assert {name: dev_config(rt).reload for name, rt in runtimes.items()} == {
        "go": "restart", "nodejs": "restart", "python-flask": "restart"}
    assert {name: dev_config(rt).standby for name, rt in runtimes.items()} == {
        "go": False, "nodejs": True, "python-flask": True}
    assert dev_config(runtimes["go"]).caches == {"build-cache": "/cache/go-build"}
    assert dev_config(runtimes["python-flask"]).frontend is not None
    assert "**/*_test.go" in dev_config(runtimes["go"]).ignore


def test_defaults() -> None:
    cfg = DevConfig(command=("run",))
    assert (cfg.reload, cfg.signal, cfg.watch, cfg.dockerfile) == ("restart", "SIGHUP", ("**",), "Dockerfile")


def test_missing_section_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PlatError, match="no `dev:` section") as exc:
        dev_config(_runtime(tmp_path, {}))
    assert "plat run" in (exc.value.hint or "")


@pytest.mark.parametrize(("dev", "where"), [
    ({"command": ["x"], "reload": "sometimes"}, "dev.reload"),
    ({"command": []}, "dev.command"),
    ({"command": ["x"], "relaod": "none"}, "dev.relaod"),
    ({"command": ["x"], "frontend": {"command": ["vite"]}}, "dev.frontend.dockerfile"),
])
def test_bad_section_names_file_and_key(tmp_path: Path, dev: dict, where: str) -> None:
    with pytest.raises(PlatError) as exc:
        dev_config(_runtime(tmp_path, dev))
    assert str(tmp_path / "runtime.yaml") in exc.value.message and where in exc.value.message
