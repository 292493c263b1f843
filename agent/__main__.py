"""Run the agent: `python -m agent`, configured by PLAT_AGENT_* environment variables."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import ssl
import sys
import threading
from collections.abc import Mapping

import docker

from agent.activator import make_activator
from agent.api import make_api
from agent.core import Agent
from agent.db import Store
from agent.docker_driver import DockerDriver
from agent.gateway import Gateway
from agent.haproxy_config import ACTIVATOR_PREFIX, GatewayConfig
from agent.httpserver import tls_context
from agent.invoker import Invoker
from agent.settings import ConfigError, Settings
from agent.tokens import ADMIN_TOKEN_FILE, bootstrap_admin

log = logging.getLogger("plat.agent")


def control_address(api_bind: str, api_port: int) -> str:
    """Where the gateway reaches the API on this host: loopback when it listens on every address."""
    host = "127.0.0.1" if api_bind in ("0.0.0.0", "", "localhost") else api_bind
    return f"{host}:{api_port}"


def _tls(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        return tls_context(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"PLAT_AGENT_TLS_CERT={str(settings.tls_cert)!r}, PLAT_AGENT_TLS_KEY="
                          f"{str(settings.tls_key)!r}: cannot load them as a PEM certificate and key: {exc}") from None


def run(env: Mapping[str, str]) -> None:
    settings = Settings.from_env(env)
    tls = _tls(settings)  # a certificate that does not load stops the agent before it touches anything
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.state_dir.chmod(0o700)  # mkdir's mode is masked by the umask and ignored for an existing dir
    store = Store(settings.state_dir / "agent.db")
    if bootstrap_admin(store, settings.state_dir):
        log.info("wrote a new admin token to %s", settings.state_dir / ADMIN_TOKEN_FILE)
    labels = dict(item.split("=", 1) for item in env.get("PLAT_LABELS", "").split(",") if "=" in item)
    driver = DockerDriver(docker.from_env(timeout=120), settings.network, labels, settings.agent_id)
    driver.ensure_network()
    activator_name = ACTIVATOR_PREFIX + secrets.token_hex(16)
    internal_key = secrets.token_hex(16)
    gw_cfg = GatewayConfig(bind=settings.gateway_bind, port=settings.gateway_port, domain=settings.domain,
                           state_dir=str(settings.state_dir), activator=f"127.0.0.1:{settings.activator_port}",
                           activator_name=activator_name, internal_key=internal_key,
                           control=control_address(settings.api_bind, settings.api_port), control_tls=settings.tls)
    agent = Agent(settings, store, driver, router=None)  # type: ignore[arg-type]  # set just below: the gateway needs agent.routes
    gateway = Gateway(gw_cfg, agent.routes, settings.haproxy)
    agent.router = gateway
    agent.reload_gateway = gateway.reload
    agent.adopt()
    gateway.start()
    api = make_api(agent, settings.api_bind, settings.api_port, tls)
    activator = make_activator(agent, "127.0.0.1", settings.activator_port, gateway_name=activator_name)
    invoker = Invoker(store, f"127.0.0.1:{settings.gateway_port}", settings.workers, settings.request_timeout,
                      internal_key=internal_key)
    stop = threading.Event()

    def control_loop() -> None:
        while not stop.wait(settings.tick):
            agent.tick()

    for target in (api.serve_forever, activator.serve_forever, control_loop):
        threading.Thread(target=target, daemon=True).start()
    invoker.start()
    log.info("agent up: api %s://%s:%s, gateway %s:%s", "https" if tls else "http", settings.api_bind,
             settings.api_port, settings.gateway_bind, settings.gateway_port)

    def shutdown(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    stop.wait()
    # App containers stay up: the next agent re-adopts them by label.
    invoker.stop.set()
    api.shutdown()
    activator.shutdown()
    gateway.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    run(os.environ)
