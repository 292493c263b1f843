"""docker-compose.yaml on a real engine with Debian's docker-compose (v1): `up` builds the
registry, the agent and the deploy image, the deploy service puts the example live, a push
reaches the registry, and `down -v` leaves nothing of the project behind.

The test drives `docker-compose` itself (argv lists, module lifetime) rather than through
pytest-docker: pytest-docker's `docker_services` lives for the whole session by default (the
platform would stay up through the rest of the suite), runs compose through a shell, and does
`down -v` in its finalizer, where the test cannot check what `down` left behind.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import docker
import httpx
import pytest

from plat.builder.pipeline import push
from tests.integration.conftest import LABEL, ROOT, SESSION, free_port, wait_for

pytestmark = pytest.mark.integration
PROJECT = "plat-compose-it"
"""One project name per machine, so the compose-built images (and their layer cache) are reused."""
APP = "hello-python-flask"


@dataclass
class Platform:
    env: dict[str, str]
    registry: str
    gateway: str
    agent_id: str
    network: str

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yaml"), "-p", PROJECT, *args],
                              cwd=ROOT, env=self.env, capture_output=True, check=False, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, (f"docker-compose {' '.join(args)}:\n"
                                          f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc


@contextmanager
def extra_ca() -> Iterator[None]:
    """Builds behind this machine's TLS-intercepting proxy need its CA: ca/extra.crt (ca/README.md)."""
    target = ROOT / "ca" / "extra.crt"
    source = os.environ.get("PLAT_EXTRA_CA_CERTS")
    created = bool(source) and not target.exists()
    if created:
        shutil.copyfile(source, target)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if created:
            target.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def platform(engine: docker.DockerClient) -> Iterator[Platform]:
    assert shutil.which("docker-compose"), "docker-compose is not installed (scripts/test installs it)"
    ports = {k: str(free_port()) for k in ("REGISTRY", "API", "GATEWAY", "ACTIVATOR")}
    agent_id, network = f"compose-{SESSION}", f"plat-compose-{SESSION}"
    env = {**os.environ, **{f"PLAT_COMPOSE_{k}_PORT": v for k, v in ports.items()},
           "PLAT_COMPOSE_AGENT_ID": agent_id, "PLAT_COMPOSE_NETWORK": network, "PLAT_LABELS": LABEL}
    # Offline, the registry's Debian base is the local Python base image (Debian too).
    if not env.get("PLAT_DEBIAN_IMAGE") and env.get("PLAT_BASE_IMAGE_PYTHON_FLASK"):
        env["PLAT_DEBIAN_IMAGE"] = env["PLAT_BASE_IMAGE_PYTHON_FLASK"]
    p = Platform(env, f"127.0.0.1:{ports['REGISTRY']}", f"http://127.0.0.1:{ports['GATEWAY']}", agent_id, network)
    with extra_ca():
        try:
            yield p
        finally:
            p.compose("down", "-v", "--remove-orphans", check=False)
            for c in engine.containers.list(all=True, filters={"label": f"plat.agent={agent_id}"}):
                c.remove(force=True)
            for net in engine.networks.list(names=[network, f"{network}-apps"]):
                net.remove()


def get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None


def tiny_image(engine: docker.DockerClient, ref: str) -> None:
    """A one-layer image of one small file, made with `docker import` (nothing to pull)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = b"hello from the compose registry test\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    repo, tag = ref.rsplit(":", 1)
    engine.api.import_image_from_data(data.getvalue(), repository=repo, tag=tag, changes=[f"LABEL {LABEL}"])


def test_up_deploys_the_example_the_registry_takes_a_push_and_down_cleans_up(
        platform: Platform, engine: docker.DockerClient) -> None:
    t0 = time.monotonic()
    platform.compose("up", "--build", "-d")
    built = time.monotonic() - t0

    # The one-shot deploy service builds the example and deploys it, then exits 0.
    deploy_id = platform.compose("ps", "-q", "deploy").stdout.strip()
    assert deploy_id, "the deploy service was not created"
    status = engine.containers.get(deploy_id).wait(timeout=900)
    logs = platform.compose("logs", "--no-color", "deploy").stdout
    assert status["StatusCode"] == 0, logs[-3000:]
    assert f"deployed {APP}" in logs

    r = wait_for(lambda: get(f"{platform.gateway}/{APP}/"), 30, "the gateway")
    assert r.status_code == 200 and r.json() == {"message": f"hello from {APP}"}
    assert r.headers["X-Plat-Instance"].startswith(f"plat-{APP}-")
    # The compose agent runs it under its own id, on its own network; plat's own agent is untouched.
    instances = engine.containers.list(filters={"label": [f"plat.agent={platform.agent_id}", f"plat.app={APP}"]})
    assert instances and all(f"{platform.network}-apps" in c.attrs["NetworkSettings"]["Networks"] for c in instances)

    # The registry is a real one on 127.0.0.1: a push lands and is listed.
    wait_for(lambda: (res := get(f"http://{platform.registry}/v2/")) is not None and res.status_code == 200, 30,
             "the registry")
    ref = f"{platform.registry}/plat-compose-test/tiny:{SESSION}"
    tiny_image(engine, ref)
    try:
        push(engine, ref)
    finally:
        engine.images.remove(ref, force=True)
    tags = httpx.get(f"http://{platform.registry}/v2/plat-compose-test/tiny/tags/list", timeout=5).json()
    assert tags == {"name": "plat-compose-test/tiny", "tags": [SESSION]}

    # Down: destroy the app through the same plat CLI (its containers are the agent's, not
    # Compose's), then `down -v` removes the containers, the default network and the volumes.
    out = platform.compose("run", "--rm", "deploy", "plat", "destroy", APP, "--yes")
    assert f"{APP} destroyed" in out.stdout + out.stderr
    platform.compose("down", "-v")
    project = f"com.docker.compose.project={PROJECT}"
    assert engine.containers.list(all=True, filters={"label": project}) == []
    assert engine.volumes.list(filters={"label": project}) == []
    assert engine.networks.list(filters={"label": project}) == []
    assert engine.containers.list(all=True, filters={"label": f"plat.agent={platform.agent_id}"}) == []
    assert get(f"{platform.gateway}/{APP}/") is None, "the gateway still answers after down"
    print(f"compose up --build -d: {built:.1f}s; whole flow: {time.monotonic() - t0:.1f}s")
