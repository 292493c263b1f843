"""Per-app secrets: one JSON file per app under `<state_dir>/secrets/` (directory 0700, files 0600).

Files are replaced atomically (a 0600 temp file, then `os.replace`), so a reader never sees half
a file and no copy is ever world-readable. Values leave this module only as container env
(`env`); listings carry names and times. The store is read at every instance start, so a
scale-up or a cold start gets the current values.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_VALUE = 64 * 1024
RESERVED = frozenset({"PORT"})
"""Set by the agent for every instance; a secret of that name could never take effect."""


class SecretError(ValueError):
    """A secret name or value the store refuses."""


class CorruptSecrets(RuntimeError):
    """An app's secrets file that is not what this module writes (edited by hand?)."""


def check_key(key: str) -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise SecretError("secret names must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    if key in RESERVED:
        raise SecretError(f"{key} is set by the agent for every instance; choose another name")
    return key


def check_value(value: Any) -> str:
    """A secret value: a string of at most 64 KiB (UTF-8), without NUL (it becomes an env var)."""
    if not isinstance(value, str):
        raise SecretError("value must be a string")
    if len(value.encode()) > MAX_VALUE:
        raise SecretError(f"value is longer than {MAX_VALUE} bytes")
    if "\x00" in value:
        raise SecretError("value must not contain NUL characters")
    return value


def _empty(tenant: str | None) -> dict[str, Any]:
    return {"tenant": tenant, "values": {}, "updated": {}}


class SecretStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def _path(self, app: str) -> Path:
        return self.root / f"{app}.json"

    def _read(self, app: str) -> dict[str, Any]:
        try:
            data = json.loads(self._path(app).read_text())
        except FileNotFoundError:
            return _empty(None)
        except ValueError:
            raise CorruptSecrets(f"{self._path(app)} is not valid JSON; fix or remove it") from None
        if not isinstance(data, dict):
            raise CorruptSecrets(f"{self._path(app)} is not a JSON object; fix or remove it")
        return {"tenant": data.get("tenant"), "values": dict(data.get("values") or {}),
                "updated": dict(data.get("updated") or {})}

    def _write(self, app: str, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{app}.", suffix=".tmp")  # created 0600
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path(app))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def tenant(self, app: str) -> str | None:
        """The tenant the app's secrets belong to (None when it has none)."""
        data = self._read(app)
        return data["tenant"] if data["values"] else None

    def set(self, app: str, tenant: str, key: str, value: str) -> float:
        """Set one secret; values another tenant left under this name are dropped."""
        check_key(key)
        check_value(value)
        with self._lock:
            data = self._read(app)
            if data["tenant"] != tenant:
                data = _empty(tenant)
            now = time.time()
            data["values"][key] = value
            data["updated"][key] = now
            self._write(app, data)
        return now

    def delete(self, app: str, key: str) -> bool:
        with self._lock:
            data = self._read(app)
            if key not in data["values"]:
                return False
            del data["values"][key]
            data["updated"].pop(key, None)
            if data["values"]:
                self._write(app, data)
            else:
                self._path(app).unlink(missing_ok=True)
        return True

    def remove_all(self, app: str) -> int:
        """Forget every secret of the app (it was destroyed); returns how many there were."""
        with self._lock:
            count = len(self._read(app)["values"])
            self._path(app).unlink(missing_ok=True)
        return count

    def listing(self, app: str) -> list[dict[str, Any]]:
        """Names and update times, sorted by name: never values."""
        data = self._read(app)
        return [{"key": k, "updated": data["updated"].get(k)} for k in sorted(data["values"])]

    def env(self, app: str, tenant: str) -> dict[str, str]:
        """The values to inject into an instance of `app` run for `tenant` (none if they are another's)."""
        data = self._read(app)
        return dict(data["values"]) if data["tenant"] == tenant else {}
