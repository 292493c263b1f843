"""HAProxy, the gateway's native data plane: its config and runtime-API commands, as data.

One backend per app; instances are dynamic servers added and drained through the runtime
API without a reload. The agent's activator is each backend's `backup` server, so a request
for an app with no ready instance reaches the agent, which starts one (scale from zero).
A reload (seamless, master-worker) happens only when the set of apps changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A second line of defence: the contract (plat_contract) admits only safe values at the API's
# edge; every value rendered into HAProxy's config or runtime commands is checked again here.
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_SERVER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_ACTIVATOR = re.compile(r"^_activator_[0-9a-f]{32}$")
ACTIVATOR_PREFIX = "_activator_"
"""The activator's server name: this prefix and a secret made at start-up. HAProxy sends the
chosen server's name in `X-Plat-Via` (replacing any client's), so the activator knows a request
came through the gateway's key check; instances see only their own names, never the secret."""
_ADDRESS = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|\[[0-9a-fA-F:]{2,39}\]|[A-Za-z0-9.-]{1,253}):[0-9]{1,5}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_DOMAIN = re.compile(r"^[a-z0-9.-]{1,253}$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]{0,4000}$")
_BIND = re.compile(r"^[A-Za-z0-9.:\[\]-]{1,255}$")


def _check(pattern: re.Pattern[str], value: object, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"refusing to render {what} {value!r} into HAProxy's config")


def _check_int(value: object, low: int, high: int, what: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"refusing to render {what} {value!r} into HAProxy's config")


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    maxconn: int

    def __post_init__(self) -> None:
        _check(_SERVER, self.name, "server name")
        _check(_ADDRESS, self.address, "server address")
        _check_int(self.maxconn, 1, 1_000_000, "maxconn")


@dataclass(frozen=True)
class AppRoute:
    app: str
    timeout_s: float = 60.0
    servers: tuple[Server, ...] = ()
    api_key_sha256: str | None = None
    """When set, requests need `X-Plat-Key` whose SHA-256 (hex) matches."""

    def __post_init__(self) -> None:
        _check(_NAME, self.app, "app name")
        if not isinstance(self.timeout_s, (int, float)) or not math.isfinite(self.timeout_s) \
                or not 0 < self.timeout_s <= 86_400:
            raise ValueError(f"refusing to render timeout {self.timeout_s!r} into HAProxy's config")
        if self.api_key_sha256 is not None:
            _check(_HEX64, self.api_key_sha256, "API key hash")


@dataclass(frozen=True)
class GatewayConfig:
    bind: str
    port: int
    domain: str
    state_dir: str
    activator: str
    """`host:port` of the agent's activator."""
    control: str
    """`host:port` of the agent's API (for /async/...)."""
    activator_name: str = ACTIVATOR_PREFIX + "0" * 32
    internal_key: str = "0" * 32
    """What the agent's own invoker shows in `X-Plat-Internal` instead of an app's API key (it
    stores async requests without their credentials); made at start-up, never leaves the host."""
    control_tls: bool = False
    """Whether the API serves HTTPS (HAProxy then speaks TLS to it; the hop stays on this host)."""
    max_conn: int = 4096

    def __post_init__(self) -> None:
        _check(_BIND, self.bind, "bind address")
        _check_int(self.port, 0, 65535, "port")
        _check(_DOMAIN, self.domain, "domain")
        _check(_PATH, self.state_dir, "state directory")
        _check(_ADDRESS, self.activator, "activator address")
        _check(_ACTIVATOR, self.activator_name, "activator name")
        _check(_HEX32, self.internal_key, "internal key")
        _check(_ADDRESS, self.control, "control address")
        _check_int(self.max_conn, 1, 10_000_000, "maxconn")


def backend_name(app: str) -> str:
    if not _NAME.fullmatch(app):
        raise ValueError(f"not a DNS label: {app!r}")
    return f"app_{app}"


def render(cfg: GatewayConfig, routes: Iterable[AppRoute]) -> str:
    """The whole haproxy.cfg for the current apps."""
    sock = f"{cfg.state_dir}/haproxy.sock"
    suffix = "." + cfg.domain
    lines = [
        "global",
        f"    maxconn {cfg.max_conn}",
        f"    stats socket {sock} mode 600 level admin expose-fd listeners",
        "    hard-stop-after 60s",
        "",
        "defaults",
        "    mode http",
        "    option http-keep-alive",
        "    http-reuse always",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout queue 30s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        "",
        "frontend gateway",
        f"    bind {cfg.bind}:{cfg.port}",
        "    http-request del-header X-Plat-App",
        "    http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
        # `Host: <app>.<domain>` routes by host; anything else by the first path segment, which is
        # stripped. String fetches only (no regex): this runs on every request of the warm path.
        f"    acl by_host var(txn.host) -m end {suffix}",
        "    acl async path_beg /async/",
        "    http-request set-var(txn.app) var(txn.host),field(1,.) if by_host",
        "    http-request set-var(txn.app) path,field(2,/) if !by_host !async",
        "    http-request set-path /%[path,field(3,/,0)] if !by_host !async",
        "    use_backend agent if async",
        f"    use_backend %[var(txn.app),map({cfg.state_dir}/apps.map,unknown)]",
        "",
        "backend unknown",
        "    http-request return status 404 content-type application/json "
        "string '{\"error\":\"no such app\"}'",
        "",
        "backend agent",
        f"    server agent {cfg.control}" + (" ssl verify none" if cfg.control_tls else ""),
    ]
    for route in sorted(routes, key=lambda r: r.app):
        lines += ["", *_backend(route, cfg)]
    return "\n".join(lines) + "\n"


