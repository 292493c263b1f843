"""plat's settings for a Django project: the project's own (the module PLAT_DJANGO_SETTINGS
names), plus what an instance behind plat's gateway needs, so a stock `startproject` runs as is.

- ALLOWED_HOSTS keeps the project's hosts and adds the instance's own addresses (the agent's
  health probe sends one as Host), loopback names, and any in PLAT_ALLOWED_HOSTS (comma-separated).
- Static files are served by WhiteNoise from STATIC_ROOT (BASE_DIR/staticfiles unless the
  project sets one), collected when the image is built.
"""

import importlib
import os
import socket
from pathlib import Path

_project = importlib.import_module(os.environ["PLAT_DJANGO_SETTINGS"])
globals().update({name: value for name, value in vars(_project).items() if name.isupper()})


def _addresses() -> list[str]:
    try:
        return socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return []


_extra = [host.strip() for host in os.environ.get("PLAT_ALLOWED_HOSTS", "").split(",") if host.strip()]
ALLOWED_HOSTS = [*getattr(_project, "ALLOWED_HOSTS", []), ".localhost", "127.0.0.1", "[::1]", *_extra, *_addresses()]

STATIC_ROOT = getattr(_project, "STATIC_ROOT", None) or str(Path(getattr(_project, "BASE_DIR", os.getcwd())) / "staticfiles")
_middleware = list(getattr(_project, "MIDDLEWARE", []))
if "whitenoise.middleware.WhiteNoiseMiddleware" not in _middleware:
    _security = "django.middleware.security.SecurityMiddleware"
    _at = _middleware.index(_security) + 1 if _security in _middleware else 0
    _middleware.insert(_at, "whitenoise.middleware.WhiteNoiseMiddleware")
MIDDLEWARE = _middleware
