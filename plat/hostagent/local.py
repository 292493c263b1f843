"""The local agent: the embedded default when plat.yaml names no hosts.

`plat agent up` builds the agent image (from the `agent/` package, cached by content) and runs
it as a container with the Docker socket mounted, restart policy `unless-stopped`, its API and
gateway published on 127.0.0.1 only, and its state (and admin token) under PLAT_HOME.

`PLAT_AGENT_URL` (with `PLAT_AGENT_TOKEN_FILE`) names a local agent that something else runs,
docker-compose's say: plat then connects to it and never starts its own.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from plat.docker_client import docker
from plat.errors import PlatError
from plat.hostagent.install import API_PORT, CONTAINER, NETWORK, SETUP_LABEL, container_spec, ensure_image
from plat.paths import default_plat_home, plat_home

PASSED_THROUGH = ("PLAT_LABELS", "PLAT_AGENT_IDLE_TIMEOUT", "PLAT_AGENT_TICK", "PLAT_AGENT_MAX_ATTEMPTS",
                  "PLAT_AGENT_PAUSED_TTL", "PLAT_AGENT_STOPPED_TTL", "PLAT_AGENT_MAX_PAUSED", "PLAT_AGENT_MAX_STOPPED",
                  "PLAT_AGENT_DOMAIN", "PLAT_AGENT_KEEP_VERSIONS", "PLAT_AGENT_FAULT")
"""Agent settings the CLI's environment hands to the local agent."""


@dataclass(frozen=True)
class LocalAgent:
    api_url: str
    gateway_url: str
    token: str
    container: str


def ports(env: dict[str, str] | None = None) -> tuple[int, int]:
    env = dict(os.environ) if env is None else env
    return _port(env, "PLAT_AGENT_API_PORT", API_PORT), _port(env, "PLAT_AGENT_GATEWAY_PORT", 8080)


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise PlatError(f"{name}={raw!r}: not a TCP port", f"set {name} to a number from 1 to 65535, or unset it")
    return int(raw)


def _home_digest() -> str:
    return hashlib.sha256(str(plat_home() / "agent").encode()).hexdigest()[:10]


def agent_id() -> str:
    """The local agent's id (its instances are labelled with it): one per PLAT_HOME."""
    return "local-" + _home_digest()


def container_name() -> str:
    """One local agent per PLAT_HOME: `plat-agent` for the default home, `plat-agent-<digest>`
    for any other, so an agent under another PLAT_HOME (a test's, a second checkout's) never
    replaces the developer's own."""
    return CONTAINER if plat_home() == default_plat_home() else f"{CONTAINER}-{_home_digest()}"


def activator_port(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    return int(env.get("PLAT_AGENT_ACTIVATOR_PORT", API_PORT + 1))


def _container(client: docker.DockerClient):
    try:
        return client.containers.get(container_name())
    except docker.errors.NotFound:
        return None


def up(client: docker.DockerClient, wait: float = 60.0) -> LocalAgent:
    """Start the local agent, or leave it be when it already runs with this exact setup (or
    when PLAT_AGENT_URL names one that something else runs: then just connect)."""
    if endpoints().external:
        return connect_info(wait)
    image = ensure_image(client)
    api_port, gw_port = ports()
    state = plat_home() / "agent"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {"PLAT_AGENT_NETWORK": NETWORK, "PLAT_AGENT_API_BIND": "127.0.0.1", "PLAT_AGENT_GATEWAY_BIND": "127.0.0.1",
           "PLAT_AGENT_API_PORT": str(api_port), "PLAT_AGENT_GATEWAY_PORT": str(gw_port),
           "PLAT_AGENT_ACTIVATOR_PORT": str(activator_port()),
           "PLAT_AGENT_ID": agent_id()}
    for key in PASSED_THROUGH:
        if os.environ.get(key):
            env[key] = os.environ[key]
    spec = container_spec(image, env, str(state), container_name())
    current = _container(client)
    if current is not None and current.labels.get(SETUP_LABEL) == spec["labels"][SETUP_LABEL] \
            and current.status == "running":
        return connect_info(wait)
    if current is not None:
        current.remove(force=True)
    if not any(n.name == NETWORK for n in client.networks.list(names=[NETWORK])):
        client.networks.create(NETWORK, driver="bridge", labels={"plat.managed": "true"})
    try:
        client.containers.run(**spec)
    except docker.errors.APIError as exc:
        raise PlatError(f"could not start the local agent: {exc.explanation or exc}") from None
    return connect_info(wait)


@dataclass(frozen=True)
class Endpoints:
    api_url: str
    gateway_url: str
    token_file: Path
    external: bool
    """Run by something else (PLAT_AGENT_URL): plat connects to it but never starts one."""


def endpoints(env: dict[str, str] | None = None) -> Endpoints:
    """Where the local agent answers and where its admin token is.

    Default: plat's own agent on 127.0.0.1 (PLAT_AGENT_API_PORT / PLAT_AGENT_GATEWAY_PORT), token
    under PLAT_HOME. `PLAT_AGENT_URL` (e.g. http://127.0.0.1:7170) names an agent plat does not
    run; its gateway is on the same host at PLAT_AGENT_GATEWAY_PORT, and `PLAT_AGENT_TOKEN_FILE`
    says where its admin token is.
    """
    env = dict(os.environ) if env is None else env
    api_port, gw_port = ports(env)
    home = Path(env["PLAT_HOME"]) if env.get("PLAT_HOME") else plat_home()
    token_file = Path(env.get("PLAT_AGENT_TOKEN_FILE") or home / "agent" / "admin-token")
    url = (env.get("PLAT_AGENT_URL") or "").rstrip("/")
    if not url:
        return Endpoints(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{gw_port}", token_file, False)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlatError(f"PLAT_AGENT_URL={url!r}: expected an agent API URL such as http://127.0.0.1:7170")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Endpoints(url, f"http://{host}:{gw_port}", token_file, True)


def connect_info(wait: float = 0.0) -> LocalAgent:
    """The running local agent's endpoints and admin token (waits up to `wait` seconds)."""
    where = endpoints()
    api = where.api_url
    deadline = time.monotonic() + wait
    while True:
        try:
            token = where.token_file.read_text().strip()
            if httpx.get(f"{api}/v1/health", headers={"Authorization": f"Bearer {token}"},
                         timeout=2).status_code == 200:
                return LocalAgent(api, where.gateway_url, token, container_name())
        except (OSError, httpx.HTTPError):
            pass
        if time.monotonic() >= deadline:
            hint = (f"PLAT_AGENT_URL names it; is it up, and is its admin token in {where.token_file} "
                    "(PLAT_AGENT_TOKEN_FILE)?" if where.external else "start it with `plat agent up`")
            raise PlatError(f"the local agent does not answer at {api}", hint)
        time.sleep(0.2)


def down(client: docker.DockerClient, purge: bool = False) -> bool:
    """Stop the agent (app containers stay, to be re-adopted) or, with purge, remove them too."""
    current = _container(client)
    if current is not None:
        current.remove(force=True)
    if purge:
        for c in client.containers.list(all=True,
                                        filters={"label": ["plat.role=instance", f"plat.agent={agent_id()}"]}):
            c.remove(force=True)
    return current is not None


def status(client: docker.DockerClient) -> dict[str, object]:
    current = _container(client)
    api_port, gw_port = ports()
    return {"running": bool(current and current.status == "running"), "container": container_name(),
            "image": current.image.tags[0] if current and current.image.tags else None,
            "api": f"http://127.0.0.1:{api_port}", "gateway": f"http://127.0.0.1:{gw_port}"}
