"""Docs are tests: the references are generated and current, every command is documented with
help and examples, every plat.yaml key is described, links resolve, example manifests validate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml

from plat.config import manifest_schema, parse_manifest
from tools import gen_docs as docs
from tools import markdown, schema_reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKDOWN = sorted(DOCS.rglob("*.md"))
QUICKSTARTS = sorted(DOCS.glob("quickstart-*.md"))


# -- the checked-in docs -----------------------------------------------------------------------
@pytest.mark.parametrize("rel", sorted(docs.REFERENCES))
def test_generated_references_are_up_to_date(rel: str) -> None:
    path = DOCS / rel
    assert path.is_file(), f"{path} is missing: run scripts/gen-docs"
    assert path.read_text() == docs.REFERENCES[rel](), \
        f"{path} is out of date (a command, an option or a plat.yaml key changed): run scripts/gen-docs"


def test_every_command_has_help_and_examples() -> None:
    problems = docs.command_problems(docs.command_docs())
    assert not problems, "\n".join(problems)


def test_every_command_and_sub_command_is_in_the_cli_reference() -> None:
    text = (DOCS / "reference/cli.md").read_text()
    documented = {h for level, h in markdown.headings(text) if level == 2}
    paths = [d.path for d in docs.command_docs()]
    assert {"plat hosts trust", "plat secrets set", "plat lock release", "plat doctor"} <= set(paths)
    missing = [p for p in paths if p not in documented]
    assert not missing, f"not in docs/reference/cli.md: {missing}; run scripts/gen-docs"


def test_every_plat_yaml_key_is_in_the_reference() -> None:
    text = (DOCS / "reference/plat-yaml.md").read_text()
    by_section = markdown.sections(text)
    schema = manifest_schema()
    expected = schema_reference.schema_keys(schema)
    assert {"Build", "Scale", "Resources", "Host", "Deploy", "AgentSettings", "Environment"} <= set(expected)
    for section, keys in expected.items():
        assert section in by_section, f"docs/reference/plat-yaml.md has no section {section!r}: run scripts/gen-docs"
        for key in keys:
            assert f"| `{key}` |" in by_section[section], \
                f"plat.yaml key {section}.{key} is not in docs/reference/plat-yaml.md: run scripts/gen-docs"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(DOCS)))
def test_links_between_docs_resolve(path: Path) -> None:
    text = path.read_text()
    for target in markdown.links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: — not ours to check offline
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        assert dest.exists(), f"{path.relative_to(ROOT)}: link to {target}: no such file"
        if anchor and dest.suffix == ".md":
            assert anchor in markdown.anchors(dest.read_text()), \
                f"{path.relative_to(ROOT)}: link to {target}: {dest.name} has no heading #{anchor}"


def _manifests() -> list[tuple[str, str]]:
    found = [("tools.schema_reference.EXAMPLE_MANIFEST", schema_reference.EXAMPLE_MANIFEST)]
    for path in MARKDOWN:
        for block in markdown.code_blocks(path.read_text()):
            if block.lang in ("yaml", "yml"):
                found.append((f"{path.relative_to(ROOT)}:{block.line}", block.text))
    return found


@pytest.mark.parametrize(("where", "text"), _manifests(), ids=[w for w, _ in _manifests()])
def test_plat_yaml_shown_in_the_docs_validates(where: str, text: str) -> None:
    data = yaml.safe_load(text)
    assert isinstance(data, dict) and "name" in data, f"{where}: a YAML block in the docs that is not a plat.yaml"
    parse_manifest(data, Path(where))


@pytest.mark.parametrize("path", QUICKSTARTS, ids=lambda p: p.name)
def test_each_quickstart_runs_something_and_ends_by_destroying_its_app(path: Path) -> None:
    blocks = markdown.runnable_blocks(path.read_text())
    assert blocks, f"{path.name}: no runnable ```sh block"
    script = "".join(b.text for b in blocks)
    created = re.search(r"^plat init (\S+)", script, re.MULTILINE)
    assert created, f"{path.name}: the runnable blocks never run `plat init`"
    last = [ln for ln in blocks[-1].text.splitlines() if ln.strip()][-1]
    assert last.split() == ["plat", "destroy", created.group(1), "--yes"], f"{path.name}: ends with {last!r}"
    no_run = [b for b in markdown.code_blocks(path.read_text()) if markdown.NO_RUN in b.flags]
    assert all("plat" in b.text for b in no_run)


def test_there_is_a_quickstart_per_runtime() -> None:
    from plat.runtimes import load_runtimes

    assert {p.stem.removeprefix("quickstart-") for p in QUICKSTARTS} == set(load_runtimes())


# -- the generator, as data --------------------------------------------------------------------
def _toy_app() -> typer.Typer:
    app = typer.Typer(name="toy", help="A toy CLI.")

    @app.command(epilog="Examples: toy greet ann · toy greet bob --loud")
    def greet(name: str = typer.Argument(..., help="Who to greet."),
              loud: bool = typer.Option(False, "--loud", "-l", help="Shout <it> | whisper."),
              times: int = typer.Option(1, help="How many times.")) -> None:
        """Say hello.

        Twice, if you like.
        """

    @app.command()
    def bare() -> None:
        pass

    sub = typer.Typer(help="Grouped things.")

    @sub.command("one", epilog="Example: toy things one")
    def one() -> None:
        """The first thing."""

    app.add_typer(sub, name="things")
    return app


def test_command_docs_walks_every_command_in_order() -> None:
    found = docs.command_docs(_toy_app())
    assert [d.path for d in found] == ["toy", "toy greet", "toy bare", "toy things", "toy things one"]
    greet = found[1]
    assert greet.help == "Say hello.\n\nTwice, if you like." and greet.summary == "Say hello."
    assert greet.usage.startswith("toy greet [OPTIONS]")
    options = {p.name: p for p in greet.params}
    assert options["name"].kind == "argument" and options["name"].required
    assert options["loud"].display.startswith("-l, --loud") and options["loud"].default is None
    assert options["times"].default == "1"
    assert "help" not in options
    assert found[3].subcommands == ("toy things one",)


def test_command_problems_name_a_command_without_help_or_examples() -> None:
    problems = docs.command_problems(docs.command_docs(_toy_app()))
    assert problems == ["`toy bare` has no help text (its docstring, or help= for a group)",
                        "`toy bare` has no `Examples:` epilog (epilog= when registering it)"]


def test_cli_reference_is_plain_markdown() -> None:
    text = docs.cli_reference(docs.command_docs(_toy_app()))
    assert "\x1b" not in text
    assert "## toy greet\n\nSay hello.\n\nTwice, if you like.\n\n```text\ntoy greet [OPTIONS]" in text
    assert "| `-l, --loud` | Shout &lt;it&gt; \\| whisper. |" in text
    assert "| `--times <int>` | How many times. (default: `1`) |" in text
    assert "```sh\ntoy greet ann\ntoy greet bob --loud\n```" in text
    assert "| [toy things one](#toy-things-one) | The first thing. |" in text
    assert "#toy-things-one" in {f"#{a}" for a in markdown.anchors(text)}


@pytest.mark.parametrize(("epilog", "examples"), [
    ("Example: plat agent up", ["plat agent up"]),
    ("Examples: plat audit todo · plat audit todo --json", ["plat audit todo", "plat audit todo --json"]),
    ("Examples:\n  plat run\n  plat run --detach   # keep it", ["plat run", "plat run --detach   # keep it"]),
    ("See the docs.", []),
    ("", []),
])
def test_examples_of(epilog: str, examples: list[str]) -> None:
    assert docs.examples_of(epilog) == examples


def test_md_text_escapes_html_outside_code_and_pipes_in_tables() -> None:
    assert markdown.md_text("<app>.<domain> and `<kept>`") == "&lt;app&gt;.&lt;domain&gt; and `<kept>`"
    assert markdown.md_text("a | b\nc", table=True) == "a \\| b c"
    assert markdown.code("a`b") == "``a`b``"


def test_code_blocks_and_the_no_run_convention() -> None:
    text = "# T\n\n```sh\nplat init a\n```\n\ntext\n\n```sh no-run\nplat dev\n```\n\n```yaml\nname: a\n```\n"
    blocks = markdown.code_blocks(text)
    assert [(b.lang, b.flags, b.line) for b in blocks] == [("sh", (), 3), ("sh", ("no-run",), 9), ("yaml", (), 13)]
    assert [b.text for b in markdown.runnable_blocks(text)] == ["plat init a\n"]


def test_links_anchors_and_sections() -> None:
    text = ("# Top\n\nSee [a](other.md#x-y), [b](#top) and `[not](a-link.md)`.\n\n```sh\n[x](y.md)\n```\n"
            "## X, y!\n\nbody\n\n## X, y!\n\nagain\n")
    assert markdown.links(text) == ["other.md#x-y", "#top"]
    assert markdown.anchors(text) == {"top", "x-y", "x-y-1"}
    assert markdown.slug("plat hosts trust") == "plat-hosts-trust"
    assert markdown.sections("# T\n\n## A\n\none\n\n### A.1\n\ntwo\n\n## B\n\nthree\n") == \
        {"A": "\none\n\n### A.1\n\ntwo\n", "B": "\nthree"}


def test_schema_types_and_defaults_in_words() -> None:
    assert schema_reference.type_of({"type": "string"}) == "string"
    assert schema_reference.type_of(
        {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "null"}]}) == "integer (1–65535)"
    assert schema_reference.type_of(
        {"type": "array", "items": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/Host"}]}}) == \
        "list of string or [Host](#host)"
    assert schema_reference.type_of(
        {"type": "object", "additionalProperties": {"type": "string"}}) == "map of name to string"
    assert schema_reference.type_of({"enum": ["rollback", "keep"], "type": "string"}) == "`rollback` or `keep`"
    assert schema_reference.default_of({"type": "string"}, required=True) == "**required**"
    assert schema_reference.default_of({"default": None}, required=False) == "unset"
    assert schema_reference.default_of({"default": "5m"}, required=False) == "`5m`"
    assert schema_reference.default_of({"type": "object"}, required=False) == "`{}`"
    assert schema_reference.default_of({"$ref": "#/$defs/Build"}, required=False) == "see below"


def test_model_paths_follow_lists_and_maps() -> None:
    paths = schema_reference.model_paths(manifest_schema())
    assert paths["Host"] == ["hosts[]", "environments.<name>.hosts[]"]
    assert paths["Deploy"] == ["deploy", "environments.<name>.deploy"]
    assert paths["Build"] == ["build", "environments.<name>.build"], "an environment may override any app key"


def test_plat_yaml_reference_describes_every_key() -> None:
    text = schema_reference.plat_yaml_reference()
    by_section = markdown.sections(text)
    for section, keys in schema_reference.schema_keys(manifest_schema()).items():
        for key in keys:
            assert f"| `{key}` |" in by_section[section]
    assert "| `gateway_port` | integer (1–65535) | `80` |" in by_section["AgentSettings"]
    assert "Used at `hosts[]`, `environments.<name>.hosts[]`." in by_section["Host"]


def test_check_mode_reports_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert docs.main(["--out", str(tmp_path), "--check"]) == 1
    assert "run scripts/gen-docs" in capsys.readouterr().err
    assert docs.main(["--out", str(tmp_path)]) == 0
    assert docs.main(["--out", str(tmp_path), "--check"]) == 0
    assert docs.stale(tmp_path) == []
