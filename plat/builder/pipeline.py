"""Source → image: plan the context, tag it, build it with a backend, optionally push."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from plat.app import AppSpec
from plat.builder import docker_backend, kaniko
from plat.builder.context import ContextPlan, content_hash, plan_context, with_labels
from plat.builder.progress import BuildLog
from plat.builder.tagging import SourceVersion, oci_labels, source_version
from plat.docker_client import docker, extra_labels
from plat.errors import PlatError
from plat.registry import registry_auth
from plat_contract.images import parse_reference

Backend = Literal["docker", "kaniko"]
DIGEST_LABEL = "plat.context-digest"
"""Digest of the exact build context: an image carrying it needs no rebuild."""


@dataclass(frozen=True)
class BuiltImage:
    app: str
    image: str
    """Full reference `repo:tag`."""
    image_id: str
    version: SourceVersion
    runtime: str | None
    backend: Backend
    cached_steps: int = 0
    total_steps: int = 0
    pushed: bool = False
    up_to_date: bool = False
    """The engine already had an image of this exact context: nothing was built."""

    def as_dict(self) -> dict[str, object]:
        return {
            "app": self.app, "image": self.image, "image_id": self.image_id, "tag": self.version.tag,
            "revision": self.version.revision, "dirty": self.version.dirty, "runtime": self.runtime,
            "backend": self.backend, "cached_steps": self.cached_steps, "total_steps": self.total_steps,
            "pushed": self.pushed, "up_to_date": self.up_to_date,
        }


def image_repository(app: AppSpec, registry: str | None = None) -> str:
    registry = registry or app.manifest.registry
    return f"{registry.rstrip('/')}/{app.name}" if registry else app.name


def plan_and_tag(app: AppSpec, tag: str | None = None, env: Mapping[str, str] | None = None
                 ) -> tuple[ContextPlan, str, SourceVersion, str]:
    """The context plan, the image reference, the source version and the context digest."""
    plan = plan_context(app, env)
    digest = content_hash(plan)
    version = source_version(app.context_dir, digest)
    if tag and ":" in tag.rsplit("/", 1)[-1]:
        ref = tag
    else:
        ref = f"{tag or image_repository(app)}:{version.tag}"
    return plan, ref, version, digest


def existing_build(client: docker.DockerClient, ref: str, digest: str) -> str | None:
    """The id of an image already built from exactly this context, if the engine has one."""
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    return image.id if image.labels.get(DIGEST_LABEL) == digest else None


def push(client: docker.DockerClient, ref: str, on_status: Callable[[dict], None] = lambda e: None) -> None:
    parsed = parse_reference(ref)
    repo, tag = parsed.push_args()
    if parsed.registry is None:
        raise PlatError(f"cannot push {ref}: it names no registry",
                        "set `registry:` in plat.yaml (e.g. registry.example.com/team) or pass --tag REGISTRY/NAME")
    try:
        for event in client.api.push(repo, tag, stream=True, decode=True, auth_config=registry_auth()):
            if "error" in event:
                raise PlatError(f"pushing {ref} failed: {event['error']}",
                                "check the registry URL and PLAT_REGISTRY_USERNAME/PLAT_REGISTRY_PASSWORD")
            on_status(event)
    except docker.errors.APIError as exc:
        raise PlatError(f"pushing {ref} failed: {exc.explanation or exc}") from exc


def build_app(
    client: docker.DockerClient,
    app: AppSpec,
    *,
    tag: str | None = None,
    backend: Backend = "docker",
    platform: str | None = None,
    do_push: bool = False,
    source_url: str | None = None,
    on_event: Callable[[BuildLog], None] = lambda log: None,
    on_line: Callable[[str], None] = lambda line: None,
) -> BuiltImage:
    """Build `app`. Only Kaniko pushes as it builds (`do_push`); otherwise call `publish` after."""
    plan, ref, version, digest = plan_and_tag(app, tag)
    runtime = app.runtime.name if app.runtime else None
    labels = {**oci_labels(app.name, runtime, version, source_url), DIGEST_LABEL: digest, **extra_labels()}
    platform = platform or app.manifest.build.platform
    args = dict(app.manifest.build.args)
    if backend == "kaniko":
        image_id = kaniko.build(client, plan, ref, labels=labels, buildargs=args, platform=platform,
                                push=do_push, on_line=on_line)
        return BuiltImage(app.name, ref, image_id, version, runtime, backend, pushed=do_push)
    existing = existing_build(client, ref, digest)
    if existing:
        return BuiltImage(app.name, ref, existing, version, runtime, backend, up_to_date=True)
    labelled = with_labels(plan, labels)
    log = docker_backend.build(client, labelled or plan, ref, labels={} if labelled else labels, buildargs=args,
                               platform=platform, on_event=on_event)
    return BuiltImage(app.name, ref, log.image_id or "", version, runtime, backend, log.cached_steps, log.total)


def publish(client: docker.DockerClient, built: BuiltImage,
            on_status: Callable[[dict], None] = lambda e: None) -> BuiltImage:
    """Push a built image to its registry (a Kaniko build that pushed already is left alone)."""
    if not built.pushed:
        push(client, built.image, on_status)
    return replace(built, pushed=True)
