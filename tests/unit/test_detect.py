"""Detection over fixture trees, as a table."""

from pathlib import Path

import pytest

from plat.errors import PlatError
from plat.runtimes.detect import detect
from plat.runtimes.registry import load_runtimes

FLASK_REQ = {"requirements.txt": "Flask>=3\n"}
FLASK_APP = {"app.py": "from flask import Flask\napp = Flask(__name__)\n"}
NODE = {"package.json": '{"name": "x", "scripts": {"start": "node server.js"}}', "server.js": ""}
GO = {"go.mod": "module x\n\ngo 1.19\n", "main.go": "package main\n"}
FRONTEND = {"frontend/package.json": '{"dependencies": {"react": "18", "vite": "5"}}'}


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "runtime", "frontend"),
    [
        ({**FLASK_REQ, **FLASK_APP}, "python-flask", None),
        (FLASK_REQ, "python-flask", None),
        ({"pyproject.toml": '[project]\ndependencies = ["flask>=3"]\n'}, "python-flask", None),
        ({**FLASK_REQ, **FLASK_APP, **FRONTEND}, "python-flask", "frontend"),
        # A composite app with a JS toolchain at the top is still one Flask app.
        ({**FLASK_REQ, **FLASK_APP, **NODE}, "python-flask", None),
        (NODE, "nodejs", None),
        ({"package.json": '{"dependencies": {"vite": "5", "react": "18"}}'}, "nodejs", None),
        (GO, "go", None),
        ({"go.mod": "module x\n"}, "go", None),
        ({"requirements.txt": "Django>=5\n"}, "python-flask", None),
        ({"requirements.txt": "fastapi\nuvicorn\n"}, "python-flask", None),
        ({"manage.py": 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "s")'}, "python-flask", None),
        # No dependency file, but the source makes an app.
        ({"svc/__init__.py": "", "svc/main.py": "from fastapi import FastAPI\napp = FastAPI()\n"},
         "python-flask", None),
    ],
)
def test_detects(tmp_path: Path, files: dict[str, str], runtime: str, frontend: str | None) -> None:
    found = detect(tree(tmp_path, files), load_runtimes())
    assert (found.runtime, found.frontend) == (runtime, frontend)
    assert found.signals and 0.5 <= found.confidence <= 1.0


def test_empty_folder_says_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(PlatError) as info:
        detect(tmp_path, load_runtimes())
    assert "no app found" in info.value.message
    assert "go.mod" in info.value.message and "package.json" in info.value.message
    assert "runtime:" in info.value.hint


def test_a_dependency_list_without_a_framework_says_what_it_names(tmp_path: Path) -> None:
    with pytest.raises(PlatError) as info:
        detect(tree(tmp_path, {"requirements.txt": "numpy\npandas>=2\n# plotting\n"}), load_runtimes())
    assert "found requirements.txt (numpy, pandas), but none names a web framework" in info.value.message
    assert "Procfile" in info.value.hint and "runtime:" in info.value.hint


def test_ambiguous_lists_candidates_and_how_to_pin(tmp_path: Path) -> None:
    with pytest.raises(PlatError) as info:
        detect(tree(tmp_path, {**GO, **NODE}), load_runtimes())
    assert "go" in info.value.message and "nodejs" in info.value.message
    assert "runtime: <name>" in info.value.hint


def test_weak_signal_alone_is_not_a_match(tmp_path: Path) -> None:
    with pytest.raises(PlatError, match="no app found"):
        detect(tree(tmp_path, {"wsgi.py": ""}), load_runtimes())


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PlatError, match="not a directory"):
        detect(tmp_path / "nope", load_runtimes())


def test_adding_a_runtime_is_adding_a_folder(tmp_path: Path) -> None:
    rt = tmp_path / "rt" / "ruby-sinatra"
    rt.mkdir(parents=True)
    (rt / "runtime.yaml").write_text(
        "name: ruby-sinatra\nsummary: Sinatra\ndefault_port: 4567\nbase_image: ruby:3.3-slim\n"
        "detect:\n  signals:\n    - {file: Gemfile, contains: sinatra, weight: 0.9, says: Gemfile lists sinatra}\n"
    )
    runtimes = load_runtimes(tmp_path / "rt")
    app = tree(tmp_path / "app", {"Gemfile": "gem 'sinatra'\n"})
    found = detect(app, runtimes)
    assert found.runtime == "ruby-sinatra"
    assert runtimes["ruby-sinatra"].env_key == "PLAT_BASE_IMAGE_RUBY_SINATRA"


def test_base_image_precedence() -> None:
    go = load_runtimes()["go"]
    assert go.base_image_for(None, {}) == "golang:1.23"
    assert go.base_image_for(None, {"PLAT_BASE_IMAGE_GO": "local/go"}) == "local/go"
    assert go.base_image_for("mine/go:1", {"PLAT_BASE_IMAGE_GO": "local/go"}) == "mine/go:1"
