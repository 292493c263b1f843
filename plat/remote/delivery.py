"""Image delivery without a registry: each host gets only the layers it lacks.

`docker load` skips any layer whose chain ID the engine already has without opening its file,
so a `docker save` archive with the present layers left out loads fine. We ask the host's
engine which chains it has, drop those layer files, gzip the rest and stream it over SSH.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import posixpath
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from plat.docker_client import docker
from plat.errors import PlatError

CHUNK = 1 << 20


def chain_ids(diff_ids: Iterable[str]) -> list[str]:
    """The OCI ChainID of each prefix of an image's layer list."""
    out: list[str] = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def chains_present(images: Iterable[dict[str, Any]]) -> set[str]:
    """Chain IDs an engine has, from its images' `RootFS.Layers` (as `docker image inspect` shows)."""
    have: set[str] = set()
    for attrs in images:
        have.update(chain_ids((attrs.get("RootFS") or {}).get("Layers") or []))
    return have


def missing_layers(diff_ids: list[str], have: set[str]) -> list[int]:
    """Indices of the layers a host must receive."""
    return [i for i, chain in enumerate(chain_ids(diff_ids)) if chain not in have]


def partial_archive(save: IO[bytes], keep: set[int], out: IO[bytes], level: int = 1) -> int:
    """Copy a `docker save` archive into `out` (gzip), leaving out layer files not in `keep`.

    Returns the number of layers written. Works for the legacy and the OCI save layouts: only
    the paths `manifest.json` lists as layers are ever dropped.
    """
    with tarfile.open(fileobj=save, mode="r:") as src:
        members = src.getmembers()
        manifest_member = next((m for m in members if m.name == "manifest.json"), None)
        if manifest_member is None:
            raise PlatError("the image archive has no manifest.json (not a `docker save` archive)")
        manifest = json.load(src.extractfile(manifest_member))  # type: ignore[arg-type]  # None only for a non-file member
        layers = [layer for entry in manifest for layer in entry["Layers"]]
        wanted = {layers[i] for i in keep if i < len(layers)}
        # Legacy saves store a repeated layer as a link to its first copy: keep link targets.
        by_name = {m.name: m for m in members}
        for name in list(wanted):
            member = by_name.get(name)
            if member is not None and (member.issym() or member.islnk()):
                target = member.linkname if member.islnk() else \
                    posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                wanted.add(target)
        skipped = set(layers) - wanted
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w:") as dst:
            for member in members:
                if member.name in skipped:
                    continue
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    return len(wanted)


@dataclass(frozen=True)
class Delivery:
    host: str
    image: str
    layers_sent: int
    layers_total: int
    bytes_sent: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


class SavedImage:
    """A local image saved once per command and shared by every host's delivery."""

    def __init__(self, client: docker.DockerClient, ref: str) -> None:
        self.client, self.ref = client, ref
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="plat-save-")
        image = client.images.get(ref)
        self.image_id: str = image.id
        self.diff_ids: list[str] = image.attrs["RootFS"]["Layers"]

    def path(self) -> Path:
        with self._lock:
            if self._path is None:
                path = Path(self._dir.name) / "image.tar"
                with path.open("wb") as f:
                    for chunk in self.client.images.get(self.ref).save(chunk_size=CHUNK, named=self.ref):
                        f.write(chunk)
                self._path = path
            return self._path

    def close(self) -> None:
        self._dir.cleanup()


def _stream(path: Path, on_bytes: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            on_bytes(len(chunk))
            yield chunk


def deliver(saved: SavedImage, remote: docker.DockerClient, host: str,
            on_progress: Callable[[int, int], None] = lambda sent, total: None) -> Delivery:
    """Make `saved.ref` present on the remote engine, sending only the missing layers."""
    t0 = time.monotonic()
    try:
        current = remote.images.get(saved.ref)
        if current.id == saved.image_id:
            return Delivery(host, saved.ref, 0, len(saved.diff_ids), 0, time.monotonic() - t0)
    except docker.errors.ImageNotFound:
        pass
    have = chains_present(img.attrs for img in remote.images.list(all=True))
    missing = missing_layers(saved.diff_ids, have)
    with tempfile.TemporaryDirectory(prefix="plat-send-") as tmp:
        archive = Path(tmp) / "partial.tar.gz"
        with saved.path().open("rb") as src, archive.open("wb") as out:
            partial_archive(src, set(missing), out)
        total, sent = archive.stat().st_size, 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            on_progress(sent, total)

        try:
            remote.images.load(_stream(archive, count))
        except docker.errors.DockerException as exc:  # APIError, ImageLoadError
            reason = str(getattr(exc, "explanation", None) or exc)
            if "no space left" in reason.lower():
                raise PlatError(f"{host}: the host's disk is full; the image could not be loaded",
                                "free space on the host (`docker system prune`) and deploy again") from None
            raise PlatError(f"{host}: loading the image failed: {reason}") from None
    return Delivery(host, saved.ref, len(missing), len(saved.diff_ids), total, time.monotonic() - t0)

