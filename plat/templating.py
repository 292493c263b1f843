"""Render a template folder: `.j2` files through Jinja2 (strict), others copied as they are.

One renderer for the build scaffold, the dev image and `plat init`'s starter apps.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2


def render_tree(folder: Path, variables: Mapping[str, object], prefix: str = "") -> dict[str, bytes]:
    """`prefix + relative path` (the `.j2` suffix dropped) → content, for every file under `folder`."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    out: dict[str, bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.endswith(".j2"):
            out[prefix + rel[:-3]] = env.get_template(rel).render(**variables).encode()
        else:
            out[prefix + rel] = path.read_bytes()
    return out
