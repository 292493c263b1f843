"""Run HAProxy as the gateway and drive it: the agent's `Router` over HAProxy's runtime API."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from agent.haproxy_config import (
    AppRoute,
    GatewayConfig,
    Server,
    add_server,
    app_load,
    backend_name,
    delete_server,
    drain_server,
    maint_server,
    parse_stat,
    render,
    render_map,
)
from agent.pool import ServerLoad

log = logging.getLogger("plat.agent.gateway")


class GatewayError(Exception):
    pass


class Gateway:
    def __init__(self, cfg: GatewayConfig, routes: Callable[[], Iterable[AppRoute]], binary: str = "haproxy") -> None:
        self.cfg = cfg
        self.routes = routes
        """Current routes of every app (servers included), read at each reload."""
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: deque[str] = deque(maxlen=200)
        """HAProxy's last lines of output (it logs every reload: the pipe is drained so it never fills)."""
        self._lock = threading.RLock()
        """Held by reloads and runtime changes, so a server is never added to a worker on its way out."""
        state = Path(cfg.state_dir)
        self.cfg_path, self.map_path, self.sock = state / "haproxy.cfg", state / "apps.map", state / "haproxy.sock"

    # -- process ----------------------------------------------------------------------------
    def _write(self) -> None:
        """Render both files first, then replace each by rename: HAProxy never reads half a file."""
        routes = list(self.routes())
        cfg, apps = render(self.cfg, routes), render_map(r.app for r in routes)
        for path, text in ((self.map_path, apps), (self.cfg_path, cfg)):
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)

    def start(self) -> None:
        self._write()
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.cfg_path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise GatewayError(f"haproxy refused its config: {check.stderr.strip()[-400:]}")
        self.proc = subprocess.Popen([self.binary, "-W", "-db", "-f", str(self.cfg_path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        threading.Thread(target=self._drain, args=(self.proc,), name="haproxy-stderr", daemon=True).start()
        self._wait_socket()

    def _drain(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.stderr.append(line)
            log.log(logging.WARNING if "[ALERT]" in line else logging.DEBUG, "haproxy: %s", line)

    def _wait_socket(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.command("show info")
                return
            except OSError:
                if self.proc and self.proc.poll() is not None:
                    time.sleep(0.05)  # let the drain thread catch the last lines
                    raise GatewayError(f"haproxy exited: {' | '.join(self.stderr)[-400:]}") from None
                time.sleep(0.02)
        raise GatewayError("haproxy's runtime socket did not come up")

    def reload(self) -> None:
        """Re-render the config (apps added or removed) and reload seamlessly (master-worker)."""
        with self._lock:
            self._write()
            check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.cfg_path)], capture_output=True, text=True)
            if check.returncode != 0:
                raise GatewayError(f"haproxy refused its config: {check.stderr.strip()[-400:]}")
            assert self.proc is not None
            before = self._pid_of_worker()
            os.kill(self.proc.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if self._pid_of_worker() not in (None, before):
                        return
                except OSError:
                    pass
                time.sleep(0.02)
            raise GatewayError("haproxy did not reload within 10 s")

    def _pid_of_worker(self) -> str | None:
        for line in self.command("show info").splitlines():
            if line.startswith("Pid:"):
                return line.split(":", 1)[1].strip()
        return None

    def stop(self) -> None:
        """Stop the master and its workers (one process group)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    # -- runtime API --------------------------------------------------------------------------
    def command(self, line: str, timeout: float = 5.0) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.sock))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    # -- Router -------------------------------------------------------------------------------
    def add(self, app: str, server: str, address: str, maxconn: int) -> None:
        """Route to `address`; a server of that name (from a reload's config) is re-pointed and enabled."""
        with self._lock:
            out = self.command(add_server(app, Server(server, address, maxconn)))
            if "already exists" in out.lower():  # 2.6: "Already exists a server with the same name"
                host, _, port = address.rpartition(":")
                be = backend_name(app)
                out = self.command(f"set server {be}/{server} addr {host} port {port}; "
                                   f"set maxconn server {be}/{server} {maxconn}; enable server {be}/{server}")
                if "error" in out.lower() or "no such" in out.lower():
                    raise GatewayError(f"haproxy: {out.strip()}")
            elif out.strip() and "New server registered" not in out:
                raise GatewayError(f"haproxy: {out.strip()}")

    def remove(self, app: str, server: str, drain_timeout: float = 30.0) -> bool:
        """Drain (no new requests; in-flight and queued ones finish), then delete the server.

        Returns whether HAProxy deleted it (a server it kept stays in maintenance: no traffic)."""
        with self._lock:
            self.command(drain_server(app, server))
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            _, servers = app_load(parse_stat(self.command("show stat")), app)
            if servers.get(server, (0, None))[0] == 0:
                break
            time.sleep(0.02)
        with self._lock:
            self.command(maint_server(app, server))
        # `del server` refuses while a connection is still attached: retry until the last one is
        # done, and only cut sessions (never in-flight requests of a healthy drain) at the deadline.
        out = ""
        while time.monotonic() < deadline + 5:
            with self._lock:
                out = self.command(delete_server(app, server, force=time.monotonic() >= deadline))
            if "Server deleted" in out:
                return True
            time.sleep(0.02)
        log.warning("haproxy kept %s/%s: %s", app, server, out.strip()[-200:])
        return False

    def load(self, app: str) -> tuple[int, dict[str, ServerLoad]]:
        queued, servers = app_load(parse_stat(self.command("show stat")), app)
        return queued, {name: ServerLoad(in_flight=s, idle_for=float(last) if last is not None else 1e9)
                        for name, (s, last) in servers.items()}
