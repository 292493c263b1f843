"""The Docker driver pulls from a real registry that wants credentials (Debian's docker-registry
with htpasswd on 127.0.0.1): by tag and by digest, refusals carry the engine's reason."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator

import bcrypt
import docker
import httpx
import pytest

from agent.docker_driver import DockerDriver, PullFailed
from agent.images import chain_ids
from tests.integration.conftest import LABEL, free_port

pytestmark = pytest.mark.integration
USER, PASSWORD = "robot", "pw-3x4mple-secret"


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    c = docker.from_env(timeout=120)
    c.ping()
    return c


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/test installs it)"
    root = tmp_path_factory.mktemp("auth-registry")
    (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    address = f"127.0.0.1:{free_port()}"
    (root / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {root}/data}}}}\n"
        f"http: {{addr: '{address}'}}\n"
        f"auth: {{htpasswd: {{realm: plat-test, path: {root}/htpasswd}}}}\n")
    proc = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://{address}/v2/", timeout=1).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "docker-registry did not start"
            time.sleep(0.1)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pushed(client: docker.DockerClient, registry: str) -> Iterator[str]:
    """A one-file image (FROM scratch, built here) pushed as `<registry>/team/tiny:v1`, then removed locally."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY hello.txt /\n"), ("hello.txt", b"hello\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    ref = f"{registry}/team/tiny:v1"
    client.images.build(fileobj=context, custom_context=True, tag=ref, labels=dict([LABEL.split("=", 1)]))
    for line in client.api.push(f"{registry}/team/tiny", tag="v1", stream=True, decode=True,
                                auth_config={"username": USER, "password": PASSWORD}):
        assert "error" not in line, line
    client.images.remove(ref)
    yield ref
    try:
        client.images.remove(ref, force=True)
    except docker.errors.ImageNotFound:
        pass


def test_pull_needs_the_right_credentials(client: docker.DockerClient, pushed: str) -> None:
    driver = DockerDriver(client, "plat-test-unused")
    with pytest.raises(PullFailed, match="no basic auth credentials|unauthorized"):
        driver.ensure_image(pushed)
    with pytest.raises(PullFailed, match="unauthorized") as refused:
        driver.ensure_image(pushed, {"username": USER, "password": "wrong-password-x"})
    assert "wrong-password-x" not in str(refused.value)
    with pytest.raises(PullFailed, match="not found|unknown"):
        driver.ensure_image(pushed.replace("tiny", "nope"), {"username": USER, "password": PASSWORD})

    assert driver.ensure_image(pushed, {"username": USER, "password": PASSWORD}) is True
    assert driver.ensure_image(pushed) is False, "present locally: no pull"
    assert driver.ensure_image(pushed, {"username": USER, "password": PASSWORD}, always=True) is True

    layers = client.images.get(pushed).attrs["RootFS"]["Layers"]
    assert set(chain_ids(layers)) <= {c for diffs in driver.layer_diff_ids() for c in chain_ids(diffs)}

    by_digest = client.images.get(pushed).attrs["RepoDigests"][0]
    client.images.remove(pushed)
    assert driver.ensure_image(by_digest, {"username": USER, "password": PASSWORD}) is True
    assert client.images.get(by_digest).attrs["RootFS"]["Layers"] == layers
    client.images.remove(by_digest)
