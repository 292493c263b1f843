"""Image tags and OCI labels from the source's version.

`<name>:<git short sha>` for a clean Git tree, `<sha>-dirty-<hash>` when it has changes,
and a content hash outside Git: the same source always gets the same tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from plat import __version__


@dataclass(frozen=True)
class SourceVersion:
    tag: str
    revision: str | None = None
    created: str | None = None
    dirty: bool = False


def source_version(root: Path, context_digest: str) -> SourceVersion:
    """Version of the tree at `root`, which may be a sub-folder of a Git work tree."""
    if not any((p / ".git").exists() for p in (root.resolve(), *root.resolve().parents)):
        return SourceVersion(tag=context_digest[:12])
    import git  # only for Git trees: importing GitPython costs ~0.1 s

    try:
        repo = git.Repo(root, search_parent_directories=True)
        head = repo.head.commit
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return SourceVersion(tag=context_digest[:12])
    assert repo.working_tree_dir is not None  # the .git found above makes this a work tree, not a bare repository
    rel = root.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()
    scope = None if rel == "." else rel
    dirty = repo.is_dirty(untracked_files=True, path=scope)
    short = head.hexsha[:12]
    created = datetime.fromtimestamp(head.committed_date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tag = f"{short}-dirty-{context_digest[:8]}" if dirty else short
    return SourceVersion(tag=tag, revision=head.hexsha, created=created, dirty=dirty)


def oci_labels(app: str, runtime: str | None, version: SourceVersion, source: str | None) -> dict[str, str]:
    labels = {
        "org.opencontainers.image.title": app,
        "org.opencontainers.image.version": version.tag,
        "plat.app": app,
        "plat.managed": "true",
        "plat.version": __version__,
    }
    if runtime:
        labels["plat.runtime"] = runtime
    if version.revision:
        labels["org.opencontainers.image.revision"] = version.revision
    if version.created:
        labels["org.opencontainers.image.created"] = version.created
    if source:
        labels["org.opencontainers.image.source"] = source
    return labels
