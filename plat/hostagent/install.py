"""The agent as plat installs it, locally or on a host: its image (built from the `agent/` and
`plat_contract/` packages, cached by content), its container and the names both share."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from plat import __version__
from plat.builder.context import ContextPlan, content_hash, source_files
from plat.builder.docker_backend import build as docker_build
from plat.builder.pipeline import DIGEST_LABEL, existing_build
from plat.docker_client import docker, extra_labels
from plat.paths import agent_dir

CONTAINER = "plat-agent"
"""The agent's container name: on hosts, and locally for the default PLAT_HOME."""
STATE_DIR = "/var/lib/plat-agent"
"""Where the agent keeps its state inside its container (and on a host)."""
API_PORT = 7070
"""The control API's port: on a host always (on 127.0.0.1), locally by default."""
NETWORK = "plat"
"""The base name of the agents' bridge (instances run on `plat-apps`, inter-container traffic off)."""
SETUP_LABEL = "plat.agent-setup"
"""A hash of an agent container's whole setup: an unchanged agent is left running."""


def _python_sources(folder: Path) -> list[str]:
    return [p for p in source_files(folder) if "__pycache__" not in p and not p.endswith(".pyc")]


def contract_files() -> dict[str, bytes]:
    """The contract package (`plat_contract/…`), from wherever it is installed: the agent imports it."""
    import plat_contract

    src = Path(plat_contract.__file__).parent
    return {f"plat_contract/{p}": (src / p).read_bytes() for p in _python_sources(src) if p.endswith(".py")}


def agent_plan(env: dict[str, str] | None = None) -> ContextPlan:
    """The agent image's build context: the agent package, the contract package and an
    optional extra CA bundle."""
    env = dict(os.environ) if env is None else env
    src = agent_dir()
    files = tuple(f"agent/{p}" for p in _python_sources(src))
    ca_path = env.get("PLAT_EXTRA_CA_CERTS")
    ca = Path(ca_path).read_bytes() if ca_path else b""
    base = env.get("PLAT_AGENT_BASE_IMAGE") or env.get("PLAT_BASE_IMAGE_PYTHON_FLASK") or "python:3.12-slim"
    dockerfile = (src / "Dockerfile").read_text().replace("ARG AGENT_BASE=python:3.12-slim", f"ARG AGENT_BASE={base}")
    return ContextPlan(src.parent, ("agent", *files), {"Dockerfile": dockerfile.encode(), "ca/extra.crt": ca,
                                                        **contract_files()},
                       "Dockerfile")


def container_spec(image: str, env: dict[str, str], state_dir: str, name: str = CONTAINER) -> dict[str, Any]:
    """`containers.run` arguments for an agent (local or on a host).

    Host networking: the gateway and API bind the host's own addresses (no userland port proxy
    in the data path) and HAProxy reaches instances on the private bridge. The setup label is a
    hash of everything here, so an unchanged agent is left running.
    """
    setup = hashlib.sha256(json.dumps([image, env, state_dir], sort_keys=True).encode()).hexdigest()
    return dict(
        image=image, name=name, detach=True, environment=env, network_mode="host",
        labels={"plat.managed": "true", "plat.role": "agent", SETUP_LABEL: setup, **extra_labels()},
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                 state_dir: {"bind": STATE_DIR, "mode": "rw"}},
        restart_policy={"Name": "unless-stopped"}, security_opt=["no-new-privileges"],
    )


def ensure_image(client: docker.DockerClient) -> str:
    plan = agent_plan()
    digest = content_hash(plan)
    ref = f"plat-agent:{__version__}-{digest[:12]}"
    if existing_build(client, ref, digest):
        return ref
    docker_build(client, plan, ref, labels={"plat.managed": "true", "plat.role": "agent-image", DIGEST_LABEL: digest,
                                            **extra_labels()})
    return ref
