"""Build a planned context with Kaniko's executor: a local `executor` binary, or its image
run through the Docker engine. Same context as the Docker backend; only the runner differs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from plat.builder.context import ContextPlan, materialize
from plat.docker_client import docker
from plat.errors import PlatError

DEFAULT_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2"
WORKSPACE = "/workspace"
OUT = "/kaniko-out"


def executor_args(
    *,
    context_dir: str,
    dockerfile: str,
    destination: str,
    tar_path: str | None,
    build_args: Mapping[str, str] = {},
    labels: Mapping[str, str] = {},
    platform: str | None = None,
) -> list[str]:
    """The executor's argv (without the program name). With `tar_path` nothing is pushed."""
    args = [
        f"--context=dir://{context_dir}",
        f"--dockerfile={context_dir.rstrip('/')}/{dockerfile}",
        f"--destination={destination}",
        "--snapshot-mode=redo",
    ]
    if tar_path:
        args += ["--no-push", f"--tar-path={tar_path}"]
    args += [f"--build-arg={k}={v}" for k, v in sorted(build_args.items())]
    args += [f"--label={k}={v}" for k, v in sorted(labels.items())]
    if platform:
        args.append(f"--custom-platform={platform}")
    return args


def _executor_image(client: docker.DockerClient, env: Mapping[str, str]) -> str:
    image = env.get("PLAT_KANIKO_IMAGE", DEFAULT_IMAGE)
    try:
        client.images.get(image)
        return image
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(image)
        return image
    except docker.errors.DockerException:
        raise PlatError(
            f"the Kaniko executor is not available: no `executor` on PATH and image {image} cannot be pulled",
            "set PLAT_KANIKO_IMAGE to an executor image the engine has, or use --backend docker",
        ) from None


def build(
    client: docker.DockerClient,
    plan: ContextPlan,
    tag: str,
    *,
    labels: Mapping[str, str],
    buildargs: Mapping[str, str] | None = None,
    platform: str | None = None,
    push: bool = False,
    on_line: Callable[[str], None] = lambda line: None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Build `plan` as `tag`; unless pushing, load the result into the engine. Returns the image id."""
    env = os.environ if env is None else env
    binary = shutil.which("executor")
    with tempfile.TemporaryDirectory(prefix="plat-kaniko-") as tmp:
        ctx, out = Path(tmp, "ctx"), Path(tmp, "out")
        ctx.mkdir()
        out.mkdir()
        materialize(plan, ctx)
        local = binary is not None
        argv = executor_args(
            context_dir=str(ctx) if local else WORKSPACE,
            dockerfile=plan.dockerfile,
            destination=tag,
            tar_path=None if push else (f"{out}/image.tar" if local else f"{OUT}/image.tar"),
            build_args=buildargs or {},
            labels=labels,
            platform=platform,
        )
        if binary is not None:  # local
            _run_binary([binary, *argv], on_line)
        else:
            _run_container(client, _executor_image(client, env), argv, ctx, out, on_line)
        if push:
            return tag
        with open(out / "image.tar", "rb") as fh:
            images = client.images.load(fh)
        image = images[0]
        image.tag(*tag.rsplit(":", 1))
        return image.id


def _run_binary(argv: list[str], on_line: Callable[[str], None]) -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line(line.rstrip())
        tail = (tail + [line.rstrip()])[-25:]
    if proc.wait() != 0:
        raise PlatError("the Kaniko build failed:\n" + "\n".join(f"  | {t}" for t in tail))


def _run_container(client: docker.DockerClient, image: str, argv: list[str], ctx: Path, out: Path,
                   on_line: Callable[[str], None]) -> None:
    container = client.containers.run(
        image, argv, detach=True, labels={"plat.managed": "true", "plat.role": "kaniko"},
        volumes={str(ctx): {"bind": WORKSPACE, "mode": "ro"}, str(out): {"bind": OUT, "mode": "rw"}},
    )
    try:
        tail: list[str] = []
        for chunk in container.logs(stream=True, follow=True):
            for line in chunk.decode(errors="replace").splitlines():
                on_line(line)
                tail = (tail + [line])[-25:]
        if container.wait()["StatusCode"] != 0:
            raise PlatError("the Kaniko build failed:\n" + "\n".join(f"  | {t}" for t in tail))
    finally:
        container.remove(force=True)
