"""docs/reference/plat-yaml.md from plat.yaml's JSON Schema: every key with its type, default
and description, an example that uses every section, and where each model is used. Pure."""

from __future__ import annotations

from typing import Any

from tools.markdown import GENERATED_NOTE, code, md_text, slug, table

EXAMPLE_MANIFEST = """\
name: shop                      # a DNS label
runtime: python-flask           # detected when omitted (plat detect --explain)
port: 8080                      # the app listens on $PORT
health: /healthz                # 2xx/3xx = healthy
build:
  base_image: python:3.12-slim  # or env PLAT_BASE_IMAGE_PYTHON_FLASK
  args: {MODE: prod}            # never secrets: they land in the image history
env: {LOG_LEVEL: info}          # non-secret; secrets go through `plat secrets set`
scale: {min_warm: 1, max_instances: 4, concurrency: 32, idle_timeout: 5m}
resources: {memory: 256m, cpus: 0.5}
hosts:                          # [user@]host[:port], or an alias from ~/.ssh/config
  - deploy@web1.example.com
  - host: web2
    labels: {zone: b}
environments:                   # plat deploy -e production
  production:
    hosts: [web3, web4, web5, web6]
    deploy: {batch: 25%}
deploy:
  batch: 1                      # hosts switched at a time (a count or a percentage)
  parallel: 8                   # hosts worked on at once
  on_failure: rollback          # or keep
registry: registry.example.com/team   # optional: push once, hosts pull
agent: {gateway_port: 80, domain: apps.example.com}
"""
"""A plat.yaml that uses every section; the docs tests validate it."""


TOP_LEVEL = "Top level"


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _constraints(node: dict[str, Any]) -> list[str]:
    out = []
    if "minimum" in node and "maximum" in node:
        out.append(f"{node['minimum']}–{node['maximum']}")
    elif "minimum" in node:
        out.append(f"≥ {node['minimum']}")
    elif "maximum" in node:
        out.append(f"≤ {node['maximum']}")
    if "exclusiveMinimum" in node or "gt" in node:
        out.append(f"> {node.get('exclusiveMinimum', node.get('gt'))}")
    if "pattern" in node:
        out.append(f"matches {code(node['pattern'])}")
    return out


def type_of(node: dict[str, Any]) -> str:
    """A schema node's type in words: `string`, `integer (1–65535)`, `list of string or [Host](#host)`."""
    name = _ref_name(node)
    if name:
        return f"[{name}](#{slug(name)})"
    if "anyOf" in node:
        parts = [type_of(n) for n in node["anyOf"] if n.get("type") != "null"]
        words: list[str] = []
        for p in parts:
            for w in p.split(" or "):
                if w not in words:
                    words.append(w)
        text = " or ".join(words)
        extra = _constraints(node)
        return f"{text} ({', '.join(extra)})" if extra else text
    if "enum" in node:
        return " or ".join(code(str(v)) for v in node["enum"])
    if "const" in node:
        return code(str(node["const"]))
    kind = node.get("type")
    if kind == "array":
        return f"list of {type_of(node.get('items') or {})}"
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            return f"map of name to {type_of(values)}"
        patterns = node.get("patternProperties")
        if isinstance(patterns, dict) and len(patterns) == 1:
            (pattern, values), = patterns.items()
            return f"map of name (`{pattern}`) to {type_of(values)}"
        return "mapping"
    text = str(kind or "any")
    extra = _constraints(node)
    return f"{text} ({', '.join(extra)})" if extra else text


