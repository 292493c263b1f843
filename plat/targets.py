"""Where commands send their work. With no hosts in plat.yaml: the local agent."""

from __future__ import annotations

from dataclasses import dataclass

from plat.agent_client import AgentClient


@dataclass(frozen=True)
class Target:
    name: str
    client: AgentClient
    gateway_url: str


def local(start: bool = False) -> Target:
    """The local agent; with `start`, brought up (image built) if it is not running."""
    from plat import local_agent

    if start:
        from plat.docker_client import connect

        info = local_agent.up(connect())
    else:
        info = local_agent.connect_info()
    return Target("local", AgentClient(info.api_url, info.token), info.gateway_url)
