from __future__ import annotations

from typing import Annotated

import typer

from plat.commands._fleet_options import AppDir, Env, Labels
from plat.errors import PlatError
from plat.ui import note, out, print_json, styled

hosts_app = typer.Typer(help="The hosts plat.yaml names: trust their SSH keys, install the agent, check them.",
                        no_args_is_help=True,
                        epilog="Examples: plat hosts trust web1 · plat hosts bootstrap "
                               "· plat hosts check -e production")


@hosts_app.command("list", epilog="Examples: plat hosts list · plat hosts list -e production --json")
def list_(app_dir: AppDir = ".", env: Env = None, label: Labels = [],
          json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The hosts of the app (or environment), with their labels and transport."""
    from rich.table import Table

    from plat.targets import scope

    sc = scope(app_dir, env, None, label)
    hosts = list(sc.fleet.hosts) if sc.fleet else []
    if json_:
        print_json([h.model_dump() for h in hosts])
        return
    if not hosts:
        note("no hosts in plat.yaml: commands use the local agent")
        return
    table = Table("host", "transport", "labels")
    for h in hosts:
        table.add_row(h.host, h.transport, ", ".join(f"{k}={v}" for k, v in h.labels.items()))
    out.print(table)


@hosts_app.command(epilog="Examples: plat hosts trust web1 · plat hosts trust deploy@10.0.0.5:2222 --yes")
def trust(
    host: Annotated[str, typer.Argument(help="user@host:port (user and port optional), "
                                             "or an alias from your SSH config.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Trust without asking (scripts: check the fingerprint "
                                      "another way first).")] = False,
    fingerprint_: Annotated[str | None, typer.Option("--fingerprint", help="Trust only if the key has this SHA256 "
                                                     "fingerprint.")] = None,
) -> None:
    """Show a host's SSH key fingerprint, then add it to known_hosts once you confirm."""
    from plat.remote.ssh import (
        fingerprint,
        load_ssh_config,
        parse_address,
        resolve,
        scan_host_key,
    )
    from plat.remote.ssh import trust as add_key

    config = load_ssh_config()
    params = resolve(parse_address(host), config)
    key = scan_host_key(params, config)
    fp = fingerprint(key)
    note(f"{params.name} ({params.known_hosts_key}) presents {key.get_name()} {fp}")
    if fingerprint_ is not None and fingerprint_ != fp:
        raise PlatError(f"{params.name}: the key's fingerprint {fp} is not the expected {fingerprint_}; not trusted")
    if fingerprint_ is None and not yes and not typer.confirm("Trust this key?", default=False, err=True):
        raise typer.Exit(1)
    path = add_key(params, key)
    note(f"added to {path}")


@hosts_app.command(epilog="Examples: plat hosts bootstrap · plat hosts bootstrap web1 --install-docker")
def bootstrap(
    host: Annotated[list[str] | None, typer.Argument(help="Hosts (default: all in plat.yaml).")] = None,
    install_docker: Annotated[bool, typer.Option("--install-docker", help="Install Docker where it is missing "
                                                 "(Debian/Ubuntu).")] = False,
    app_dir: AppDir = ".", env: Env = None, label: Labels = [],
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check Docker, install or upgrade the agent, start it supervised. Rerunning changes nothing."""
    from plat.docker_client import connect
    from plat.hostagent.bootstrap import bootstrap as boot
    from plat.hostagent.install import ensure_image
    from plat.parallel import each
    from plat.progress_view import fleet_progress
    from plat.remote.delivery import SavedImage
    from plat.targets import connected, raise_failures, scope

    sc = scope(app_dir, env, host or None, label)
    if sc.fleet is None:
        from pathlib import Path

        where = Path(app_dir).resolve() / "plat.yaml"
        raise PlatError(f"{where}: {'no hosts listed' if sc.manifest else 'not found'}",
                        "add `hosts:` to plat.yaml (or use `plat agent up` for the local agent)")
    local = connect()
    saved = SavedImage(local, ensure_image(local))
    try:
        with connected(sc.fleet, sc.settings) as conns, fleet_progress(sorted(conns), quiet=json_) as (event, progress):
            def one(name: str):
                event(name, "installing or checking the agent")
                return boot(conns[name], saved, install_docker, lambda sent, total: progress(name, sent, total))

            results = each(sorted(conns), one, sc.fleet.deploy.parallel)
    finally:
        saved.close()
    if json_:
        print_json([{**(r.as_dict() if r else {"host": n}), "error": e.message if e else None} for n, r, e in results])
    else:
        for name, r, _ in results:
            if r is not None:
                what = ", ".join(r.changed) or "no change"
                note(f"{name}: docker {r.docker_version or '-'}, agent {r.agent_version}: {what}")
    raise_failures(results)


@hosts_app.command(epilog="Examples: plat hosts check · plat hosts check -e production --json")
def check(app_dir: AppDir = ".", env: Env = None, label: Labels = [],
          json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Reach every host: SSH, the agent's health and version."""
    from rich.text import Text

    from plat import __version__
    from plat.targets import each_agent, raise_failures, scope

    results = each_agent(scope(app_dir, env, None, label), lambda c: c.health())
    if json_:
        print_json([{"host": h, "agent": r, "error": e.message if e else None} for h, r, e in results])
    else:
        for h, r, _ in results:
            if r is not None:
                same = "" if r.get("version") == __version__ else styled(f" (CLI is {__version__})", "yellow")
                out.print(Text.assemble(f"{h}: agent {r.get('version')} ok", same))
    raise_failures(results)


def register(app: typer.Typer) -> None:
    app.add_typer(hosts_app, name="hosts")
