"""flows/deploy_flow.py run for real by Prefect (a temporary Prefect server and database from
`prefect_test_harness`): the local Docker engine builds, a real registry (Debian's
docker-registry) takes the push, the local agent pulls from it and serves the app, and the
smoke test goes through the gateway."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import docker
import httpx
import pytest

from tests.integration.conftest import ROOT, free_port

prefect = pytest.importorskip("prefect", reason="prefect is not installed: pip install -e '.[prefect]' "
                                                "(scripts/test installs it)")
from prefect.client.orchestration import get_client  # noqa: E402 - only once importorskip found prefect
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: E402
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from flows.deploy_flow import deploy_flow  # noqa: E402 - it imports prefect too

pytestmark = pytest.mark.integration
APP = "hello-python-flask"


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    t0 = time.monotonic()
    with prefect_test_harness(server_startup_timeout=120):
        print(f"prefect test server up in {time.monotonic() - t0:.1f}s")
        yield


@pytest.fixture(scope="module")
def local_agent(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """plat's own local agent (`plat.targets.local(start=True)` starts it) on free ports, state in a temp PLAT_HOME."""
    from plat.hostagent import local as la

    env = {"PLAT_HOME": str(tmp_path_factory.mktemp("plat-home")), "PLAT_AGENT_API_PORT": str(free_port()),
           "PLAT_AGENT_GATEWAY_PORT": str(free_port()), "PLAT_AGENT_ACTIVATOR_PORT": str(free_port())}
    saved = {k: os.environ.get(k) for k in [*env, "PLAT_AGENT_URL"]}
    os.environ.update(env)
    os.environ.pop("PLAT_AGENT_URL", None)
    try:
        yield
    finally:
        la.down(engine, purge=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def task_runs(flow_run_id: object) -> dict[str, object]:
    """What Prefect's API recorded for a flow run's tasks: name → task run."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name.rsplit("-", 1)[0]: r for r in runs}


def test_build_push_register_smoke_test(harness: None, local_agent: None, registry: str) -> None:
    t0 = time.monotonic()
    state = deploy_flow(app_dir=str(ROOT / "examples" / APP), registry=registry, return_state=True)
    seconds = time.monotonic() - t0
    assert state.is_completed(), state.message
    result = state.result()

    assert result["image"] == f"{registry}/{APP}:{result['version']}" and result["pushed"]
    assert result["smoke"]["status"] == 200 and f"hello from {APP}" in result["smoke"]["body"]
    # The registry holds what was deployed; the agent serves that version.
    tags = httpx.get(f"http://{registry}/v2/{APP}/tags/list", timeout=5).json()
    assert result["version"] in tags["tags"]
    gateway = result["smoke"]["url"].rsplit(f"/{APP}/", 1)[0]
    r = httpx.get(f"{gateway}/{APP}/", timeout=10)
    assert r.status_code == 200 and r.headers["X-Plat-Instance"].startswith(f"plat-{APP}-{result['version'][:12]}")

    runs = task_runs(state.state_details.flow_run_id)
    assert set(runs) == {"build", "push", "register", "smoke-test"}
    assert all(run.state.is_completed() for run in runs.values())
    print(f"flow (build, push, register, smoke test): {seconds:.1f}s")


def test_a_failing_smoke_test_is_retried_then_fails_the_flow(harness: None, local_agent: None) -> None:
    state = deploy_flow(app_dir=str(ROOT / "examples" / APP), smoke_path="/no-such-page", return_state=True)
    assert state.is_failed()
    runs = task_runs(state.state_details.flow_run_id)
    assert set(runs) == {"build", "register", "smoke-test"}, "no registry: no push step"
    smoke = runs["smoke-test"]
    assert smoke.state.is_failed() and smoke.run_count == 5, "four retries after the first try"
    assert "404" in (smoke.state.message or "")
