"""Which changes plat dev ignores: .dockerignore, .gitignore, defaults, editor noise."""

import pytest

from plat.dev.ignore import load_ignore, make_ignore

IGNORE = make_ignore(
    dockerignore=".git\n**/node_modules\n.env\nbin\n*.test\n!important.test\n",
    gitignores=[("", "/build\n*.log\n!keep.log\ndocs/*.html\n\\#notes\n"), ("frontend", "coverage/\n/cache\n")],
    extra=["**/*.md"],
)


@pytest.mark.parametrize(("path", "ignored"), [
    ("app.py", False), ("pkg/handlers.go", False), ("requirements.txt", False), ("frontend/src/App.jsx", False),
    # defaults: dependencies, VCS, caches, build output, at any depth
    ("node_modules/x/index.js", True), ("frontend/node_modules/vite/x.js", True), (".git/HEAD", True),
    ("__pycache__/app.cpython-311.pyc", True), ("pkg/__pycache__/x.pyc", True), ("frontend/dist/index.html", True),
    (".venv/bin/python", True),
    # .dockerignore (relative to the app folder, last match wins)
    ("bin/app", True), ("src/bin/app", False), ("x.test", True), ("important.test", False), (".env", True),
    # .gitignore: no slash = any depth; a leading slash anchors; subfolder files are relative to it
    ("build/out", True), ("src/build/out", False), ("a/b/c.log", True), ("keep.log", False),
    ("frontend/coverage/lcov.info", True), ("coverage/lcov.info", False),
    ("docs/a.html", True), ("docs/sub/a.html", False), ("#notes", True),  # a slash anchors; \\# escapes
    ("frontend/cache/x", True), ("frontend/src/cache/x", False),
    # the runtime's extra globs
    ("README.md", True), ("docs/guide.md", True),
    # editors' temporary files
    ("app.py~", True), (".app.py.swp", True), ("4913", True), (".#app.py", True), ("#app.py#", True),
    ("main.go___jb_tmp___", True), ("frontend/vite.config.js.timestamp-1732653600000-1a2b3c4d5e.mjs", True),
])
def test_matches(path: str, ignored: bool) -> None:
    assert IGNORE.matches(path) is ignored


def test_load_reads_both_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".dockerignore").write_text("secret.txt\n")
    (tmp_path / ".gitignore").write_text("*.sqlite\n")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / ".gitignore").write_text("out/\n")
    ig = load_ignore(tmp_path, ["**/*.md"], frontend="web")
    assert [ig.matches(p) for p in ("secret.txt", "data/db.sqlite", "web/out/a.js", "NOTES.md", "main.py")] == [
        True, True, True, True, False]


def test_no_ignore_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ig = load_ignore(tmp_path)
    assert not ig.matches("main.go") and ig.matches("node_modules/a")
