"""The CLI's client of an agent's control API. One transport seam: tests inject one."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from typing import Any

import httpx

from plat.errors import PlatError
from plat_contract.api import ErrorCode

ACTOR_HEADER = "X-Plat-Actor"


class AgentRefused(PlatError):
    """The agent answered with an error: `code` is its stable error code (plat_contract's
    ErrorCode), `status` the HTTP status. Subclasses name the codes callers branch on."""

    def __init__(self, message: str, code: ErrorCode | None, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.code, self.status = code, status


class NotFound(AgentRefused):
    """No such app, version, secret or invocation (or not the caller's)."""


class OwnedElsewhere(AgentRefused):
    """The app name belongs to another tenant (or another tenant is claiming it)."""


class Unauthorized(AgentRefused):
    """The agent refused the token."""


class Locked(AgentRefused):
    """The agent refused a deploy lock (held by someone else, or ours was lost): `lock` is the
    current holder (`app`, `holder`, `machine`, `pid`, `since`, `renewed`, `expires`, `stale`), or None."""

    def __init__(self, message: str, lock: dict[str, Any] | None, status: int = 409) -> None:
        super().__init__(message, ErrorCode.LOCKED, status)
        self.lock = lock


_BY_CODE: dict[ErrorCode, type[AgentRefused]] = {
    ErrorCode.NOT_FOUND: NotFound, ErrorCode.APP_OWNED_ELSEWHERE: OwnedElsewhere, ErrorCode.UNAUTHORIZED: Unauthorized,
}


def _code(body: dict[str, Any]) -> ErrorCode | None:
    try:
        return ErrorCode(body.get("code"))  # type: ignore[arg-type]  # no code (None) raises ValueError too
    except ValueError:
        return None  # an agent older than the contract, or not an agent at all


def actor_header(actor: str) -> str:
    """An `X-Plat-Actor` value the agent accepts: printable ASCII, at most 200 characters."""
    return "".join(c if " " <= c <= "~" else "?" for c in actor.strip())[:200]


def _verify(verify: bool | str | os.PathLike[str], where: str) -> bool | ssl.SSLContext:
    """httpx's `verify`: a CA bundle path becomes a context trusting just that bundle."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=os.fspath(verify))
    except (OSError, ssl.SSLError) as exc:
        raise PlatError(f"{where}: cannot use {os.fspath(verify)} as a CA bundle ({exc})",
                        "point `ca:` at a PEM file holding the CA certificate that signed the agent's") from None


def _unreachable(where: str, exc: httpx.HTTPError) -> PlatError:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0].strip(" ()")
        if "mismatch" in reason.lower():
            fix = "the certificate is for another name: make `url:` use a name or address it lists"
        elif "expired" in reason.lower():
            fix = "renew the agent's certificate (PLAT_AGENT_TLS_CERT on the host)"
        else:
            fix = "set `ca:` for this host in plat.yaml to the CA bundle that signed it"
        return PlatError(f"{where}: the agent's TLS certificate is not trusted ({reason or 'verify failed'})", fix)
    check = "plat agent status" if where == "local agent" else f"plat hosts check {where}"
    return PlatError(f"{where}: {type(exc).__name__}: {exc}", f"is the agent up? `{check}`")


class AgentClient:
    def __init__(self, api_url: str, token: str, *, where: str = "local agent",
                 transport: httpx.BaseTransport | None = None, timeout: float = 300.0,
                 actor: str | None = None, verify: bool | str | os.PathLike[str] = True) -> None:
        """`actor` names who acts in the agent's audit trail (default: the tenant); `verify` is
        True (system CAs), False, or the path of a CA bundle for an agent serving HTTPS."""
        self.where = where
        headers = {"Authorization": f"Bearer {token}"}
        if actor and actor_header(actor):
            headers[ACTOR_HEADER] = actor_header(actor)
        self._http = httpx.Client(base_url=api_url, transport=transport, timeout=timeout, headers=headers,
                                  verify=_verify(verify, where))

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise _unreachable(self.where, exc) from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"error": resp.text[:300]}
            if not isinstance(body, dict):
                body = {"error": str(body)[:300]}
            detail = body.get("detail") or ""
            tail = "\n" + "\n".join(f"  | {ln}" for ln in detail.splitlines()[-20:]) if detail else ""
            message = f"{self.where}: {body.get('error', resp.reason_phrase)}{tail}"
            code = _code(body)
            if code is ErrorCode.UNAUTHORIZED and resp.request.url.path.startswith("/v1/"):
                raise Unauthorized(f"{self.where}: the agent refused the token (401 unauthorized)", code, 401,
                                   "the token plat sent is not this agent's: for transport http, check the variable "
                                   "`token_env:` names (the agent keeps its token in its state dir, admin-token)")
            if code is ErrorCode.LOCKED:
                raise Locked(message, body.get("lock") if isinstance(body.get("lock"), dict) else None)
            raise _BY_CODE.get(code, AgentRefused)(message, code, resp.status_code) if code else \
                AgentRefused(message, None, resp.status_code)
        return resp.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def deploy(self, app: str, version: str, image: str, manifest: dict[str, Any], digest: str | None,
               pull: dict[str, Any] | None = None) -> dict:
        """`pull`: `{"auth": {"username", "password"} | None, "always": bool}` to have the agent pull
        the image from its registry first (without it, only an image missing on the host is pulled)."""
        body: dict[str, Any] = {"version": version, "image": image, "manifest": manifest, "digest": digest}
        if pull is not None:
            body["pull"] = pull
        return self._call("POST", f"/v1/apps/{app}/deploy", json=body)

    def apps(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/apps")

    def app(self, app: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/apps/{app}")

    def rollback(self, app: str, version: str | None) -> dict[str, Any]:
        return self._call("POST", f"/v1/apps/{app}/rollback", json={"version": version} if version else {})

    def destroy(self, app: str, keep_secrets: bool = False) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/apps/{app}", params={"keep_secrets": "1"} if keep_secrets else None)

    def scale(self, app: str, min_warm: int | None, max_instances: int | None) -> dict[str, Any]:
        return self._call("POST", f"/v1/apps/{app}/scale", json={"min_warm": min_warm, "max_instances": max_instances})

    def events(self, app: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/apps/{app}/events")

    def audit(self, app: str, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first: `{"at", "app", "kind", "actor", "detail"}`."""
        return self._call("GET", f"/v1/apps/{app}/audit", params={"limit": limit})

    def restart(self, app: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/apps/{app}/restart")

    # -- deploy locks ------------------------------------------------------------------------
    def lock(self, app: str, holder: str, machine: str, pid: int, ttl: float = 60.0) -> dict[str, Any]:
        """`{"token", "lock"}`; raises `Locked` (with the holder) when someone else has it."""
        return self._call("POST", f"/v1/apps/{app}/lock",
                          json={"holder": holder, "machine": machine, "pid": pid, "ttl": ttl})

    def renew_lock(self, app: str, token: str) -> dict[str, Any]:
        """The renewed lock; raises `Locked` when it was lost (released by force, say)."""
        return self._call("POST", f"/v1/apps/{app}/lock/renew", json={"token": token})

    def release_lock(self, app: str, token: str | None = None, force: bool = False) -> dict[str, Any]:
        """`{"released": bool, "lock": the lock as it was | None}`."""
        body: dict[str, Any] = {"force": True} if force else {}
        if token is not None:
            body["token"] = token
        return self._call("DELETE", f"/v1/apps/{app}/lock", json=body)

    def get_lock(self, app: str) -> dict[str, Any] | None:
        return self._call("GET", f"/v1/apps/{app}/lock")["lock"]

    # -- secrets -----------------------------------------------------------------------------
    def set_secret(self, app: str, key: str, value: str) -> dict[str, Any]:
        return self._call("PUT", f"/v1/apps/{app}/secrets/{key}", json={"value": value})

    def list_secrets(self, app: str) -> list[dict[str, Any]]:
        """`[{"key", "updated"}]`, sorted by key (values never leave the agent)."""
        return self._call("GET", f"/v1/apps/{app}/secrets")

    def delete_secret(self, app: str, key: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/apps/{app}/secrets/{key}")

    # -- tenants (admin) ---------------------------------------------------------------------
    def tenants(self) -> list[dict[str, Any]]:
        """`[{"name", "admin", "created", "revoked"}]`: never tokens."""
        return self._call("GET", "/v1/tenants")

    def create_tenant(self, name: str) -> dict[str, Any]:
        """`{"name", "token"}`: the token is shown only this once."""
        return self._call("POST", "/v1/tenants", json={"name": name})

    def rotate_token(self, name: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/tenants/{name}/token")

    def revoke_token(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/tenants/{name}/token")

    # -- images ------------------------------------------------------------------------------
    def layer_chains(self) -> set[str]:
        """Chain IDs of every layer the host's engine has (send only the others)."""
        return set(self._call("GET", "/v1/images/layers")["chains"])

    def invocation(self, inv: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/invocations/{inv}")

    def logs(self, app: str, tail: int, since: int | None, follow: bool) -> Iterator[str]:
        params: dict[str, Any] = {"tail": tail, "follow": "1" if follow else "0"}
        if since:
            params["since"] = since
        self.app(app)  # a clear 404 before streaming
        try:
            with self._http.stream("GET", f"/v1/apps/{app}/logs", params=params, timeout=None) as resp:
                yield from resp.iter_lines()
        except httpx.HTTPError as exc:
            raise PlatError(f"{self.where}: log stream ended: {exc}") from None
