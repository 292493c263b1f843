"""The generated references in docs/: the CLI's help and plat.yaml's JSON Schema, as Markdown.

Pure functions from data to Markdown strings, so tests can regenerate the references in memory
and compare them with the files in docs/. `python -m tools.gen_docs` (or `scripts/gen-docs`)
rewrites them; `python -m tools.gen_docs --check` only says whether they are up to date.

The plat.yaml reference is built in tools/schema_reference.py; the Markdown helpers, including
those that read docs back, are in tools/markdown.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.markdown import GENERATED_NOTE, code, md_text, slug, table
from tools.schema_reference import plat_yaml_reference

DOCS = Path(__file__).resolve().parent.parent / "docs"
"""docs/ of a source checkout (wheels carry no docs)."""


# -- the CLI reference ---------------------------------------------------------------------
@dataclass(frozen=True)
class ParamDoc:
    kind: str
    """argument or option"""
    name: str
    display: str
    """How it is written: `-e, --env <str>`, or the argument's name."""
    help: str
    default: str | None
    required: bool
    repeatable: bool
    envvar: str | None = None


@dataclass(frozen=True)
class CommandDoc:
    path: str
    """`plat hosts trust`"""
    help: str
    usage: str
    epilog: str
    params: tuple[ParamDoc, ...]
    subcommands: tuple[str, ...] = field(default=())
    """For a group: the paths of its commands."""

    @property
    def is_group(self) -> bool:
        return bool(self.subcommands)

    @property
    def summary(self) -> str:
        return self.help.strip().split("\n\n")[0].replace("\n", " ").strip()


def _default(param: Any) -> str | None:
    value = param.default
    if callable(value) or value is None or value is False or value == [] or value == ():
        return None
    if getattr(param, "is_flag", False) and value is True:
        return "on"
    return str(value)


def _param_doc(param: Any, ctx: Any) -> ParamDoc | None:
    """One argument or option; None for hidden ones and --help (every command has it)."""
    if getattr(param, "hidden", False) or param.name == "help":
        return None
    kind = "option" if param.param_type_name == "option" else "argument"
    record = param.get_help_record(ctx) if hasattr(param, "get_help_record") else None
    display = record[0] if record else param.name
    envvar = param.envvar if isinstance(param.envvar, str) else None
    return ParamDoc(kind, param.name, display, (getattr(param, "help", None) or "").strip(), _default(param),
                    bool(param.required), bool(param.multiple), envvar)


def command_docs(app: Any = None) -> list[CommandDoc]:
    """Every command of the Typer app (plat's, by default), depth first in registration order."""
    import typer

    if app is None:
        from plat.cli import app
    root = typer.main.get_command(app)
    found: list[CommandDoc] = []

    def walk(cmd: Any, ctx: Any) -> str:
        path = ctx.command_path
        subs: list[str] = []
        doc_index = len(found)
        found.append(None)  # type: ignore[arg-type]  # keeps the parent before its children
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is None or sub.hidden:
                    continue
                subs.append(walk(sub, cmd.context_class(sub, info_name=name, parent=ctx)))
        params = tuple(p for p in (_param_doc(p, ctx) for p in cmd.get_params(ctx)) if p is not None)
        usage = cmd.get_usage(ctx).strip().removeprefix("Usage:").strip()
        found[doc_index] = CommandDoc(path, inspect_help(cmd.help), usage, (cmd.epilog or "").strip(), params,
                                      tuple(subs))
        return path

    walk(root, root.context_class(root, info_name=root.name or "plat"))
    return found


def inspect_help(text: str | None) -> str:
    """A command's help as written (docstring indentation removed)."""
    import inspect

    return inspect.cleandoc(text or "")


_EXAMPLES_HEAD = re.compile(r"^Examples?:\s*", re.IGNORECASE)


def examples_of(epilog: str) -> list[str]:
    """The example commands of an epilog: `Examples:` then one per line, or one line joined by ` · `."""
    if not _EXAMPLES_HEAD.match(epilog.strip()):
        return []
    rest = _EXAMPLES_HEAD.sub("", epilog.strip(), count=1)
    lines = [ln.strip() for ln in rest.splitlines() if ln.strip()]
    if len(lines) == 1:
        lines = [part.strip() for part in lines[0].split(" · ") if part.strip()]
    return lines


