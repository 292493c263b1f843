"""Which Go main package plat builds, as a table of layouts."""

from pathlib import Path

import pytest

from plat.app import resolve_app
from plat.builder.context import plan_context
from plat.errors import PlatError
from plat.runtimes.go_entry import choose_main, find_mains

MAIN = "package main\n\nfunc main() {}\n"
GOMOD = {"go.mod": "module example.com/x\n\ngo 1.19\n"}


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "mains"),
    [
        ({"main.go": MAIN}, ["."]),
        ({"cmd/server/main.go": MAIN, "internal/db/db.go": "package db\n"}, ["cmd/server"]),
        ({"cmd/api/main.go": MAIN, "cmd/worker/main.go": MAIN, "cmd/lib/x.go": "package lib\n"},
         ["cmd/api", "cmd/worker"]),
        ({"main_test.go": MAIN, "lib.go": "package x\n"}, []),  # tests are not a main
        ({"main.go": "// package main in a comment\npackage x\n"}, []),
    ],
)
def test_finds_main_packages(tmp_path: Path, files: dict[str, str], mains: list[str]) -> None:
    assert find_mains(tree(tmp_path, files)) == mains


def test_several_mains_need_build_main(tmp_path: Path) -> None:
    tree(tmp_path, {"cmd/api/main.go": MAIN, "cmd/worker/main.go": MAIN})
    with pytest.raises(PlatError, match="more than one main package: cmd/api, cmd/worker") as info:
        choose_main(tmp_path, None, tmp_path / "plat.yaml")
    assert "build: {main: cmd/worker}" in (info.value.hint or "")
    assert choose_main(tmp_path, "cmd/api", tmp_path / "plat.yaml").target == "./cmd/api"
    with pytest.raises(PlatError, match="build.main: 'internal' is not a main package"):
        choose_main(tmp_path, "internal", tmp_path / "plat.yaml")


def test_the_scaffold_builds_the_chosen_main_and_uses_vendored_modules(tmp_path: Path) -> None:
    tree(tmp_path, {**GOMOD, "cmd/server/main.go": MAIN, "vendor/modules.txt": "# example.com/y v1.0.0\n"})
    text = plan_context(resolve_app(tmp_path), {}).generated[".plat/Dockerfile"].decode()
    assert "-o /out/app ./cmd/server" in text
    assert "go mod download" not in text


def test_a_main_at_the_root_builds_the_root_package(tmp_path: Path) -> None:
    tree(tmp_path, {**GOMOD, "main.go": MAIN})
    text = plan_context(resolve_app(tmp_path), {}).generated[".plat/Dockerfile"].decode()
    assert "-o /out/app ./\n" in text
    assert "go mod download" in text


def test_build_main_is_a_folder_name_never_a_flag(tmp_path: Path) -> None:
    tree(tmp_path, {**GOMOD, "main.go": MAIN, "plat.yaml": "name: x\nbuild: {main: '-ldflags=-X'}\n"})
    with pytest.raises(PlatError, match="build.main"):
        resolve_app(tmp_path)
