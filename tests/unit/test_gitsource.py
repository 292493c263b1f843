"""plat.builder.gitsource: which Git URLs and refs are accepted, and a real local clone."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from plat.builder.gitsource import check_git_ref, check_git_url, clone, looks_like_git_url, redact_url
from plat.errors import PlatError


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("https://github.com/acme/app.git", True),
        ("http://example.com/app", True),
        ("ssh://git@example.com/acme/app.git", True),
        ("git://example.com/app.git", True),
        ("git@github.com:acme/app.git", True),
        ("deploy@10.0.0.5:repos/app", True),
        ("ext::sh -c touch% /tmp/pwned", True),
        ("fd::17", True),
        ("file:///srv/repos/app", True),
        ("app.git", True),  # not an existing directory
        ("../elsewhere/app.git", True),
        (".", False),
        ("app", False),
        ("./app", False),
        ("/srv/apps/app", False),
        ("src/app.tar.gz", False),
        ("C:\\apps\\app", False),
    ],
)
def test_looks_like_git_url(source: str, expected: bool) -> None:
    assert looks_like_git_url(source) is expected


def test_existing_dir_ending_in_dot_git_is_a_local_path(tmp_path: Path) -> None:
    (tmp_path / "app.git").mkdir()
    assert not looks_like_git_url(str(tmp_path / "app.git"))


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/app.git",
        "https://token@github.com/acme/app",
        "HTTPS://example.com:8443/app",
        "ssh://git@example.com/acme/app.git",
        "ssh://example.com:2222/srv/app",
        "git@github.com:acme/app.git",
        "deploy@10.0.0.5:repos/app",
    ],
)
def test_check_git_url_accepts(url: str) -> None:
    assert check_git_url(url) == url


def test_check_git_url_accepts_local_directory(tmp_path: Path) -> None:
    assert check_git_url(str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("--upload-pack=touch /tmp/pwned", "starts with '-'"),
        ("-uevil", "starts with '-'"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "remote-helper"),
        ("fd::17", "remote-helper"),
        ("::foo", "remote-helper"),
        ("transport::https://example.com/app", "remote-helper"),
        ("ext://evil", "unsupported scheme"),
        ("ftp://example.com/app.git", "unsupported scheme"),
        ("file:///srv/repos/app", "file:// URLs are not allowed"),
        ("FILE:///etc", "file:// URLs are not allowed"),
        ("git://example.com/app.git", "unencrypted"),
        ("http://example.com/app.git", "unencrypted"),
        ("https://example.com/app\n.git", "control characters"),
        ("https://example.com/a pp.git", "whitespace"),
        ("https://example.com/app\x00", "control characters"),
        ("https://example.com/app\t", "control characters"),
        ("https:///app.git", "no host"),
        ("ssh://-oProxyCommand=touch%20x/app", "starts with '-'"),
        ("ssh://-oProxyCommand=x@host/app", "starts with '-'"),
        ("https://-host/app", "starts with '-'"),
        ("git@-oProxyCommand=x:app", "host starts with '-'"),
        ("git@github.com:", "no repository path"),
        ("does/not/exist", "not a Git URL or an existing directory"),
        ("missing.git", "not a Git URL or an existing directory"),
    ],
)
def test_check_git_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(PlatError) as err:
        check_git_url(url)
    assert reason in err.value.message
    assert err.value.hint
    assert "\n" not in err.value.message


def test_unencrypted_hint_says_https() -> None:
    with pytest.raises(PlatError) as err:
        check_git_url("http://example.com/app.git")
    assert "https" in (err.value.hint or "")


def test_refusals_do_not_show_credentials() -> None:
    with pytest.raises(PlatError) as err:
        check_git_url("http://alice:s3cret@example.com/app.git")
    assert "s3cret" not in str(err.value) and "example.com/app.git" in err.value.message


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://alice:s3cret@example.com/app.git", "https://example.com/app.git"),
        ("https://ghp_token@github.com/acme/app", "https://github.com/acme/app"),
        ("fatal: could not read from 'https://u:p@h/x'", "fatal: could not read from 'https://h/x'"),
        ("git@github.com:acme/app.git", "git@github.com:acme/app.git"),
        ("https://example.com/app.git", "https://example.com/app.git"),
    ],
)
def test_redact_url(text: str, shown: str) -> None:
    assert redact_url(text) == shown


@pytest.mark.parametrize("ref", ["main", "v1.2.3", "release/2024-05", "feature_x", "0123abcd", "HEAD"])
def test_check_git_ref_accepts(ref: str) -> None:
    assert check_git_ref(ref) == ref


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("", "empty"),
        ("-b", "starts with '-'"),
        ("--upload-pack=evil", "starts with '-'"),
        ("main..evil", "'..'"),
        ("..", "'..'"),
        ("main branch", "may only contain"),
        ("main\n", "may only contain"),
        ("v1\x00", "may only contain"),
        ("HEAD~1", "may only contain"),
        ("refs/heads/main^{}", "may only contain"),
        ("a:b", "may only contain"),
    ],
)
def test_check_git_ref_refuses(ref: str, reason: str) -> None:
    with pytest.raises(PlatError, match="Git ref") as err:
        check_git_ref(ref)
    assert reason in err.value.message


# -- a real clone of a local repository -------------------------------------------------


@pytest.fixture
def origin(tmp_path: Path) -> dict[str, str]:
    """A repository with two commits on main, v1 tagging the first."""
    repo = git.Repo.init(tmp_path / "origin", initial_branch="main")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Test").set_value("user", "email", "test@example.com")
    app = tmp_path / "origin" / "app.txt"
    app.write_text("one\n")
    repo.index.add(["app.txt"])
    first = repo.index.commit("first").hexsha
    repo.create_tag("v1")
    repo.create_head("side").checkout()
    app.write_text("side\n")
    repo.index.add(["app.txt"])
    side = repo.index.commit("on side").hexsha
    repo.heads.main.checkout()
    app.write_text("two\n")
    repo.index.add(["app.txt"])
    second = repo.index.commit("second").hexsha
    return {"path": str(tmp_path / "origin"), "first": first, "second": second, "side": side}


@pytest.mark.parametrize(
    ("ref", "commit", "content"),
    [
        (None, "second", "two\n"),
        ("v1", "first", "one\n"),
        ("main", "second", "two\n"),
        ("side", "side", "side\n"),  # a branch that is not the remote's HEAD
        ("<first>", "first", "one\n"),  # full sha
        ("<first:8>", "first", "one\n"),  # abbreviated sha
    ],
)
def test_clone_local_repo(origin: dict[str, str], tmp_path: Path, ref: str | None, commit: str, content: str) -> None:
    if ref and ref.startswith("<"):
        name, _, length = ref.strip("<>").partition(":")
        ref = origin[name][: int(length)] if length else origin[name]
    dest = tmp_path / "clone"
    sha = clone(origin["path"], dest, ref)
    assert sha == origin[commit]
    assert (dest / "app.txt").read_text() == content
    assert git.Repo(dest).head.commit.hexsha == sha


def test_clone_unknown_ref(origin: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(PlatError, match="'nope'"):
        clone(origin["path"], tmp_path / "clone", "nope")


def test_clone_refuses_bad_ref_before_cloning(origin: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(PlatError, match="starts with '-'"):
        clone(origin["path"], tmp_path / "clone", "--orphan")
    assert not (tmp_path / "clone").exists()


def test_clone_refuses_bad_url_before_cloning(tmp_path: Path) -> None:
    with pytest.raises(PlatError, match="remote-helper"):
        clone("ext::sh", tmp_path / "clone")
    assert not (tmp_path / "clone").exists()


def test_clone_failure_names_url_without_credentials(tmp_path: Path) -> None:
    """A remote that cannot be reached: https://user:pw@127.0.0.1:9 (nothing listens on port 9)."""
    with pytest.raises(PlatError) as err:
        clone("https://alice:s3cret@127.0.0.1:9/app.git", tmp_path / "clone", "main")
    message = str(err.value)
    assert "https://127.0.0.1:9/app.git" in message and "'main'" in message
    assert "s3cret" not in message and "alice" not in message


def test_clone_environment_restricts_protocols(origin: dict[str, str], tmp_path: Path) -> None:
    """The env clone() gives git really does forbid file:// for remote URLs (and allows it for local paths)."""
    from plat.builder.gitsource import _git_env

    with pytest.raises(git.GitCommandError, match="transport 'file' not allowed"):
        git.Repo.clone_from(origin["path"], tmp_path / "remote-style", env=_git_env(local=False))
    git.Repo.clone_from(origin["path"], tmp_path / "local-style", env=_git_env(local=True))
