from __future__ import annotations

from typing import Annotated

import typer

from plat.ui import note, out, print_json

agent_app = typer.Typer(help="Manage the local agent (the embedded default target).", no_args_is_help=True)


@agent_app.command(epilog="Example: plat agent up")
def up(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Build the agent image if needed and start the local agent."""
    from plat.docker_client import connect
    from plat.hostagent import local as local_agent

    info = local_agent.up(connect())
    if json_:
        print_json({"api": info.api_url, "gateway": info.gateway_url, "container": info.container})
        return
    note(f"local agent up: api {info.api_url}, gateway {info.gateway_url}")


@agent_app.command(epilog="Example: plat agent down --purge")
def down(purge: Annotated[bool, typer.Option("--purge", help="Also remove every app instance.")] = False) -> None:
    """Stop the local agent (apps keep running and are re-adopted on `up` unless --purge)."""
    from plat.docker_client import connect
    from plat.hostagent import local as local_agent

    was = local_agent.down(connect(), purge)
    note("local agent stopped" if was else "the local agent was not running")


@agent_app.command("status", epilog="Example: plat agent status --json")
def agent_status(json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Is the local agent running, and where."""
    from plat.docker_client import connect
    from plat.hostagent import local as local_agent

    info = local_agent.status(connect())
    if json_:
        print_json(info)
        return
    out.print(f"{'running' if info['running'] else 'stopped'}  api {info['api']}  gateway {info['gateway']}")


def register(app: typer.Typer) -> None:
    app.add_typer(agent_app, name="agent", epilog="Examples: plat agent up · plat agent status · plat agent down")
