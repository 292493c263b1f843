"""The dev loop's I/O with the engine: dev images, containers, their logs, reloads, cleanup."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from plat.app import AppSpec
from plat.config import load_manifest, parse_dotenv
from plat.dev import image as dev_image
from plat.dev import plan
from plat.dev.config import DevConfig
from plat.dev.pump import Tracked
from plat.dev.view import View
from plat.docker_client import docker, extra_labels
from plat.errors import PlatError
from plat.paths import read_tree_file
from plat.runner import remove


def pick_port(preferred: int) -> tuple[int, bool]:
    """`preferred` when it is free on 127.0.0.1, else a free port (and False)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred, True
        except OSError:
            pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1], False


@dataclass(frozen=True)
class Outcome:
    serving: bool
    seconds: float = 0.0
    status: int | None = None
    """The health path's HTTP status, when serving."""
    exit_code: int | None = None
    """How the app ended, when it did."""


class DevSession:
    def __init__(self, client: docker.DockerClient, app: AppSpec, cfg: DevConfig, ports: plan.Ports,
                 view: View, *, user: str, session_id: str) -> None:
        self.client, self.app, self.cfg, self.ports, self.view = client, app, cfg, ports, view
        self.user, self.id = user, session_id
        self.url = f"http://127.0.0.1:{ports.app}"
        self.frontend_url = f"http://127.0.0.1:{ports.frontend}" if ports.frontend else None
        self.has_frontend = bool(app.frontend and cfg.frontend and ports.frontend)
        self.app_runner: Tracked | None = None
        self.web_runner: Tracked | None = None
        self.stopping = False
        self.stale_images: set[str] = set()

    # -- images ----------------------------------------------------------------------------------
    def build(self, frontend: bool = False) -> None:
        """Build the app's (or the frontend's) dev image; unchanged dependencies hit the cache."""
        role = "frontend dev image" if frontend else "dev image"
        ctx = dev_image.dev_context(self.app, self.cfg, frontend=frontend)
        # No session id on images: the next session finds the very same image in the cache.
        labels = plan.labels(self.app, "dev-image", None, extra_labels())
        ctx = dev_image.finish(ctx, labels, supervisor=not frontend and self.cfg.reload == "restart")
        tag = dev_image.image_tag(self.app, frontend)
        shown = [0]

        def progress(log) -> None:
            # Steps that run (cached ones take no time), each once.
            if log.executing and log.step != shown[0]:
                shown[0] = log.step
                self.view.status("building", f"{role}: step {log.step}/{log.total} {log.instruction[:60]}")

        previous = self._image_id(tag)
        new = dev_image.build_image(self.client, ctx, tag, progress)
        if previous and previous != new:
            self.stale_images.add(previous)

    def _image_id(self, tag: str) -> str | None:
        try:
            return self.client.images.get(tag).id
        except docker.errors.ImageNotFound:
            return None

    def prune(self) -> None:
        """Remove the images rebuilds replaced, once no container uses them."""
        for image in list(self.stale_images):
            try:
                self.client.images.remove(image)
                self.stale_images.discard(image)
            except docker.errors.NotFound:
                self.stale_images.discard(image)
            except docker.errors.APIError:
                pass

    def build_all(self) -> None:
        self.build()
        if self.has_frontend:
            self.build(frontend=True)

    # -- containers ------------------------------------------------------------------------------
    def _dotenv(self) -> dict[str, str]:
        text = read_tree_file(self.app.root, ".env", "write .env as KEY=value lines of text")
        return parse_dotenv(text, self.app.root / ".env") if text is not None else {}

    def _caches(self) -> dict[str, str]:
        assert self.app.runtime is not None
        caches = {}
        for suffix, path in self.cfg.caches.items():
            name = plan.cache_volume(self.app.runtime.name, suffix)
            try:
                self.client.volumes.get(name)
            except docker.errors.NotFound:
                self.client.volumes.create(name, labels=plan.labels(self.app, "dev-cache", None, extra_labels()))
            caches[name] = path
        return caches

    def _run(self, spec: dict) -> docker.models.containers.Container:
        try:
            return self.client.containers.run(**spec)
        except docker.errors.APIError as exc:
            text = str(exc.explanation or exc)
            hint = ("another process took the port: run plat dev again, or pick one with --port"
                    if "port is already allocated" in text or "address already in use" in text else None)
            raise PlatError(f"could not start the dev container: {text}", hint) from None

    def start(self) -> None:
        env = plan.dev_env(self.app, self.cfg, self._dotenv())
        name = f"plat-dev-{self.app.name}-{self.id}"
        spec = plan.backend_spec(self.app, self.cfg, image=dev_image.image_tag(self.app), name=name, ports=self.ports,
                                 env=env, labels=plan.labels(self.app, "dev", self.id, extra_labels()),
                                 user=self.user, caches=self._caches())
        self.app_runner = Tracked("app", self._run(spec), self)
        if self.has_frontend:
            self.start_frontend(env)

    def start_frontend(self, env: dict[str, str] | None = None) -> None:
        assert self.app_runner is not None
        env = env or plan.dev_env(self.app, self.cfg, self._dotenv())
        spec = plan.frontend_spec(self.app, self.cfg, image=dev_image.image_tag(self.app, frontend=True),
                                  name=f"plat-dev-{self.app.name}-{self.id}-web",
                                  backend_id=self.app_runner.container.id, ports=self.ports, env=env,
                                  labels=plan.labels(self.app, "dev-frontend", self.id, extra_labels()),
                                  user=self.user)
        self.web_runner = Tracked("web", self._run(spec), self)

    def frontend_stopped(self) -> bool:
        return self.has_frontend and (self.web_runner is None or self.web_runner.ended is not None)

    def remove_containers(self, frontend_only: bool = False) -> None:
        runners = [self.web_runner] if frontend_only else [self.web_runner, self.app_runner]
        for runner in runners:
            if runner is not None:
                remove(runner.container)
        self.web_runner = None
        if not frontend_only:
            self.app_runner = None

    def reload_manifest(self) -> None:
        """Pick up plat.yaml's env (and port) again; a broken plat.yaml keeps the old one."""
        manifest = load_manifest(self.app.root)
        if manifest is not None:
            self.app = dataclasses.replace(self.app, manifest=manifest)

    # -- reloads ---------------------------------------------------------------------------------
    def reload(self) -> int:
        """Apply the runtime's reload; returns the supervisor generation to wait for (0: none)."""
        runner = self.app_runner
        assert runner is not None
        runner.container.reload()
        if runner.container.status != "running":
            since = time.time()
            runner.container.start()
            self.app_runner = Tracked("app", runner.container, self, since)
            return 1 if self.cfg.reload == "restart" else 0
        if self.cfg.reload == "none":
            return 0
        before = runner.started
        sig = "SIGHUP" if self.cfg.reload == "restart" else self.cfg.signal
        runner.container.kill(signal=sig)
        if self.cfg.reload != "restart":
            return 0
        # A restart shows up as the supervisor's next "start" marker; ask again once if not.
        if not runner.wait_for(lambda: runner.started > before, 2.0):
            runner.container.kill(signal=sig)
            runner.wait_for(lambda: runner.started > before, 3.0)
        return max(runner.started, before + 1)

    def wait_serving(self, since: float, generation: int = 0, timeout: float = 60.0,
                     abort: Callable[[], bool] = lambda: False) -> Outcome:
        """Poll the health path until the app answers (any HTTP status), it exits, `abort()`
        (newer changes to apply) or `timeout`."""
        runner = self.app_runner
        assert runner is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0)) as http:
            while time.monotonic() < deadline and not self.stopping and not abort():
                if generation and generation in runner.exits:
                    return Outcome(False, exit_code=runner.exits[generation])
                if runner.ended is not None:
                    return Outcome(False, exit_code=runner.ended)
                try:
                    status = http.get(self.url + self.app.health).status_code
                    return Outcome(True, time.monotonic() - since, status)
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)
        return Outcome(False)

    # -- callbacks from the log pumps -----------------------------------------------------------
    def log(self, role: str, line: str) -> None:
        self.view.log(role, line)

    def on_crash(self, runner: Tracked, code: int | None) -> None:
        """The supervisor saw the app exit by itself: a syntax or compile error, most often."""
        if not self.stopping:
            what = "the app" if runner.role == "app" else "the frontend dev server"
            self.view.problem(f"{what} exited with code {code}", list(runner.recent))
            self.view.status("crashed", f"{what} exited with code {code}; fix it and save")

    def on_exit(self, runner: Tracked) -> None:
        current = runner is self.app_runner or runner is self.web_runner
        if current and not self.stopping:
            what = "the app" if runner.role == "app" else "the frontend dev server"
            self.view.problem(f"{what} stopped (exit code {runner.ended})", list(runner.recent))
            self.view.status("crashed", f"{what} stopped; save a file to start it again")

    def stop(self) -> None:
        self.stopping = True
        self.remove_containers()
        self.prune()


def source_roots(app: AppSpec) -> list[Path]:
    """What to watch: the source folder, and the app folder's env files when it lies above it."""
    roots = [app.context_dir]
    if app.root != app.context_dir:
        roots += [app.root / name for name in plan.ENV_FILES if (app.root / name).exists()]
    return roots