def default_of(node: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" in node:
        value = node["default"]
        if value is None:
            return "unset"
        if isinstance(value, bool):
            return code("true" if value else "false")
        return code(str(value)) if not isinstance(value, str) else code(value)
    if _ref_name(node):
        return "see below"
    if node.get("type") == "object":
        return code("{}")
    if node.get("type") == "array":
        return code("[]")
    return "unset"


def _walk_refs(node: Any, path: str, found: dict[str, list[str]]) -> None:
    """Where each model is used, as key paths (`hosts[]`, `environments.<name>.deploy`)."""
    if not isinstance(node, dict):
        return
    name = _ref_name(node)
    if name:
        if path not in found.setdefault(name, []):
            found[name].append(path)
        return
    for alt in node.get("anyOf", []):
        _walk_refs(alt, path, found)
    if node.get("type") == "array":
        _walk_refs(node.get("items"), f"{path}[]", found)
    if isinstance(node.get("additionalProperties"), dict):
        _walk_refs(node["additionalProperties"], f"{path}.<name>", found)


def model_paths(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Model name → the key paths where plat.yaml uses it."""
    defs = schema.get("$defs", {})
    found: dict[str, list[str]] = {}
    todo: list[tuple[dict[str, Any], str]] = [(schema, "")]
    done: set[tuple[str, str]] = set()
    while todo:
        model, prefix = todo.pop(0)
        for key, prop in model.get("properties", {}).items():
            before = {k: list(v) for k, v in found.items()}
            _walk_refs(prop, f"{prefix}{key}", found)
            for name, paths in found.items():
                for p in paths:
                    if p not in before.get(name, []) and (name, p) not in done:
                        done.add((name, p))
                        todo.append((defs[name], f"{p}."))
    return found


def _model_rows(model: dict[str, Any]) -> list[list[str]]:
    required = set(model.get("required", []))
    rows = []
    for key, prop in model.get("properties", {}).items():
        description = prop.get("description") or ""
        if not description and _ref_name(prop):
            description = (model.get("$defs", {}).get(_ref_name(prop), {}) or {}).get("description", "")
        item = (prop.get("items") or {}).get("description") if prop.get("type") == "array" else None
        if item:
            description = f"{description} Each item: {item[0].lower()}{item[1:]}".strip()
        rows.append([code(key), type_of(prop), default_of(prop, key in required), md_text(description, table=True)])
    return rows


def plat_yaml_reference(schema: dict[str, Any] | None = None) -> str:
    """docs/reference/plat-yaml.md: every key of plat.yaml with its type, default and description."""
    if schema is None:
        from plat.config import manifest_schema

        schema = manifest_schema()
    defs = schema.get("$defs", {})
    used_at = model_paths(schema)
    lines = [GENERATED_NOTE, "", "# plat.yaml reference", "",
             ("An app's settings live in `plat.yaml` in its folder. plat validates the file once, when a command "
             "starts: an unknown key is refused with a \"did you mean\", and every error names the file, the key and "
             "what was expected. `plat schema` prints the same information as JSON Schema (for editors). "
             "See also the [command reference](cli.md)."), "",
             "## Example", "", "```yaml", EXAMPLE_MANIFEST.rstrip("\n"), "```", "",
             f"## {TOP_LEVEL}", "", md_text(schema.get("description", "")), ""]
    top = {**schema, "$defs": defs}
    lines += table(["Key", "Type", "Default", "Description"], _model_rows(top)) + [""]
    for name in [*used_at, *(n for n in defs if n not in used_at)]:
        model = {**defs[name], "$defs": defs}
        lines += [f"## {name}", ""]
        if model.get("description"):
            lines += [md_text(model["description"]), ""]
        paths = used_at.get(name, [])
        if paths:
            lines += ["Used at " + ", ".join(code(p) for p in paths) + ".", ""]
        lines += table(["Key", "Type", "Default", "Description"], _model_rows(model)) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def schema_keys(schema: dict[str, Any]) -> dict[str, list[str]]:
    """Section (model title) → its keys, for checking that the reference names every key."""
    out = {TOP_LEVEL: list(schema.get("properties", {}))}
    for name, model in schema.get("$defs", {}).items():
        out[name] = list(model.get("properties", {}))
    return out
