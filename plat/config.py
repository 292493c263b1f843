"""The app manifest, `plat.yaml`: validated once, at the edge, into typed objects.

Every error names the file, the key path and what was expected; unknown keys get a
"did you mean". `manifest_schema()` is the published JSON Schema.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from plat.errors import PlatError
from plat.paths import read_tree_file
from plat_contract.manifest import Resources, Scale
from plat_contract.patterns import DNS_LABEL, HEALTH_PATH, EnvKey, EnvValue, ImageRef

MANIFEST = "plat.yaml"
# Values that reach a generated Dockerfile or the builder's argv: one word each.
Platform = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+/[a-z0-9]+(/[a-z0-9]+)?$")]
# A folder below the app's: path segments that start with a letter, digit or `_` (so no `..`).
FolderName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$",
                                              max_length=255)]
SECRETISH = re.compile(r"(?i)(secret|token|passw|credential|private|api[_-]?key|access[_-]?key)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Build(_Strict):
    """How the image is built."""

    dockerfile: str | None = Field(None, description="Your own Dockerfile (relative to context); "
                                                     "it wins over the scaffold.")
    context: str = Field(".", description="Build context, relative to the app folder.")
    args: dict[EnvKey, EnvValue] = Field(default_factory=dict,
                                         description="Build args. Never secrets: use `plat secrets`.")
    base_image: ImageRef | None = Field(None, description="Override the runtime's base image.")
    platform: Platform | None = Field(None, description="Target platform, e.g. linux/amd64.")
    main: FolderName | None = Field(None, description="Go: the main package to build when there are several, "
                                                  "e.g. cmd/server.")
    frontend: FolderName | bool | None = Field(None,
                                               description="Frontend folder (python-flask), or false to ignore one.")

    @field_validator("args")
    @classmethod
    def _no_secret_args(cls, args: dict[str, str]) -> dict[str, str]:
        for key in args:
            if SECRETISH.search(key):
                raise ValueError(
                    f"build arg {key!r} looks like a secret; build args end up in the image "
                    "history, so pass secrets at run time with `plat secrets set`"
                )
        return args


class Host(_Strict):
    """One host: reached over SSH (default) or its agent's HTTPS API."""

    host: str = Field(description="[user@]host[:port]; the host may be an alias from your SSH config.")
    labels: dict[str, str] = Field(default_factory=dict, description="Free labels, for `--label key=value` selection.")
    transport: Literal["ssh", "http"] = Field("ssh", description="ssh: the agent API through an SSH tunnel; "
                                              "http: the agent's HTTPS API with a token (images via the registry).")
    url: str | None = Field(None, description="transport http: the agent API's URL, e.g. https://h1.example.com:7070.")
    token_env: str | None = Field(None, description="transport http: environment variable holding the agent token.")
    ca: str | None = Field(None, description="transport http: CA bundle (PEM) that signed the agent's certificate; "
                           "a relative path is relative to plat.yaml.")
    gateway: str | None = Field(None, description="Public gateway URL shown after deploys, e.g. https://h1.example.com.")

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("the agent API travels over HTTPS only: expected https://host:port")
        return value


HostEntry = Annotated[str | Host, Field(description="A host: `[user@]host[:port]`, or a mapping with labels.")]
_BATCH = re.compile(r"^(\d+)%$")


