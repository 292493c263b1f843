"""The dev loop's I/O: build the dev image, run the container, watch, reload, clean up."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from watchfiles import watch

from plat.app import AppSpec
from plat.build.context import ignore_patterns, plan_context
from plat.build.docker_backend import build as docker_build
from plat.dev.plan import DevPlan, classify, container_spec, watched
from plat.docker_client import docker, extra_labels
from plat.errors import PlatError
from plat.runner import published_port, remove

Say = Callable[[str, str], None]
"""(kind, text): kind is status | log | error."""


def pick_port(preferred: int) -> tuple[int, bool]:
    """The preferred host port when it is free on 127.0.0.1, else a free one (and False)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred, True
        except OSError:
            pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1], False


class DevSession:
    def __init__(self, client: docker.DockerClient, app: AppSpec, plan: DevPlan, host_port: int, say: Say) -> None:
        self.client, self.app, self.plan, self.host_port, self.say = client, app, plan, host_port, say
        self.container = None
        self.image = f"{app.name}-dev:plat"
        self.url = f"http://127.0.0.1:{host_port}"
        self._stop = threading.Event()
        self._changes: queue.Queue[set[Path]] = queue.Queue()

    # -- image and container ------------------------------------------------------------------
    def build(self) -> None:
        self.say("status", "building the dev image")
        t0 = time.monotonic()
        docker_build(self.client, plan_context(self.app), self.image, target=self.plan.target,
                     labels={"plat.managed": "true", "plat.role": "dev-image", **extra_labels()})
        self.say("status", f"dev image ready in {time.monotonic() - t0:.1f}s")

    def start(self) -> None:
        spec = container_spec(self.app, self.plan, self.image, self.host_port, extra_labels(), {})
        try:
            self.container = self.client.containers.run(**spec)
        except docker.errors.APIError as exc:
            raise PlatError(f"could not start the dev container: {exc.explanation or exc}") from None
        published_port(self.container, self.app.port)
        threading.Thread(target=self._pump_logs, args=(self.container,), daemon=True).start()

    def _pump_logs(self, container) -> None:  # type: ignore[no-untyped-def]
        since = None
        while not self._stop.is_set():
            try:
                for chunk in container.logs(stream=True, follow=True, since=since):
                    for line in chunk.decode(errors="replace").splitlines():
                        self.say("log", line)
                since = int(time.time())
                container.reload()
                if container.status != "running" and not self._stop.is_set():
                    self.say("error", f"the app exited (code {container.attrs['State'].get('ExitCode')}); "
                                      "fix the error and save to restart it")
                    while not self._stop.is_set() and container.status != "running":
                        time.sleep(0.1)
                        container.reload()
            except docker.errors.NotFound:
                return
            except Exception:  # the stream broke (restart): follow again
                time.sleep(0.05)

    def wait_serving(self, timeout: float = 30.0) -> float | None:
        """Seconds until the app answers its health path again, or None."""
        t0 = time.monotonic()
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() - t0 < timeout and not self._stop.is_set():
                try:
                    if http.get(self.url + self.app.health).status_code < 500:
                        return time.monotonic() - t0
                except httpx.HTTPError:
                    pass
                self.container.reload()
                if self.container.status == "exited":
                    return None
                time.sleep(0.01)
        return None

    # -- reactions -----------------------------------------------------------------------------
    def reload(self) -> None:
        c = self.container
        c.reload()
        if c.status == "running" and self.plan.reload == "signal":
            try:
                c.kill(signal=self.plan.signal)
                return
            except docker.errors.APIError:  # it stopped meanwhile: start it below
                c.reload()
        if c.status == "running" and self.plan.reload == "restart":
            c.restart(timeout=1)
        elif c.status != "running":
            c.start()

    def _restarted_if_exited(self) -> float | None:
        """The app died during the reload (say, a save landed while it was exiting on an
        earlier error): start it once more with the current source, and wait again."""
        self.container.reload()
        if self.container.status != "exited":
            return None
        self.container.start()
        return self.wait_serving()

    def rebuild(self) -> None:
        self.build()
        old = self.container
        if old is not None:
            remove(old)
        self.start()

    def watch(self) -> None:
        """Start watching now, before the first build: a save made while the app starts is not lost."""
        root = self.app.context_dir
        ignore = {p for p in ignore_patterns(root) if "*" not in p and not p.startswith("!")}

        def run() -> None:
            for changes in watch(root, watch_filter=lambda _c, p: watched(Path(p), root, ignore), debounce=50,
                                 step=10, stop_event=self._stop):
                self._changes.put({Path(p) for _c, p in changes})

        threading.Thread(target=run, name="plat-dev-watch", daemon=True).start()

    def _next_batch(self) -> set[Path]:
        batch = self._changes.get()
        while not self._changes.empty():
            batch |= self._changes.get_nowait()
        return batch

    def loop(self) -> None:
        root = self.app.context_dir
        deps = self.app.runtime.dependency_files if self.app.runtime else ()
        while not self._stop.is_set():
            action = classify(self._next_batch(), root, deps)
            if action is None:
                continue
            t0 = time.monotonic()
            try:
                if action == "rebuild":
                    self.say("status", "dependencies changed: rebuilding")
                    self.rebuild()
                elif self.plan.reload != "self" or self.container.status != "running":
                    self.reload()
            except (PlatError, docker.errors.APIError) as exc:
                self.say("error", str(exc).splitlines()[0])
                continue
            serving = self.wait_serving()
            if serving is None and self._changes.empty():
                serving = self._restarted_if_exited()
            if serving is None:
                self.say("error", "not serving: see the log above; the next good save recovers")
            else:
                self.say("status", f"{'rebuilt' if action == 'rebuild' else 'reloaded'} in "
                                   f"{(time.monotonic() - t0) * 1000:.0f} ms · watching")

    def stop(self) -> None:
        self._stop.set()
        if self.container is not None:
            remove(self.container)
