"""plat's deploy as a Prefect flow: build → push → register → smoke test.

Each step is a Prefect task over plat's library API (the same calls `plat deploy` makes), so a
Prefect deployment, schedule or UI can drive plat and show, retry and time each step:

1. **build** — `resolve_app` + `build_app` on the local Docker engine (tagged for `registry`);
2. **push** — `publish` to `registry` (skipped without one);
3. **register** — `AgentClient.deploy` on the local agent (`plat.targets.local`: plat's own,
   started if needed, or the one `PLAT_AGENT_URL` names); with a registry the agent pulls the
   image from it, so what runs is what was pushed;
4. **smoke test** — an HTTP GET through the agent's gateway, `/<app><path>`, must answer 2xx/3xx.

Retries: the build once (a package index hiccup), the push three times with backoff, the
register step only when the agent does not answer (a deploy the agent refused, a failed health
check say, is not retried: the old version keeps serving), the smoke test a few times (a new
route or a cold start). Nothing is cached between runs: every step has side effects.

    pip install 'plat[prefect]'
    python -m flows.deploy_flow examples/hello-python-flask --registry 127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import httpx
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from plat.app import AppSpec, agent_manifest, resolve_app
from plat.builder.pipeline import BuiltImage, build_app, image_repository, publish
from plat.errors import PlatError
from plat.registry import registry_auth


class AgentUnavailable(Exception):
    """The agent did not answer (down, restarting): worth another try, unlike a refused deploy."""


def _only_when_agent_unavailable(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except AgentUnavailable:
        return True
    except Exception:  # noqa: BLE001 - anything else is final
        return False
    return False


@task(name="build", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def build(app: AppSpec, registry: str | None) -> BuiltImage:
    from plat.docker_client import connect

    built = build_app(connect(), app, tag=image_repository(app, registry))
    get_run_logger().info("built %s (%s)", built.image, "up to date" if built.up_to_date else
                          f"{built.cached_steps}/{built.total_steps} steps cached")
    return built


@task(name="push", retries=3, retry_delay_seconds=[2, 5, 10], cache_policy=NO_CACHE)
def push(built: BuiltImage) -> BuiltImage:
    from plat.docker_client import connect

    pushed = publish(connect(), built)
    get_run_logger().info("pushed %s", pushed.image)
    return pushed


@task(name="register", retries=3, retry_delay_seconds=3, retry_condition_fn=_only_when_agent_unavailable,
      cache_policy=NO_CACHE)
def register(built: BuiltImage, manifest: dict[str, Any], start_agent: bool) -> dict[str, Any]:
    """Deploy the image on the agent: warm the new version, switch, drain the old one."""
    from plat.targets import local

    try:
        target = local(start=start_agent)
        target.client.health()
    except PlatError as exc:
        raise AgentUnavailable(exc.message) from None
    pull = {"auth": registry_auth(), "always": True} if built.pushed else None
    result = target.client.deploy(built.app, built.version.tag, built.image, manifest, built.image_id, pull=pull)
    get_run_logger().info("deployed %s %s in %.2fs", built.app, built.version.tag, result["seconds"])
    return {**result, "gateway": target.gateway_url}


@task(name="smoke-test", retries=4, retry_delay_seconds=2, cache_policy=NO_CACHE)
def smoke_test(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=30)
    if response.status_code >= 400:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.text[:200]}")
    get_run_logger().info("GET %s: %d", url, response.status_code)
    return {"url": url, "status": response.status_code, "body": response.text[:500]}


@flow(name="plat-deploy")
def deploy_flow(app_dir: str, registry: str | None = None, smoke_path: str = "/",
                start_agent: bool = True) -> dict[str, Any]:
    """Build the app in `app_dir`, push it to `registry` (if any), deploy it to the local agent,
    and GET `/<app><smoke_path>` through the gateway."""
    app = resolve_app(Path(app_dir))
    built = build(app, registry)
    if registry:
        built = push(built)
    deployed = register(built, agent_manifest(app), start_agent)
    smoke = smoke_test(f"{deployed['gateway']}/{built.app}/{smoke_path.lstrip('/')}")
    return {"app": built.app, "image": built.image, "version": built.version.tag, "pushed": built.pushed,
            "deploy_seconds": deployed["seconds"], "smoke": smoke}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app_dir")
    parser.add_argument("--registry", help="push here first (host[:port][/namespace]); the agent pulls from it")
    parser.add_argument("--smoke-path", default="/")
    args = parser.parse_args(argv)
    print(json.dumps(deploy_flow(args.app_dir, args.registry, args.smoke_path), indent=2))


if __name__ == "__main__":
    main()
