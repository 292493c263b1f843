"""The activator: HAProxy's backup server for every app. A request lands here only when the
app has no ready instance; the activator brings one up (scale from zero), then forwards the
held request to it and marks the response `X-Plat-Cold-Start: 1`."""

from __future__ import annotations

import hmac
import http.client
import logging
import threading

from agent.core import Agent, AgentError
from agent.httpserver import HOP_BY_HOP, BadFraming, BodyTooLarge, Handler, Server
from agent.tokens import key_allows
from plat_contract.api import ErrorCode

log = logging.getLogger("plat.agent.activator")
NOT_FORWARDED = HOP_BY_HOP | {"x-plat-via", "x-plat-key"}


def make_activator(agent: Agent, bind: str, port: int, gateway_name: str, max_held: int = 256) -> Server:
    """`gateway_name`: the activator's secret server name in HAProxy's config; a request whose
    `X-Plat-Via` carries it passed the gateway's key check, any other must show the app's key."""
    held = threading.BoundedSemaphore(max_held)

    class Activator(Handler):
        max_body = agent.settings.max_body

        def send_json(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
            # HAProxy would otherwise name the server (the secret) in X-Plat-Instance.
            super().send_json(status, data, headers={"X-Plat-Instance": "activator", **(headers or {})})

        def _forward(self) -> None:
            app = self.headers.get("X-Plat-App", "")
            row = agent.store.app(app)
            if row is None:
                self.send_error_json(404, "no such app", code=ErrorCode.NOT_FOUND, app=app)
                return
            via_gateway = hmac.compare_digest(self.headers.get("X-Plat-Via", "").encode(), gateway_name.encode())
            if not via_gateway and not key_allows(self.headers.get("X-Plat-Key"), row.get("api_key_hash")):
                self.send_error_json(401, "missing or wrong X-Plat-Key", code=ErrorCode.UNAUTHORIZED, app=app)
                return
            if not held.acquire(blocking=False):
                self.send_error_json(503, "too many requests waiting for an instance", app=app)
                return
            try:
                body = self.read_body()
                member = agent.claim(app)
            except BodyTooLarge:
                self.send_error_json(413, "request body too large", code=ErrorCode.TOO_LARGE)
                return
            except BadFraming as exc:
                self.send_error_json(400, f"bad request: {exc}", code=ErrorCode.INVALID)
                return
            except AgentError as exc:
                # The caller may be anyone: the app's log tail goes to the agent's log, not to them.
                log.warning("%s: %s\n%s", app, exc.message, exc.detail[-2000:])
                self.send_error_json(exc.status, exc.message, code=exc.code, app=app)
                return
            finally:
                held.release()
            host, _, port_s = (member.address or "").rpartition(":")
            conn = http.client.HTTPConnection(host, int(port_s), timeout=agent.settings.request_timeout)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except OSError as exc:
                self.send_error_json(502, f"instance {member.name} failed: {exc}", app=app)
                return
            finally:
                conn.close()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Plat-Cold-Start", "1")
            self.send_header("X-Plat-Instance", member.name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    return Server((bind, port), Activator)