def command_problems(docs: list[CommandDoc]) -> list[str]:
    """What a command lacks: a help text (every command and group), and an `Examples:` epilog
    whose examples run that command (every command that is not a group)."""
    problems = []
    for doc in docs:
        if not doc.help.strip():
            problems.append(f"`{doc.path}` has no help text (its docstring, or help= for a group)")
        if doc.is_group:
            continue
        examples = examples_of(doc.epilog)
        if not examples:
            problems.append(f"`{doc.path}` has no `Examples:` epilog (epilog= when registering it)")
        elif not any(doc.path in ex for ex in examples):
            problems.append(f"`{doc.path}`: none of its examples runs `{doc.path}`")
    return problems


def _param_rows(params: Iterable[ParamDoc]) -> list[list[str]]:
    rows = []
    for p in params:
        notes = []
        if p.required:
            notes.append("required")
        if p.default is not None:
            notes.append(f"default: {code(p.default)}")
        if p.envvar:
            notes.append(f"env: {code(p.envvar)}")
        if p.repeatable and "repeatable" not in p.help:
            notes.append("repeatable")
        described = md_text(p.help, table=True) + (f" ({'; '.join(notes)})" if notes else "")
        rows.append([code(p.display), described.strip()])
    return rows


def _command_section(doc: CommandDoc, by_path: dict[str, CommandDoc]) -> list[str]:
    lines = [f"## {doc.path}", "", md_text(doc.help) or "(no description)", "", "```text", doc.usage, "```", ""]
    arguments = [p for p in doc.params if p.kind == "argument"]
    options = [p for p in doc.params if p.kind == "option"]
    if arguments:
        lines += table(["Argument", "Description"], _param_rows(arguments)) + [""]
    if options:
        lines += table(["Option", "Description"], _param_rows(options)) + [""]
    if doc.subcommands:
        rows = ([f"[{sub}](#{slug(sub)})", md_text(by_path[sub].summary, table=True)] for sub in doc.subcommands)
        lines += table(["Command", "Description"], rows)
        lines.append("")
    examples = examples_of(doc.epilog)
    if examples:
        lines += ["Examples:", "", "```sh", *examples, "```", ""]
    elif doc.epilog:
        lines += [md_text(doc.epilog), ""]
    return lines


def cli_reference(docs: list[CommandDoc] | None = None) -> str:
    """docs/reference/cli.md: every command's description, usage, options and examples."""
    docs = command_docs() if docs is None else docs
    by_path = {d.path: d for d in docs}
    lines = [GENERATED_NOTE, "", "# Command reference", "",
             ("Every `plat` command as its `--help` describes it (every command takes `-h`/`--help`). "
             "Commands that print data take `--json`; "
             "exit codes are 0 (ok), 1 (an error you can act on, explained in one or two lines; `--debug` adds "
             "the traceback) and 2 (usage). See also the [plat.yaml reference](plat-yaml.md)."), ""]
    lines += table(["Command", "Description"],
                   ([f"[{d.path}](#{slug(d.path)})", md_text(d.summary, table=True)] for d in docs))
    lines.append("")
    for doc in docs:
        lines += _command_section(doc, by_path)
    return "\n".join(lines).rstrip("\n") + "\n"


# -- writing them ------------------------------------------------------------------------------
REFERENCES = {"reference/cli.md": cli_reference, "reference/plat-yaml.md": plat_yaml_reference}


def generate() -> dict[str, str]:
    """Relative path under docs/ → the Markdown it should hold."""
    return {path: make() for path, make in REFERENCES.items()}


def stale(docs_dir: Path, generated: dict[str, str] | None = None) -> list[str]:
    """Generated files under `docs_dir` that are missing or differ from what plat generates now."""
    generated = generate() if generated is None else generated
    out = []
    for rel, text in generated.items():
        path = docs_dir / rel
        if not path.is_file() or path.read_text() != text:
            out.append(rel)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gen_docs", description="Write plat's generated references.")
    parser.add_argument("--out", type=Path, default=DOCS, help="docs folder (default: the checkout's docs/)")
    parser.add_argument("--check", action="store_true", help="only check: exit 1 if a reference is out of date")
    args = parser.parse_args(argv)
    generated = generate()
    if args.check:
        old = stale(args.out, generated)
        for rel in old:
            print(f"{args.out / rel}: out of date; run scripts/gen-docs", file=sys.stderr)
        return 1 if old else 0
    for rel, text in generated.items():
        path = args.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        changed = not path.is_file() or path.read_text() != text
        if changed:
            path.write_text(text)
        print(f"{path}: {'written' if changed else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
