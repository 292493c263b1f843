"""Watch the source and apply what each batch of changes calls for, one batch at a time."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import watchfiles

from plat.app import AppSpec
from plat.dev import plan
from plat.dev.config import DevConfig
from plat.dev.ignore import load_ignore
from plat.dev.image import backend_dependency_files, frontend_dependency_files
from plat.dev.session import DevSession, Outcome, source_roots
from plat.errors import PlatError

INOTIFY_HINT = ("raise the limit: sudo sysctl fs.inotify.max_user_watches=524288 (persist it in "
                "/etc/sysctl.d/), or add big folders to .dockerignore/.gitignore and move them out of the app")


def watch_rules(app: AppSpec, cfg: DevConfig) -> plan.WatchRules:
    """The rules for an app folder (reads its ignore files)."""
    env_files = frozenset(plan.relative(app.root / name, app.context_dir) for name in plan.ENV_FILES)
    return plan.WatchRules(
        ignore=load_ignore(app.context_dir, cfg.ignore, app.frontend),
        dependency_files=frozenset(backend_dependency_files(app)),
        watch=cfg.watch,
        frontend=app.frontend if cfg.frontend else None,
        frontend_dependency_files=frozenset(frontend_dependency_files(app, cfg)),
        env_files=env_files,
    )


def watcher_error(exc: BaseException) -> PlatError | None:
    """A PlatError for a file watcher limit, None for anything else."""
    text = str(exc).lower()
    if "watch limit" in text or "max_user_watches" in text or getattr(exc, "errno", None) == 28:
        return PlatError("the file watcher hit the system's inotify watch limit", INOTIFY_HINT)
    if "too many open files" in text or getattr(exc, "errno", None) == 24:
        return PlatError("the file watcher hit the system's inotify instance limit",
                         "raise it: sudo sysctl fs.inotify.max_user_instances=1024 (persist it in /etc/sysctl.d/)")
    return None


class Watcher:
    """watchfiles in a thread: batches of changes (and when they were seen) on a queue."""

    def __init__(self, app: AppSpec) -> None:
        self.queue: queue.Queue[tuple[float, set[str]] | BaseException] = queue.Queue()
        self.stop_event = threading.Event()
        self.roots = source_roots(app)
        threading.Thread(target=self._run, daemon=True, name="plat-dev-watch").start()

    def _run(self) -> None:
        try:
            # step: yield 20 ms after the last event of a burst (an editor's save is several events).
            for changes in watchfiles.watch(*self.roots, watch_filter=None, debounce=400, step=20,
                                            stop_event=self.stop_event, raise_interrupt=False,
                                            ignore_permission_denied=True):
                self.queue.put((time.monotonic(), {path for _change, path in changes}))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.queue.put(exc)

    def get(self, timeout: float | None = None) -> tuple[float, set[str]] | None:
        """The next batch, merged with any queued after it (only the newest state matters)."""
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        batches = [item]
        while not self.queue.empty():
            batches.append(self.queue.get_nowait())
        paths: set[str] = set()
        for batch in batches:
            if isinstance(batch, BaseException):
                raise watcher_error(batch) or batch
            paths |= batch[1]
        first = batches[0]
        assert not isinstance(first, BaseException)
        return first[0], paths

    def pending(self) -> bool:
        return not self.queue.empty()

    def stop(self) -> None:
        self.stop_event.set()


def apply(session: DevSession, watcher: Watcher, reaction: plan.Reaction, seen: float) -> None:
    """Carry out one reaction and report how it went."""
    view = session.view
    what = describe(reaction.paths, session.app.context_dir)
    kind = reaction.kind
    if kind == "none":
        return
    if kind == "frontend":
        if session.frontend_stopped():
            session.remove_containers(frontend_only=True)
            session.start_frontend()
            view.status("watching", f"{what}: frontend dev server started again")
        else:
            view.status("watching", f"{what} → frontend dev server (HMR)")
        return
    generation = 0
    try:
        if kind == "rebuild":
            view.status("rebuilding", f"{what} changed")
            if reaction.rebuild:
                session.build()
            if reaction.rebuild_frontend and session.has_frontend:
                session.build(frontend=True)
            if reaction.recreate:
                session.reload_manifest()
            if reaction.rebuild or reaction.recreate:
                session.remove_containers()
                session.start()
                generation = 1 if session.cfg.reload == "restart" else 0
            else:
                session.remove_containers(frontend_only=True)
                session.start_frontend()
                session.prune()
                if not reaction.reload:
                    view.status("watching", f"frontend dev server rebuilt in {(time.monotonic() - seen) * 1000:.0f} ms")
                    return
                generation = session.reload()
        elif kind == "recreate":
            view.status("reloading", f"{what} changed: new containers")
            session.reload_manifest()
            session.remove_containers()
            session.start()
            generation = 1 if session.cfg.reload == "restart" else 0
        else:
            view.status("reloading", what)
            generation = session.reload()
    except PlatError as exc:
        view.problem("plat dev could not apply the change", str(exc).splitlines())
        view.status("crashed", "fix it and save to try again")
        return
    outcome = session.wait_serving(seen, generation, timeout=120.0 if kind == "rebuild" else 60.0,
                                   abort=watcher.pending)
    session.prune()
    report(session, outcome, {"rebuild": "rebuilt", "recreate": "restarted"}.get(kind, "reloaded"),
           superseded=watcher.pending())


def describe(paths: tuple[str, ...], source: Path) -> str:
    """The changed files for the status line: those that still exist (editors' temp files do not)."""
    shown = [p for p in paths if (source / p).exists()] or list(paths)
    return ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")


def report(session: DevSession, outcome: Outcome, verb: str, superseded: bool = False) -> None:
    view = session.view
    if outcome.serving:
        healthy = outcome.status is not None and outcome.status < 400
        note = "" if healthy else f" ({session.app.health} answers {outcome.status})"
        view.status("watching", f"{verb} in {outcome.seconds * 1000:.0f} ms{note}")
    elif outcome.exit_code is None and not superseded and not session.stopping:
        view.status("watching", f"not answering on {session.app.health} yet: see the log")
    # An exit was reported by the log pump, with the lines that explain it.


def run(session: DevSession, watcher: Watcher, rules: plan.WatchRules) -> None:
    """Until Ctrl-C: wait for changes, react."""
    source = session.app.context_dir
    while True:
        batch = watcher.get(timeout=0.5)
        if batch is None:
            continue
        seen, paths = batch
        reaction = plan.react((plan.relative(p, source) for p in paths), rules)
        apply(session, watcher, reaction, seen)