def _backend(route: AppRoute, cfg: GatewayConfig) -> list[str]:
    lines = [
        f"backend {backend_name(route.app)}",
        "    balance leastconn",
        f"    timeout server {int(route.timeout_s * 1000)}ms",
        f"    http-request set-header X-Plat-App {route.app}",
        "    http-send-name-header X-Plat-Via",
    ]
    if route.api_key_sha256:
        lines.append(
            "    http-request return status 401 content-type application/json "
            "string '{\"error\":\"missing or wrong X-Plat-Key\"}' "
            f"unless {{ req.hdr(X-Plat-Key),sha2(256),hex,lower -m str {route.api_key_sha256.lower()} }} "
            f"|| {{ req.hdr(X-Plat-Internal) -m str {cfg.internal_key} }}"
        )
    lines += [
        "    http-request del-header X-Plat-Key",
        "    http-request del-header X-Plat-Internal",
        "    http-response set-header X-Plat-Instance %[srv_name] "
        f"unless {{ res.hdr(X-Plat-Instance) -m found }} || {{ srv_name -m beg {ACTIVATOR_PREFIX} }}",
        "    http-response set-header X-Plat-Cold-Start 0 unless { res.hdr(X-Plat-Cold-Start) -m found }",
        f"    server {cfg.activator_name} {cfg.activator} backup",
    ]
    lines += [f"    server {s.name} {s.address} maxconn {s.maxconn}" for s in route.servers]
    return lines


def render_map(apps: Iterable[str]) -> str:
    return "".join(f"{app} {backend_name(app)}\n" for app in sorted(apps))


# -- runtime API commands (one string per socket connection) ------------------------------
def add_server(app: str, server: Server) -> str:
    be = backend_name(app)
    return f"add server {be}/{server.name} {server.address} maxconn {server.maxconn}; enable server {be}/{server.name}"


def _server_name(server: str) -> str:
    _check(_SERVER, server, "server name")
    return server


def drain_server(app: str, server: str) -> str:
    return f"set server {backend_name(app)}/{_server_name(server)} state drain"


def maint_server(app: str, server: str) -> str:
    return f"set server {backend_name(app)}/{_server_name(server)} state maint"


def delete_server(app: str, server: str, force: bool = False) -> str:
    """Delete a server in maintenance; `force` first cuts whatever sessions it still has."""
    be, server = backend_name(app), _server_name(server)
    cut = f"shutdown sessions server {be}/{server}; " if force else ""
    return f"{cut}del server {be}/{server}"


@dataclass(frozen=True)
class StatRow:
    backend: str
    server: str
    queued: int
    sessions: int
    last_session_s: int | None
    status: str


def parse_stat(csv_text: str) -> list[StatRow]:
    """`show stat` CSV → rows (FRONTEND/BACKEND rows included, server = their name)."""
    lines = [ln for ln in csv_text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    header = lines[0][2:].split(",")
    idx = {name: i for i, name in enumerate(header)}
    rows = []
    for line in lines[1:]:
        f = line.split(",")

        def num(key: str, f: list[str] = f) -> int:
            v = f[idx[key]] if key in idx and idx[key] < len(f) else ""
            return int(v) if v.lstrip("-").isdigit() else 0

        last = f[idx["lastsess"]] if "lastsess" in idx and idx["lastsess"] < len(f) else ""
        rows.append(StatRow(f[0], f[1], num("qcur"), num("scur"),
                            int(last) if last.lstrip("-").isdigit() and int(last) >= 0 else None,
                            f[idx["status"]] if "status" in idx else ""))
    return rows


def app_load(rows: Iterable[StatRow], app: str) -> tuple[int, Mapping[str, tuple[int, int | None]]]:
    """Queued requests for `app` and, per instance server, (sessions, seconds since last)."""
    be = backend_name(app)
    backend_queue, server_queues, servers = 0, 0, {}
    for row in rows:
        if row.backend != be:
            continue
        if row.server == "BACKEND":
            backend_queue = row.queued
        elif row.server != "FRONTEND" and not row.server.startswith(ACTIVATOR_PREFIX):
            servers[row.server] = (row.sessions, row.last_session_s)
            server_queues += row.queued
    return backend_queue + server_queues, servers
