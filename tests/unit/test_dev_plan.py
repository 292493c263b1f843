"""The dev loop as data: what a change calls for, the containers' specs, env, supervisor markers."""

from pathlib import Path

import pytest

from plat.app import resolve_app
from plat.dev.config import dev_config
from plat.dev.image import SUPERVISOR
from plat.dev.loop import describe, watch_rules, watcher_error
from plat.dev.plan import (
    Ports,
    backend_spec,
    cache_volume,
    dev_env,
    frontend_spec,
    labels,
    parse_marker,
    react,
    relative,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def rules_for(example: str):  # type: ignore[no-untyped-def]
    app = resolve_app(EXAMPLES / example)
    return watch_rules(app, dev_config(app.runtime))


@pytest.mark.parametrize(("example", "changed", "kind"), [
    ("hello-python-flask", ["app.py"], "reload"),
    ("hello-python-flask", ["templates/index.html"], "reload"),
    ("hello-python-flask", ["requirements.txt"], "rebuild"),
    ("hello-python-flask", ["app.py", "requirements.txt"], "rebuild"),
    ("hello-python-flask", ["pyproject.toml"], "rebuild"),
    ("hello-python-flask", [".env"], "recreate"),
    ("hello-python-flask", ["plat.yaml", "app.py"], "recreate"),
    ("hello-python-flask", ["__pycache__/app.cpython-311.pyc"], "none"),
    ("hello-python-flask", ["README.md"], "none"),
    ("hello-python-flask", [".venv/lib/x.py", ".git/index", "app.py~"], "none"),
    ("hello-python-flask", ["../elsewhere.py"], "none"),
    ("hello-python-flask", [], "none"),
    ("hello-node", ["server.js"], "reload"),
    ("hello-node", ["package.json"], "rebuild"),
    ("hello-node", ["package-lock.json"], "rebuild"),
    ("hello-node", ["node_modules/express/index.js"], "none"),
    ("hello-go", ["main.go"], "reload"),
    ("hello-go", ["go.sum"], "rebuild"),
    ("hello-go", ["main_test.go"], "none"),
    ("hello-go", ["bin/hello-go"], "none"),  # its .dockerignore
    ("todo-react-flask", ["app.py"], "reload"),
    ("todo-react-flask", ["frontend/src/App.jsx"], "frontend"),
    ("todo-react-flask", ["frontend/vite.config.js"], "frontend"),
    ("todo-react-flask", ["frontend/package.json"], "rebuild"),
    ("todo-react-flask", ["frontend/dist/index.html", "frontend/node_modules/react/index.js"], "none"),
    ("todo-react-flask", ["frontend/src/App.jsx", "app.py"], "reload"),
])
def test_what_a_change_calls_for(example: str, changed: list[str], kind: str) -> None:
    assert react(changed, rules_for(example)).kind == kind


def test_reaction_flags_and_paths() -> None:
    r = react(["frontend/package-lock.json", "app.py", "node_modules/x", "frontend/src/a.jsx"],
              rules_for("todo-react-flask"))
    assert (r.rebuild, r.rebuild_frontend, r.reload, r.frontend) == (False, True, True, True)
    assert r.paths == ("app.py", "frontend/package-lock.json", "frontend/src/a.jsx")


def test_watch_globs_narrow_what_reloads() -> None:
    from dataclasses import replace

    rules = replace(rules_for("hello-go"), watch=("**/*.go", "templates/**"))
    assert react(["main.go"], rules).kind == "reload"
    assert react(["templates/page.html"], rules).kind == "reload"
    assert react(["notes.txt"], rules).kind == "none"
    assert react(["go.mod"], rules).kind == "rebuild"


def test_env_files_above_the_build_context(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    (tmp_path / "src" / "requirements.txt").write_text("flask\n")
    (tmp_path / "plat.yaml").write_text("name: nested\nruntime: python-flask\nbuild: {context: src}\n")
    app = resolve_app(tmp_path)
    rules = watch_rules(app, dev_config(app.runtime))
    assert rules.env_files == {"../.env", "../plat.yaml"}
    assert react([relative(tmp_path / ".env", app.context_dir)], rules).kind == "recreate"
    assert react([relative(tmp_path / "other.txt", app.context_dir)], rules).kind == "none"


def test_backend_spec() -> None:
    app = resolve_app(EXAMPLES / "hello-go")
    cfg = dev_config(app.runtime)
    spec = backend_spec(app, cfg, image="img", name="n", ports=Ports(9000), env={"PORT": "8080"},
                        labels=labels(app, "dev", "abc", {"plat.test": "x"}), user="1000:1000",
                        caches={cache_volume("go", "build-cache"): "/cache/go-build"})
    assert spec["volumes"] == {str(app.context_dir): {"bind": "/src", "mode": "rw"},
                               "plat-dev-go-build-cache": {"bind": "/cache/go-build", "mode": "rw"}}
    assert spec["ports"] == {"8080/tcp": ("127.0.0.1", 9000)}
    assert spec["command"] == ["sh", SUPERVISOR, *cfg.command]
    assert spec["working_dir"] == "/src" and spec["user"] == "1000:1000"
    assert spec["labels"] == {"plat.managed": "true", "plat.app": "hello-go", "plat.role": "dev",
                              "plat.dev.session": "abc", "plat.test": "x"}
    # hardened like `plat run`, minus limits that fight a compiler
    assert spec["cap_drop"] == ["ALL"] and spec["security_opt"] == ["no-new-privileges"]
    assert spec["read_only"] is True and spec["init"] is True and "exec" in spec["tmpfs"]["/tmp"].split(",")
    assert "mem_limit" not in spec and "privileged" not in spec


def test_backend_spec_without_supervisor_and_with_frontend_port() -> None:
    app = resolve_app(EXAMPLES / "todo-react-flask")
    cfg = dev_config(app.runtime).model_copy(update={"reload": "none"})
    spec = backend_spec(app, cfg, image="img", name="n", ports=Ports(9000, 9001), env={}, labels={}, user="0:0")
    assert spec["command"] == list(cfg.command)
    assert spec["ports"] == {"8080/tcp": ("127.0.0.1", 9000), "5173/tcp": ("127.0.0.1", 9001)}


def test_frontend_spec_shares_the_backend_network() -> None:
    app = resolve_app(EXAMPLES / "todo-react-flask")
    cfg = dev_config(app.runtime)
    spec = frontend_spec(app, cfg, image="fe", name="n-web", backend_id="abc123", ports=Ports(9000, 9001),
                         env={"PORT": "8080"}, labels={"plat.role": "dev-frontend"}, user="1000:1000")
    assert spec["network_mode"] == "container:abc123" and "ports" not in spec
    assert spec["working_dir"] == "/src/frontend"
    assert spec["environment"] == {"PORT": "8080", "PLAT_FRONTEND_PORT": "5173", "PLAT_FRONTEND_CLIENT_PORT": "9001"}
    assert spec["command"] == list(cfg.frontend.command)
    assert spec["cap_drop"] == ["ALL"] and spec["read_only"] is True


def test_env_precedence(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    (tmp_path / "plat.yaml").write_text(
        "name: e\nruntime: python-flask\nport: 5000\nenv: {A: manifest, B: manifest, PORT: '1'}\n")
    app = resolve_app(tmp_path)
    cfg = dev_config(app.runtime)
    env = dev_env(app, cfg, {"B": "dotenv"})
    assert env == {"HOME": "/tmp", "A": "manifest", "B": "dotenv", "PORT": "5000", "PLAT_DEV_STANDBY": "1"}
    assert "PLAT_DEV_STANDBY" not in dev_env(app, cfg.model_copy(update={"standby": False}), {})


@pytest.mark.parametrize(("line", "marker"), [
    ("plat-dev: start 3", ("start", 3, None)),
    ("plat-dev: exit 3 1", ("exit", 3, 1)),
    ("plat-dev: exit 12 130\r", ("exit", 12, 130)),
    ("hello plat-dev: start 3", None),
    ("plat-dev: started", None),
])
def test_supervisor_markers(line: str, marker: tuple | None) -> None:
    assert parse_marker(line) == marker


def test_relative_and_describe(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    assert relative(tmp_path / "pkg" / "b.py", tmp_path) == "pkg/b.py"
    assert relative(tmp_path.parent / "x", tmp_path) == "../x"
    assert describe(("a.py", "sedXYZ123"), tmp_path) == "a.py"  # gone: an editor's temp file
    assert describe(("gone.py",), tmp_path) == "gone.py"  # a deleted module still says what changed
    many = tuple(f"f{i}.py" for i in range(5))
    assert describe(many, tmp_path) == "f0.py, f1.py, f2.py and 2 more"


def test_inotify_limit_gets_the_fix() -> None:
    err = watcher_error(OSError("OS file watch limit reached. about [\"/src\"]"))
    assert err is not None and "inotify" in err.message and "fs.inotify.max_user_watches" in (err.hint or "")
    err = watcher_error(OSError(24, "Too many open files"))
    assert err is not None and "max_user_instances" in (err.hint or "")
    assert watcher_error(OSError(2, "No such file or directory")) is None
