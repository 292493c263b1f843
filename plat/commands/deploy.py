from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer

from plat.commands._fleet_options import Env, Hosts, Labels
from plat.errors import PlatError
from plat.ui import err, note, out, print_json, styled

EXAMPLES = """Examples:
  plat deploy                       # the local agent, or every host in plat.yaml
  plat deploy -e production         # the hosts of one environment
  plat deploy --host web1           # one host only
  plat deploy --retry-failed        # bring a partly failed fleet in line
  plat deploy examples/hello-go --json"""


def deploy(
    source: Annotated[str, typer.Argument(help="App folder, archive or Git URL.")] = ".",
    env: Env = None,
    host: Hosts = [],
    label: Labels = [],
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Redeploy the last release to the hosts not on "
                                               "it yet; hosts already on it stay.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Redeploy to hosts already on this version.")] = False,
    install_docker: Annotated[bool, typer.Option("--install-docker", help="Install Docker on hosts without it "
                                                 "(Debian/Ubuntu).")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Boot-check the image before any host is "
                                        "touched (hosts only: the local agent checks it itself).")] = True,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Build the app and deploy it: warm the new version, switch, drain the old one.

    With `hosts:` in plat.yaml, every host gets the image (only the layers it lacks, over SSH,
    or through `registry:`), then hosts switch batch by batch; if one fails, the others go back.
    """
    from plat.app import agent_manifest, resolve_app
    from plat.builder.pipeline import build_app, image_repository
    from plat.builder.source import open_source
    from plat.docker_client import connect
    from plat.fleet.rollout import Release
    from plat.fleet.select import check_delivery, fleet_of
    from plat.progress_view import build_progress

    with open_source(source) as src:
        app = resolve_app(src.path, environment=env)
        fleet = fleet_of(app.manifest, env, host, label)
        if not fleet.hosts:
            if env or host or label:
                raise PlatError(f"{app.name}: no hosts selected")
            return _deploy_local(app, json_)
        check_delivery(fleet)
        client = connect()
        if retry_failed:
            from plat.fleet.ship import load_record

            release = load_record(app.name, env)
        else:
            tag = image_repository(app, fleet.registry)
            with build_progress(app.name, quiet=json_) as on_event:
                built = build_app(client, app, tag=tag, on_event=on_event)
            if check:
                from plat.builder.bootcheck import require_boot

                with err.status("boot check", spinner="dots") if not json_ else nullcontext():
                    require_boot(client, app, built.image)
            if fleet.registry:
                from plat.builder.pipeline import publish
                from plat.progress_view import push_progress

                with push_progress(built.image, quiet=json_) as on_push:
                    built = publish(client, built, on_push)
            release = Release(app.name, built.version.tag, built.image, agent_manifest(app), built.image_id)
        # Inside the source's lifetime: a relative `ca:` names a file in it (an archive, a clone).
        _deploy_fleet(fleet, app.manifest.agent, release, client, force, retry_failed, install_docker, json_)


def _deploy_local(app: Any, json_: bool) -> None:
    from plat.app import agent_manifest
    from plat.builder.pipeline import build_app
    from plat.docker_client import connect
    from plat.fleet.rollout import Release
    from plat.fleet.ship import deploy_local
    from plat.progress_view import build_progress
    from plat.targets import local

    client = connect()
    with build_progress(app.name, quiet=json_) as on_event:
        built = build_app(client, app, on_event=on_event)
    target = local(start=True)
    release = Release(app.name, built.version.tag, built.image, agent_manifest(app), built.image_id)
    with (err.status(f"deploying {built.image} to the {target.name} agent", spinner="dots")
          if not json_ else nullcontext()):
        result = deploy_local(target, release)
    url = f"{target.gateway_url}/{app.name}/"
    if json_:
        print_json({**result, "url": url})
        return
    note(f"deployed {app.name} {built.version.tag} in {result['seconds']:.2f}s "
         f"({len(result['instances'])} instance{'s' if len(result['instances']) != 1 else ''} warm)")
    out.print(url)


def _deploy_fleet(fleet: Any, settings: Any, release: Any, client: Any, force: bool, retry: bool,
                  install_docker: bool, json_: bool) -> None:
    from rich.table import Table

    from plat.fleet.ship import deploy_fleet
    from plat.progress_view import fleet_progress

    with fleet_progress(fleet.names, quiet=json_) as (on_event, on_progress):
        result = deploy_fleet(fleet, settings, release, local_client=client, force=force, keep_on_failure=retry,
                              install_docker=install_docker, on_event=on_event, on_progress=on_progress)
    if json_:
        print_json(result.as_dict())
    else:
        for boot in result.bootstraps:
            if boot.changed:
                note(f"{boot.host}: {', '.join(boot.changed)}")
        table = Table("host", "before", "after", "state", "sent", "time", "detail")
        colour = {"switched": "green", "unchanged": "dim", "failed": "red", "rolled back": "yellow",
                  "kept new": "yellow"}
        for r in result.results:
            sent = "-" if r.bytes_sent is None else f"{r.bytes_sent / 1e6:.2f} MB"
            table.add_row(r.host, r.before or "-", r.after or "-", styled(r.state, colour.get(r.state, 'white')),
                          sent, f"{r.seconds:.1f}s", r.detail)
        out.print(table)
    if result.outcome == "ok":
        if not json_:
            note(f"deployed {release.app} {release.version} to {len(result.results)} host(s) in {result.seconds:.1f}s")
        return
    if result.outcome == "old":
        raise PlatError(f"{release.app}: deploy failed; every host is back on (or still on) its previous version",
                        "fix the cause shown above and deploy again")
    raise PlatError(f"{release.app}: deploy failed and the fleet is MIXED: some hosts run {release.version}, "
                    "others do not", "run `plat deploy --retry-failed` to bring the rest in line")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(deploy)
