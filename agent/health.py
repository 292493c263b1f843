"""Is an instance answering? A tight stdlib poll: cold starts are measured in milliseconds."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

HEALTHY = range(200, 400)


def probe(address: str, path: str, timeout: float = 1.0) -> int | None:
    """The status of one GET, or None when nothing answers."""
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "plat-agent-health"})
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_healthy(address: str, path: str, timeout: float, alive: Callable[[], bool] = lambda: True,
                 interval: float = 0.005) -> bool:
    """Poll until a 2xx/3xx, `alive()` turns false (the container died) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe(address, path, timeout=min(1.0, max(0.05, deadline - time.monotonic()))) in HEALTHY:
            return True
        if not alive():
            return False
        time.sleep(interval)
    return False