class Deploy(_Strict):
    """How a deploy rolls across hosts."""

    parallel: int = Field(8, ge=1, le=256, description="Hosts worked on at once (delivery and switch).")
    batch: int | str | None = Field(None, description="Hosts switched per batch: a count or a percentage like '25%'; "
                                    "default all at once.")
    on_failure: Literal["rollback", "keep"] = Field("rollback", description="When a host fails: roll back the hosts "
                                                    "already switched, or keep them (and say so).")

    @field_validator("batch")
    @classmethod
    def _batch(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("expected at least 1 host per batch")
        if isinstance(value, str) and not (_BATCH.match(value) and 0 < int(value[:-1]) <= 100):
            raise ValueError("expected a count of hosts or a percentage such as '25%'")
        return value


class AgentSettings(_Strict):
    """The agent plat installs on hosts."""

    gateway_port: int = Field(80, ge=1, le=65535, description="Port the gateway listens on (all interfaces).")
    domain: str | None = Field(None, description="Apps answer on <app>.<domain> as well as /<app>/.")


class ScaleOverride(_Strict):
    """Scale keys an environment changes; checked together with the top level's once merged."""

    min_warm: int | None = None
    max_instances: int | None = None
    concurrency: int | None = None
    idle_timeout: str | int | None = None


class Environment(_Strict):
    """Any app key of plat.yaml, for one environment (`plat deploy -e NAME`): merged over the top
    level (mappings key by key, lists and values replaced) and held to the same rules."""

    runtime: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    health: str | None = None
    build: Build | None = None
    env: dict[EnvKey, EnvValue] | None = Field(None, description="Merged over the top level's `env:`, key by key.")
    scale: ScaleOverride | None = Field(None, description="Merged over the top level's `scale:`, key by key.")
    resources: Resources | None = None
    hosts: list[HostEntry] | None = Field(None, description="Hosts of this environment (replace the top level's).")
    registry: str | None = Field(None, description="Registry for this environment.")
    deploy: Deploy | None = Field(None, description="Rollout settings, merged over the top level's.")
    agent: AgentSettings | None = None


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on `base`: mappings merge key by key, anything else (lists, values) replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class Manifest(_Strict):
    """An app: a container that serves HTTP on $PORT."""

    name: str = Field(description="App name: a DNS label (a-z, 0-9, '-', at most 63).")
    runtime: str | None = Field(None, description="Runtime; detected when omitted.")
    port: Annotated[int, Field(ge=1, le=65535)] | None = Field(None, description="Port the app listens on ($PORT).")
    health: str = Field("/", description="Health check path: 2xx/3xx means healthy.")
    build: Build = Field(default_factory=Build)
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict, description="Non-secret environment variables.")
    scale: Scale = Field(default_factory=Scale)
    resources: Resources = Field(default_factory=Resources)
    hosts: list[HostEntry] = Field(default_factory=list, description="Hosts to deploy to; empty means the local agent.")
    registry: str | None = Field(None, description="Image registry; none means images travel over SSH.")
    environments: dict[str, Environment] = Field(
        default_factory=dict, description="Named environments (`-e NAME`), each overriding any app key above.")
    deploy: Deploy = Field(default_factory=Deploy)
    agent: AgentSettings = Field(default_factory=AgentSettings)

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(
                f"{value!r} is not DNS-label safe: use lowercase letters, digits and '-', "
                f"start and end with a letter or digit, at most 63 characters (e.g. {slugify(value)!r})"
            )
        return value

    @field_validator("health")
    @classmethod
    def _path(cls, value: str) -> str:
        if not HEALTH_PATH.fullmatch(value):
            raise ValueError("expected a URL path starting with '/' (no spaces, at most 256 characters)")
        return value

    def for_environment(self, name: str | None) -> Manifest:
        """The app as environment `name` sees it (itself for None); PlatError for an unknown one."""
        if name is None:
            return self
        env = self.environments.get(name)
        if env is None:
            known = ", ".join(self.environments) or "none defined"
            raise PlatError(f"plat.yaml: no environment {name!r} (known: {known})",
                            "add it under `environments:` or pick another with -e")
        # It keeps `environments`, so applying one again changes nothing.
        return Manifest.model_validate({**self.merged_data(name), "environments": self.environments})

    def merged_data(self, name: str) -> dict[str, Any]:
        base = self.model_dump(exclude_unset=True, exclude={"environments"})
        return merged(base, self.environments[name].model_dump(exclude_unset=True))


def slugify(text: str) -> str:
    """The nearest DNS label to `text` (for suggestions and default names)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (slug[:63].strip("-")) or "app"


def manifest_schema() -> dict[str, Any]:
    return Manifest.model_json_schema()


def _known_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the model at key path `loc`, to suggest a spelling."""
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


