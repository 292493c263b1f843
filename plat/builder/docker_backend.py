"""Build a planned context with the Docker Engine, through the docker SDK."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping

from plat.builder.context import ContextPlan, write_tar
from plat.builder.progress import BuildLog
from plat.docker_client import docker
from plat.errors import PlatError


def build(
    client: docker.DockerClient,
    plan: ContextPlan,
    tag: str,
    *,
    labels: Mapping[str, str],
    buildargs: Mapping[str, str] | None = None,
    platform: str | None = None,
    on_event: Callable[[BuildLog], None] = lambda log: None,
) -> BuildLog:
    """Build and tag; returns the finished log, or raises PlatError with the failing step."""
    log = BuildLog()
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as ctx:
        write_tar(plan, ctx)
        ctx.seek(0)
        try:
            stream = client.api.build(
                fileobj=ctx,
                custom_context=True,
                dockerfile=plan.dockerfile,
                tag=tag,
                labels=dict(labels),
                buildargs=dict(buildargs or {}),
                platform=platform,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for event in stream:
                log.feed(event)
                on_event(log)
        except docker.errors.APIError as exc:
            raise PlatError(f"the Docker engine refused the build: {exc.explanation or exc}") from exc
    if log.error:
        raise build_failure(log)
    if not log.image_id:
        raise PlatError("the build finished without an image id; rerun with --debug")
    return log


def build_failure(log: BuildLog) -> PlatError:
    step = f"step {log.step}/{log.total} `{log.failed_instruction}`" if log.failed_instruction else "the build"
    tail = "\n".join(f"  | {line}" for line in log.tail)
    message = f"{step} failed: {log.error}"
    if tail:
        message += f"\n{tail}"
    hint = None
    if (log.failed_instruction or "").upper().startswith("FROM") or "pull access denied" in (log.error or ""):
        hint = ("the base image is not available: set build.base_image in plat.yaml or "
                "PLAT_BASE_IMAGE_<RUNTIME> (no registry? `eval \"$(scripts/offline-images)\"`)")
    return PlatError(message, hint)
