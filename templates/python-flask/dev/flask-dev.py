"""plat dev's Flask runner (templates/python-flask/dev/), run by plat's supervisor.

`flask run` without Werkzeug's reloader: the supervisor restarts this process on each save.
Started with PLAT_DEV_READY=<file>, it is a standby: it imports Flask, Werkzeug and the
other packages the app depends on (most of a start), writes its pid to <file> and waits for
SIGUSR2. Only then does it import the app, so the source it runs is the one just saved.
"""

import importlib
import importlib.metadata
import os
import re
import signal
import sys

import flask.cli
import werkzeug.serving  # noqa: F401 - imported by `flask run` anyway; here, ahead of time


def preload_dependencies(requirements: str = "/deps/requirements.txt") -> None:
    """Import the top-level modules of the app's requirements: installed in the image, they
    cannot change while the container lives (a changed requirements file makes a new one)."""
    try:
        names = re.findall(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", open(requirements).read(), re.M)
    except OSError:
        return
    wanted = {re.sub(r"[-_.]+", "-", n).lower() for n in names}
    for module, dists in importlib.metadata.packages_distributions().items():
        if module.isidentifier() and any(re.sub(r"[-_.]+", "-", d).lower() in wanted for d in dists):
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - a module that wants the app's context: skip it
                pass


def wait_for_go(ready: str) -> None:
    preload_dependencies()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    with open(f"{ready}.tmp", "w") as fh:
        fh.write(str(os.getpid()))
    os.rename(f"{ready}.tmp", ready)
    signal.sigwait({signal.SIGUSR2})
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})


def wsgi_target() -> str:
    """Like the image's entrypoint: $PLAT_WSGI_APP, else wsgi:app, app:app or main:app."""
    if os.environ.get("PLAT_WSGI_APP"):
        return os.environ["PLAT_WSGI_APP"]
    for module in ("wsgi", "app"):
        if os.path.isfile(f"{module}.py"):
            return f"{module}:app"
    return "main:app"


if __name__ == "__main__":
    ready = os.environ.pop("PLAT_DEV_READY", None)
    if ready:
        wait_for_go(ready)
    sys.argv = ["flask", "--app", wsgi_target(), "run", "--host", "0.0.0.0", "--port", os.environ.get("PORT", "8080"),
                "--no-reload"]
    flask.cli.main()