_PRIVATE_KEYS = ("env", "args", "hosts", "url")
"""Where plat.yaml values may be secrets (or carry credentials): errors never echo them."""


def _shown_input(loc: tuple[str | int, ...], value: Any) -> str:
    if any(str(part) in _PRIVATE_KEYS for part in loc):
        return f" (keys: {', '.join(map(str, value))})" if isinstance(value, dict) else ""
    return f" (got {value!r})"


def _explain(path: Path, exc: ValidationError, prefix: str = "") -> PlatError:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = prefix + (".".join(str(p) for p in loc) or "(top level)")
        if err["type"] == "extra_forbidden":
            known = _known_keys(Manifest, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            lines.append(f"{path}: {key}: unknown key{hint}")
        elif err["type"] == "missing":
            lines.append(f"{path}: {key}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {key}: {msg}{_shown_input(loc, err.get('input'))}")
    return PlatError(lines[0] if len(lines) == 1 else "\n".join(lines),
                     "fix plat.yaml (see `plat schema` for every key)")


def parse_manifest(data: Any, path: Path) -> Manifest:
    if not isinstance(data, dict):
        raise PlatError(f"{path}: expected a mapping of keys (name, runtime, port, ...)",
                        "see `plat schema`")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise _explain(path, exc) from None
    for name in manifest.environments:  # each environment is a whole app too: held to the same rules
        try:
            Manifest.model_validate(manifest.merged_data(name))
        except ValidationError as exc:
            raise _explain(path, exc, prefix=f"environments.{name}.") from None
    return manifest


def load_manifest(app_dir: Path) -> Manifest | None:
    """The folder's plat.yaml, or None when it has none."""
    path = app_dir / MANIFEST
    text = read_tree_file(app_dir, MANIFEST, "plat.yaml is YAML text (see `plat schema` for every key)")
    if text is None:
        return None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise PlatError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return _anchored(parse_manifest(data, path), app_dir)


def _anchored(manifest: Manifest, base: Path) -> Manifest:
    """Host `ca:` paths made absolute (relative ones are relative to plat.yaml, `~` expanded),
    so a command run from anywhere finds the same file."""
    def anchor(entry: str | Host) -> str | Host:
        if isinstance(entry, str) or not entry.ca:
            return entry
        return entry.model_copy(update={"ca": str(base.resolve() / Path(entry.ca).expanduser())})

    envs = {name: env.model_copy(update={"hosts": [anchor(h) for h in env.hosts]}) if env.hosts is not None else env
            for name, env in manifest.environments.items()}
    return manifest.model_copy(update={"hosts": [anchor(h) for h in manifest.hosts], "environments": envs})


def parse_dotenv(text: str, path: Path) -> dict[str, str]:
    """`.env` lines as python-dotenv reads them (KEY=value, `export`, quotes, `#` comments, no
    interpolation): for non-secret settings. A line it cannot read is an error naming the line."""
    from dotenv.parser import parse_stream  # its parser module: the one place that reports bad lines

    env: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise PlatError(f"{path}:{binding.original.line}: expected KEY=value",
                            "write each setting as KEY=value (quote values with spaces or #)")
        if binding.key is not None:
            env[binding.key] = binding.value or ""
    return env


def load_dotenv(app_dir: Path) -> dict[str, str]:
    """The app's `.env`; one that is a link leading out of the app folder is refused (an
    archive or a clone could otherwise read any file of the deploying machine into an image)."""
    text = read_tree_file(app_dir, ".env", "write .env as KEY=value lines of text")
    return parse_dotenv(text, app_dir / ".env") if text is not None else {}


MASK = "***"
def masked(data: Any, key: str = "") -> Any:
    """`data` with values under secret-looking keys, and passwords in URLs, replaced by ***."""
    if isinstance(data, dict):
        return {k: masked(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, key) for v in data]
    if isinstance(data, str):
        if SECRETISH.search(key) and key != "token_env":
            return MASK
        parts = urlsplit(data) if "://" in data else None
        if parts is not None and parts.password:
            host = parts.hostname or ""
            netloc = f"{parts.username}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
    return data
