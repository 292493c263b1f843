"""Git URLs as build sources.

A URL or ref typed by the user reaches `git`, which has several ways to run commands
(`ext::` remote helpers, `--upload-pack=` options, `-oProxyCommand` ssh hosts), so both are
checked against an allow-list before use: https, ssh (`ssh://` or `user@host:path`) and
local directories. The clone itself also restricts git to those protocols, never prompts
for credentials, and credentials in URLs never appear in error messages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from plat.errors import PlatError

if TYPE_CHECKING:
    import git

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_REMOTE_HELPER = re.compile(r"^[A-Za-z0-9._~+-]*::")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)")
_SCP_LIKE = re.compile(r"^([^@/:]+)@([^/:]+):(.*)$")
_REF = re.compile(r"[A-Za-z0-9._/-]+")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_URL_HINT = "Use an https:// URL, ssh://… or git@host:owner/repo.git, or a path to a local repository."


def looks_like_git_url(source: str) -> bool:
    """True if `source` is meant as a Git remote rather than a local path."""
    if _SCHEME.match(source) or _REMOTE_HELPER.match(source) or _SCP_LIKE.match(source):
        return True
    return source.endswith(".git") and not Path(source).expanduser().is_dir()


def check_git_url(url: str) -> str:
    """Return `url` if plat may clone it, else raise PlatError saying why not."""
    shown = redact_url(url)
    if not url.strip():
        raise PlatError("empty Git URL", _URL_HINT)
    if url.startswith("-"):
        raise PlatError(f"Git URL {shown!r} starts with '-' and would be read as a git option", _URL_HINT)
    if _CONTROL_OR_SPACE.search(url):
        raise PlatError(f"Git URL {shown!r} contains whitespace or control characters", _URL_HINT)
    if _REMOTE_HELPER.match(url):
        raise PlatError(f"Git URL {shown!r} uses '<transport>::' remote-helper syntax, which can run commands",
                        _URL_HINT)
    if scheme := _SCHEME.match(url):
        return _check_scheme_url(url, shown, scheme.group(1).lower(), scheme.group(2))
    if scp := _SCP_LIKE.match(url):
        if scp.group(2).startswith("-"):
            raise PlatError(f"Git URL {shown!r}: host starts with '-' and would be read as an ssh option",
                            _URL_HINT)
        if not scp.group(3):
            raise PlatError(f"Git URL {shown!r} names no repository path", _URL_HINT)
        return url
    if Path(url).expanduser().is_dir():
        return url
    raise PlatError(f"{shown!r} is not a Git URL or an existing directory", _URL_HINT)


def _check_scheme_url(url: str, shown: str, scheme: str, authority: str) -> str:
    if scheme == "file":
        raise PlatError(f"Git URL {shown!r}: file:// URLs are not allowed",
                        "Give the path of the local repository instead.")
    if scheme in ("http", "git"):
        raise PlatError(f"Git URL {shown!r}: {scheme}:// is unencrypted",
                        "Use the https:// URL of the repository instead.")
    if scheme not in ("https", "ssh"):
        raise PlatError(f"Git URL {shown!r}: unsupported scheme {scheme}://", _URL_HINT)
    user, _, host = authority.rpartition("@")
    if not host:
        raise PlatError(f"Git URL {shown!r} names no host", _URL_HINT)
    if host.startswith("-") or user.startswith("-"):
        raise PlatError(f"Git URL {shown!r}: user or host starts with '-' and would be read as an option",
                        _URL_HINT)
    return url


def check_git_ref(ref: str) -> str:
    """Return `ref` (a branch, tag or commit sha) if it is safe to hand to git, else PlatError."""
    reason = (
        "is empty" if not ref
        else "starts with '-'" if ref.startswith("-")
        else "contains '..'" if ".." in ref
        else "may only contain letters, digits and . _ / -" if not _REF.fullmatch(ref)
        else None
    )
    if reason:
        raise PlatError(f"Git ref {ref!r} {reason}", "Give a branch name, a tag or a commit sha.")
    return ref


def redact_url(text: str) -> str:
    """`text` with any `user:password@` (or token@) after a `scheme://` removed."""
    return _USERINFO.sub("", text)


def clone(url: str, dest: Path, ref: str | None = None) -> str:
    """Clone `url` into `dest`, check out `ref` (default: the remote's HEAD), return the commit sha."""
    url = check_git_url(url)
    if ref is not None:
        ref = check_git_ref(ref)
    local = not (_SCHEME.match(url) or _SCP_LIKE.match(url))
    if local:  # an absolute path can never be mistaken for host:path by git
        url = str(Path(url).expanduser().resolve())
    where = redact_url(url) + (f" at {ref!r}" if ref else "")
    try:
        import git  # imported here so plat works on folders and archives without git installed
    except ImportError as exc:
        raise PlatError("cloning needs git, which was not found", "Install git and make sure it is on PATH.") from exc
    try:
        repo = git.Repo.clone_from(url, dest, env=_git_env(local))
        if ref is not None:
            sha = _resolve(repo, ref)
            if sha is None:
                raise PlatError(f"git clone {where}: no branch, tag or commit named {ref!r}",
                                "Check the ref exists (a commit must be reachable from a branch or tag).")
            repo.git.checkout("--detach", sha)
        return repo.head.commit.hexsha
    except git.GitError as exc:
        raise PlatError(f"git clone {where} failed: {_last_line(exc)}",
                        "Check the URL, your access to it, and the ref.") from exc


def _git_env(local: bool) -> dict[str, str]:
    """Environment for git: no prompts, and only https/ssh (plus file for local paths)."""
    allowed = ["https", "ssh"] + (["file"] if local else [])
    config = [("protocol.allow", "never")] + [(f"protocol.{p}.allow", "always") for p in allowed]
    count = os.environ.get("GIT_CONFIG_COUNT", "")
    start = int(count) if count.isdigit() else 0  # keep the user's own entries
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": ":".join(allowed),  # the latter for git < 2.31
           "GIT_CONFIG_COUNT": str(start + len(config))}
    for i, (key, value) in enumerate(config, start):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def _resolve(repo: git.Repo, ref: str) -> str | None:
    """The commit sha `ref` names: a tag, a commit, or a branch of the remote."""
    from git import GitCommandError

    for candidate in (ref, f"origin/{ref}"):  # ref was validated: it cannot start with '-'
        try:
            return str(repo.git.rev_parse("--verify", "--quiet", f"{candidate}^{{commit}}"))
        except GitCommandError:
            continue
    return None


def _last_line(exc: git.GitError) -> str:
    """The most telling line of git's stderr (GitPython wraps it in `stderr: '...'`)."""
    stderr = getattr(exc, "stderr", "") or str(exc)
    text = stderr if isinstance(stderr, str) else repr(stderr)
    lines = [line.strip().removeprefix("stderr:").strip().strip("'").strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return redact_url((errors or lines or [type(exc).__name__])[-1])
