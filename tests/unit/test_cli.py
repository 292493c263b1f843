"""The CLI surface: help with examples everywhere, exit codes scripts can trust, JSON output."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plat import __version__
from plat.cli import app

runner = CliRunner()


def command_names() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands)  # type: ignore[union-attr]


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"plat {__version__}"


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_with_an_example(name: str) -> None:
    res = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "Example" in res.output, f"`plat {name} --help` shows no example"
    assert f"plat {name}" in res.output


def test_usage_error_is_exit_2() -> None:
    assert runner.invoke(app, ["build", "--no-such-flag"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2


def test_detect_json(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n")
    res = runner.invoke(app, ["detect", str(tmp_path), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["runtime"] == "go"


def test_runtimes_json_lists_all() -> None:
    res = runner.invoke(app, ["runtimes", "--json"])
    assert {r["name"] for r in json.loads(res.output)} == {"go", "nodejs", "python-flask"}


def test_schema_is_json() -> None:
    res = runner.invoke(app, ["schema"])
    assert json.loads(res.output)["title"] == "Manifest"


@pytest.mark.parametrize("runtime", ["go", "nodejs", "python-flask"])
def test_init_writes_a_valid_app(tmp_path: Path, runtime: str) -> None:
    from plat.app import resolve_app

    res = runner.invoke(app, ["init", str(tmp_path / "my-app"), "--runtime", runtime, "--json"])
    assert res.exit_code == 0, res.output
    files = json.loads(res.output)["files"]
    assert "plat.yaml" in files
    spec = resolve_app(tmp_path / "my-app")
    assert (spec.name, spec.runtime and spec.runtime.name) == ("my-app", runtime)


def test_init_frontend_adds_a_vite_app(tmp_path: Path) -> None:
    from plat.app import resolve_app

    res = runner.invoke(app, ["init", str(tmp_path / "shop"), "--runtime", "python-flask", "--frontend"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "shop/frontend/package.json").is_file()
    assert resolve_app(tmp_path / "shop").frontend == "frontend"


def test_init_example(tmp_path: Path) -> None:
    res = runner.invoke(app, ["init", str(tmp_path / "t"), "--example", "todo-react-flask"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "t/plat.yaml").is_file() and not (tmp_path / "t/frontend/node_modules").exists()


def test_user_errors_are_exit_1_without_traceback(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    def plat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "plat", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)

    bad = plat("init", str(tmp_path / "x"), "--runtime", "cobol")
    assert bad.returncode == 1 and "unknown runtime 'cobol'" in bad.stderr and "go, nodejs, python-flask" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert plat("init", str(tmp_path / "y")).returncode == 1  # no TTY: no picker, a clear error
    (tmp_path / "z").mkdir()
    empty = plat("detect", str(tmp_path / "z"))
    assert empty.returncode == 1 and "no app found" in empty.stderr and len(empty.stderr.strip().splitlines()) == 2
    (tmp_path / "z/plat.yaml").write_text("name: z\nbuidl: {}\n")
    broken = plat("--debug", "detect", str(tmp_path / "z"))
    assert broken.returncode == 1


def test_bad_manifest_names_file_and_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "plat.yaml").write_text("name: ok\nscale: {min_wram: 1}\n")
    res = subprocess.run([sys.executable, "-m", "plat", "build", str(tmp_path)], capture_output=True, text=True,
                         env={"DOCKER_HOST": "unix:///nonexistent.sock", "PATH": "/usr/bin:/bin"})
    # The manifest is checked before the engine is needed.
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "plat.yaml: scale.min_wram: unknown key; did you mean 'min_warm'?" in res.stderr


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
             env: dict[str, str] | None = None) -> tuple[int, str]:
    """`plat ARGV` through the real entry point (its error printer included): (exit code, stderr)."""
    from plat.cli import main

    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr("sys.argv", ["plat", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("value", ["[/x]", "[bold]shop[/]", "[user@]host[:port]"])
def test_user_text_is_never_read_as_markup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], value: str) -> None:
    (tmp_path / "plat.yaml").write_text(f"name: {json.dumps(value)}\n")
    code, text = run_main(monkeypatch, capsys, "build", str(tmp_path))
    assert code == 1
    assert f"name: {value!r} is not DNS-label safe" in text
    assert "unexpected" not in text


def test_the_error_printer_prints_brackets_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from plat.ui import show_failure

    show_failure("pip said [notice] and [/] about [user@]host[:port]", "try [bold]this[/]")
    assert capsys.readouterr().err.splitlines() == [
        "error: pip said [notice] and [/] about [user@]host[:port]", "hint: try [bold]this[/]"]


@pytest.mark.parametrize(("setup", "argv", "env", "expected"), [
    ("file", ["init", "{tmp}/afile/sub", "--runtime", "go"], {}, "afile: exists and is not a folder"),
    ("binary", ["build", "{tmp}"], {}, "plat.yaml: not UTF-8 text"),
    ("link", ["build", "{tmp}"], {}, "plat.yaml: a symbolic link out of the app folder"),
    ("none", ["status", "-C", "{tmp}"], {"PLAT_AGENT_API_PORT": "abc"}, "PLAT_AGENT_API_PORT='abc': not a TCP port"),
])
def test_bad_input_gets_one_line_not_an_unexpected_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        setup: str, argv: list[str], env: dict[str, str], expected: str) -> None:
    if setup == "file":
        (tmp_path / "afile").write_text("x")
    elif setup == "binary":
        (tmp_path / "plat.yaml").write_bytes(b"\xff\xfe\x00name: x")
    elif setup == "link":
        (tmp_path / "plat.yaml").symlink_to("/etc/passwd")
    code, text = run_main(monkeypatch, capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv], env=env)
    lines = text.splitlines()
    assert code == 1 and expected in lines[0] and len(lines) <= 2, text
    assert "unexpected" not in text


def test_importing_the_cli_loads_neither_docker_paramiko_nor_git() -> None:
    """`plat --help` and a typo stay instant: the heavy clients load only in the verbs that need them."""
    import subprocess
    import sys

    probe = "import plat.cli, sys; print(sorted(m for m in ('docker', 'paramiko', 'git') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_config_shows_an_environment_merged_with_secrets_masked(tmp_path: Path) -> None:
    (tmp_path / "plat.yaml").write_text(
        "name: shop\nenv: {A: '1', API_TOKEN: abc}\nhosts: [h1]\n"
        "environments:\n  production:\n    env: {A: '2'}\n    scale: {min_warm: 2}\n    hosts: [p1, p2]\n")
    res = runner.invoke(app, ["config", "-C", str(tmp_path), "-e", "production", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["env"] == {"A": "2", "API_TOKEN": "***"} and data["hosts"] == ["p1", "p2"]
    assert data["scale"]["min_warm"] == 2 and "environments" not in data
    top = json.loads(runner.invoke(app, ["config", "-C", str(tmp_path), "--json"]).output)
    assert top["env"]["A"] == "1" and top["hosts"] == ["h1"]
