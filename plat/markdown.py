"""Markdown, read and written: escaping, tables and slugs for the generated references, and
readers (fenced blocks, runnable shell blocks, headings, anchors, links, sections) that the docs
tests and the test running the quickstarts' commands use."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def md_text(text: str, *, table: bool = False) -> str:
    """Plain text as Markdown: `<` and `>` outside code spans escaped (they would start HTML),
    and in a table cell `|` escaped (GFM splits cells on it even inside code) and lines joined."""
    out, pos = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(text[pos:m.start()].replace("<", "&lt;").replace(">", "&gt;"))
        out.append(m.group(0))
        pos = m.end()
    out.append(text[pos:].replace("<", "&lt;").replace(">", "&gt;"))
    result = "".join(out)
    if table:
        result = " ".join(result.split()).replace("|", "\\|")
    return result


def code(text: str) -> str:
    """`text` as a code span (longer fences when it holds backticks)."""
    ticks = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string (```sh no-run → lang "sh", flags ("no-run",))."""

    lang: str
    flags: tuple[str, ...]
    text: str
    line: int
    """1-based line of the opening fence."""


def code_blocks(markdown: str) -> list[Block]:
    blocks, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start, body = m.group("fence"), m.group("info").split(), i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        blocks.append(Block(info[0] if info else "", tuple(info[1:]), "\n".join(body) + "\n", start + 1))
        i += 1
    return blocks


RUN_LANGS = ("sh", "shell", "bash", "console")
NO_RUN = "no-run"


def runnable_blocks(markdown: str) -> list[Block]:
    """The shell blocks a docs test executes: ```sh (or shell, bash), unless marked ```sh no-run."""
    return [b for b in code_blocks(markdown) if b.lang in RUN_LANGS and NO_RUN not in b.flags]


def _outside_code(markdown: str) -> str:
    """The Markdown with fenced blocks and code spans blanked (links in code are not links)."""
    kept, fence = [], None
    for line in markdown.splitlines():
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group("fence")
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        kept.append(_CODE_SPAN.sub("", line))
    return "\n".join(kept)


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of every ATX heading outside code blocks."""
    return [(len(m.group(1)), m.group(2).strip()) for m in
            re.finditer(r"^(#{1,6})\s+(.+?)\s*#*\s*$", _outside_code(markdown), re.MULTILINE)]


def anchors(markdown: str) -> set[str]:
    """Anchors a file offers: its headings' slugs (repeats get -1, -2 as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for _, text in headings(markdown):
        s = slug(text)
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    return out


def links(markdown: str) -> list[str]:
    """Targets of inline links and images outside code: `[text](target)`."""
    return [m.group(1) for m in re.finditer(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", _outside_code(markdown))]


def sections(markdown: str, level: int = 2) -> dict[str, str]:
    """Heading text → the Markdown under it, up to the next heading of that level or higher."""
    out: dict[str, str] = {}
    current, body = None, []
    for line in markdown.splitlines():
        m = re.match(r"^(#{1,6})\s+(.+?)\s*$", line)
        if m and len(m.group(1)) <= level:
            if current is not None:
                out[current] = "\n".join(body)
            current, body = (m.group(2) if len(m.group(1)) == level else None), []
            continue
        body.append(line)
    if current is not None:
        out[current] = "\n".join(body)
    return out
