"""`plat deploy` to hosts: connect, bootstrap, lock, deliver, roll out, record.

The record (`$PLAT_HOME/deploys/<app>.json`) is what `plat deploy --retry-failed` replays:
the same image and version, to the hosts that are not on it yet, keeping the ones that are.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plat.config import AgentSettings
from plat.errors import PlatError
from plat.fleet.connect import HostConnection, open_all
from plat.fleet.lock import FleetLock
from plat.fleet.rollout import FAILED, SWITCHED, HostResult, Release, live_version, outcome, rollout
from plat.fleet.select import Fleet
from plat.hostagent.bootstrap import Bootstrap, bootstrap
from plat.parallel import each
from plat.paths import plat_home
from plat_contract.images import parse_reference

if TYPE_CHECKING:
    from plat.targets import Target


@dataclass
class FleetDeploy:
    release: Release
    results: list[HostResult]
    outcome: str
    """ok (all new), old (all back on the old version), or mixed."""
    seconds: float
    bootstraps: list[Bootstrap]
    phases: dict[str, float]
    """Wall time of each step (connect, agents, lock, deliver, switch), for --json and benchmarks."""

    def as_dict(self) -> dict[str, Any]:
        return {"app": self.release.app, "version": self.release.version, "image": self.release.image,
                "outcome": self.outcome, "seconds": round(self.seconds, 3),
                "hosts": [r.as_dict() for r in self.results],
                "bootstrap": [b.as_dict() for b in self.bootstraps if b.changed],
                "phases": {k: round(v, 3) for k, v in self.phases.items()}}


LOCAL = "local"
"""The local agent's records are kept apart from any environment's."""


def record_path(app: str, environment: str | None) -> Path:
    """One record per app and environment: a retry never replays another environment's release."""
    return plat_home() / "deploys" / f"{app}@{environment or 'hosts'}.json"


def save_record(result: FleetDeploy, environment: str | None) -> None:
    path = record_path(result.release.app, environment)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    rel = result.release
    data = {"app": rel.app, "version": rel.version, "image": rel.image, "manifest": rel.manifest,
            "digest": rel.digest, "outcome": result.outcome, "at": time.time(),
            "hosts": {r.host: r.state for r in result.results}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def load_record(app: str, environment: str | None) -> Release:
    path = record_path(app, environment)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        where = f"environment {environment}" if environment else "plat.yaml's hosts"
        raise PlatError(f"no earlier deploy of {app} to {where} from this machine to retry ({path})",
                        "run `plat deploy` first") from None
    return Release(data["app"], data["version"], data["image"], data["manifest"], data.get("digest"))


def deploy_fleet(fleet: Fleet, settings: AgentSettings, release: Release, *, local_client: Any,
                 force: bool = False, keep_on_failure: bool = False, install_docker: bool = False,
                 on_event: Callable[[str, str], None] = lambda h, w: None,
                 on_progress: Callable[[str, int, int], None] = lambda h, s, t: None) -> FleetDeploy:
    from plat.hostagent.install import ensure_image
    from plat.registry import registry_auth
    from plat.remote.delivery import SavedImage, deliver

    t0 = mark = time.monotonic()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = now - mark
        mark = now

    policy = fleet.deploy.model_copy(update={"on_failure": "keep"}) if keep_on_failure else fleet.deploy
    with ExitStack() as stack:
        conns = open_all(list(fleet.hosts), settings, policy.parallel)

        def close_all() -> None:
            for c in conns.values():
                c.close()

        stack.callback(close_all)
        names = sorted(conns)
        lap("connect")

        # The agent on every host, installed or checked (idempotent).
        agent_image = None
        if any(c.ssh is not None for c in conns.values()):
            agent_image = SavedImage(local_client, ensure_image(local_client))
            stack.callback(agent_image.close)

        def ready(name: str) -> Bootstrap:
            on_event(name, "checking agent")
            return bootstrap(conns[name], agent_image, install_docker,
                             lambda sent, total: on_progress(name, sent, total))

        boots = []
        for _, boot, err in each(names, ready, policy.parallel):
            if err:
                raise err
            boots.append(boot)
        lap("agents")

        lock = stack.enter_context(FleetLock(list(conns.values()), release.app))
        lap("lock")

        if fleet.registry:
            auth = registry_auth()
            release = replace(release, pull={"auth": auth, "always": False})

            def send(conn: HostConnection, progress: Callable[[str, int, int], None]) -> int | None:
                if conn.ssh is None:
                    return None  # the agent pulls during its deploy
                _pull(conn, release.image, auth)
                return None
        else:
            from plat.docker_client import docker

            try:
                saved = SavedImage(local_client, release.image)
            except docker.errors.ImageNotFound:
                raise PlatError(f"{release.image} is no longer in the local engine",
                                "deploy again without --retry-failed to rebuild it") from None
            stack.callback(saved.close)

            def send(conn: HostConnection, progress: Callable[[str, int, int], None]) -> int | None:
                done = deliver(saved, conn.docker, conn.name, lambda s, t: progress(conn.name, s, t))
                return done.bytes_sent

        results = rollout(conns, release, policy, send, on_event=on_event, force=force, on_progress=on_progress,
                          phases=phases, guard=lock.check)
        mark = time.monotonic()
    lap("release")
    result = FleetDeploy(release, results, outcome(results, release.version), time.monotonic() - t0, boots, phases)
    save_record(result, fleet.environment)
    return result


def deploy_local(target: Target, release: Release) -> dict[str, Any]:
    """A release on the local agent, the way a host gets one: under the app's deploy lock, with a
    record of the outcome (`deploys/<app>@local.json`); the agent's answer is returned."""
    t0 = time.monotonic()
    host = HostResult(target.name)
    with FleetLock([target], release.app) as lock:
        host.before = live_version(target, release.app)
        try:
            answer = target.client.deploy(release.app, release.version, release.image, release.manifest,
                                          release.digest)
        except PlatError as exc:
            host.state, host.detail, host.failed, host.after = FAILED, exc.message, True, host.before
            save_record(FleetDeploy(release, [host], "old", time.monotonic() - t0, [], {}), LOCAL)
            raise
        lock.check()
    host.state, host.after, host.seconds = SWITCHED, release.version, float(answer.get("seconds", 0.0))
    save_record(FleetDeploy(release, [host], "ok", time.monotonic() - t0, [], {}), LOCAL)
    return answer


def _pull(conn: HostConnection, image: str, auth: dict[str, str] | None) -> None:
    from plat.docker_client import docker

    repo, tag = parse_reference(image).pull_args()
    try:
        conn.docker.images.pull(repo, tag=tag, auth_config=auth)
    except docker.errors.APIError as exc:
        raise PlatError(f"{conn.name}: pulling {image} failed: {exc.explanation or exc}",
                        "check the registry address and PLAT_REGISTRY_USERNAME/PLAT_REGISTRY_PASSWORD") from None
