"""The CLI's client of an agent's control API. One transport seam: tests inject one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from plat.errors import PlatError


class AgentClient:
    def __init__(self, api_url: str, token: str, *, where: str = "local agent",
                 transport: httpx.BaseTransport | None = None, timeout: float = 300.0) -> None:
        self.where = where
        self._http = httpx.Client(base_url=api_url, transport=transport, timeout=timeout,
                                  headers={"Authorization": f"Bearer {token}"})

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise PlatError(f"{self.where}: {type(exc).__name__}: {exc}", "is the agent up? `plat agent status`") from None
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"error": resp.text[:300]}
            detail = body.get("detail") or ""
            tail = "\n" + "\n".join(f"  | {ln}" for ln in detail.splitlines()[-20:]) if detail else ""
            raise PlatError(f"{self.where}: {body.get('error', resp.reason_phrase)}{tail}")
        return resp.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/v1/health")

    def deploy(self, app: str, version: str, image: str, manifest: dict[str, Any], digest: str | None) -> dict:
        return self._call("POST", f"/v1/apps/{app}/deploy",
                          json={"version": version, "image": image, "manifest": manifest, "digest": digest})

    def apps(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/apps")

    def app(self, app: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/apps/{app}")

    def rollback(self, app: str, version: str | None) -> dict[str, Any]:
        return self._call("POST", f"/v1/apps/{app}/rollback", json={"version": version} if version else {})

    def destroy(self, app: str) -> dict[str, Any]:
        return self._call("DELETE", f"/v1/apps/{app}")

    def scale(self, app: str, min_warm: int | None, max_instances: int | None) -> dict[str, Any]:
        return self._call("POST", f"/v1/apps/{app}/scale", json={"min_warm": min_warm, "max_instances": max_instances})

    def events(self, app: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/v1/apps/{app}/events")

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
