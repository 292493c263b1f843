"""The control API's route table: the one source for dispatch, auth and the OpenAPI document.

Each route names its handler, whether it needs the admin token, the contract model its body
must satisfy and its query parameters; `agent/openapi.py` renders the document from this."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from plat_contract.api import (
    DeployRequest,
    LockRelease,
    LockRenew,
    LockRequest,
    RollbackRequest,
    ScaleRequest,
    SecretValue,
    TenantCreate,
)
from plat_contract.models import Strict
from plat_contract.patterns import DNS_LABEL, ENV_KEY, TENANT

PATH_PARAMS: dict[str, str] = {
    "app": DNS_LABEL.pattern.strip("^$"),
    "key": "[^/]+",  # checked in the handler, so a bad secret name gets a 400 that says why
    "inv": "[0-9a-f]{32}",
    "tenant": TENANT.pattern.strip("^$"),
}
"""Each `{name}` of a path template, as the regex dispatch matches it."""
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "app": {"type": "string", "pattern": DNS_LABEL.pattern},
    "key": {"type": "string", "pattern": ENV_KEY.pattern},
    "inv": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "tenant": {"type": "string", "pattern": TENANT.pattern},
}


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]

    def check(self, values: list[str]) -> None:
        """ValueError unless the parameter is given once and fits its schema."""
        if len(values) != 1:
            raise ValueError(f"{self.name} must be given once")
        value, s = values[0], self.schema
        if s["type"] == "integer":
            if not value.isdigit() or not s.get("minimum", 0) <= int(value) <= s.get("maximum", 2**31):
                raise ValueError(f"{self.name} must be an integer from {s.get('minimum', 0)} to "
                                 f"{s.get('maximum', 2**31)}")
        elif "enum" in s and value not in s["enum"]:
            raise ValueError(f"{self.name} must be one of {', '.join(s['enum'])}")
        elif "pattern" in s and not re.fullmatch(s["pattern"], value):
            raise ValueError(f"{self.name} must match {s['pattern']}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """A template: `/v1/apps/{app}/deploy`."""
    handler: str
    summary: str
    admin: bool = False
    body: type[Strict] | None = None
    query: tuple[Query, ...] = ()
    actor: bool = False
    """Whether the route writes the audit trail (and so reads `X-Plat-Actor`)."""
    ok: int = 200
    pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>{PATH_PARAMS[m[1]]})", self.path)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    def check_query(self, query: dict[str, list[str]]) -> None:
        """The query parameters this route declares, held to their schemas (others are ignored)."""
        for q in self.query:
            if q.name in query:
                q.check(query[q.name])

    @property
    def params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


_LIMIT = Query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
_APP = "/v1/apps/{app}"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/health", "health", "Agent health and version"),
    Route("GET", "/v1/openapi.json", "openapi", "This document"),
    Route("GET", "/v1/apps", "list_apps", "Apps of the caller's tenant with versions and instances"),
    Route("GET", _APP, "get_app", "One app"),
    Route("DELETE", _APP, "delete_app", "Destroy an app and its secrets (keep_secrets=1 keeps them)", actor=True,
          query=(Query("keep_secrets", {"type": "string", "enum": ["0", "1", "true", "false"]}),)),
    Route("POST", f"{_APP}/deploy", "deploy", "Deploy a version: pull if needed, warm, health-check, switch, drain",
          body=DeployRequest, actor=True),
    Route("POST", f"{_APP}/rollback", "rollback", "Roll back to an earlier version", body=RollbackRequest,
          actor=True),
    Route("POST", f"{_APP}/scale", "scale", "Set min_warm / max_instances", body=ScaleRequest, actor=True),
    Route("GET", f"{_APP}/logs", "logs", "Instance logs (text/plain, chunked)", query=(
        Query("tail", {"type": "integer", "minimum": 0, "maximum": 100000}),
        Query("since", {"type": "integer", "minimum": 0, "maximum": 2**40}),
        Query("follow", {"type": "string", "enum": ["0", "1", "true", "false"]}))),
    Route("GET", f"{_APP}/events", "events", "Deploy events of the app", query=(_LIMIT,)),
    Route("POST", f"{_APP}/api-key", "create_api_key",
          "Require a new API key (X-Plat-Key) for the app's routes; returns it once", actor=True, ok=201),
    Route("DELETE", f"{_APP}/api-key", "delete_api_key", "Make the app public again (no key)", actor=True),
    Route("POST", f"{_APP}/restart", "restart",
          "Replace the live version's instances, warm-then-swap (they pick up current secrets)", actor=True),
    Route("GET", f"{_APP}/audit", "audit", "Audit trail, newest first: who deployed, scaled, locked, set secrets",
          query=(_LIMIT,)),
    Route("GET", f"{_APP}/lock", "get_lock", "The app's deploy lock, if held"),
    Route("POST", f"{_APP}/lock", "lock", "Take the deploy lock (a lease to renew); 409 names the holder",
          body=LockRequest, actor=True),
    Route("DELETE", f"{_APP}/lock", "release_lock", "Release the deploy lock: with its token, or anyone's with force",
          body=LockRelease, actor=True),
    Route("POST", f"{_APP}/lock/renew", "renew_lock", "Renew the deploy lock; 409 if it was lost", body=LockRenew),
    Route("GET", f"{_APP}/secrets", "list_secrets", "Secret names and update times (never values)"),
    Route("PUT", f"{_APP}/secrets/{{key}}", "set_secret", "Set a secret (env of new instances; restart to apply)",
          body=SecretValue, actor=True),
    Route("DELETE", f"{_APP}/secrets/{{key}}", "delete_secret", "Remove a secret", actor=True),
    Route("GET", "/v1/images/layers", "layers", "Layer chain IDs of every image on this engine"),
    Route("GET", "/v1/invocations", "list_invocations", "Invocations of the caller's apps", query=(
        Query("app", {"type": "string", "pattern": DNS_LABEL.pattern}), _LIMIT)),
    Route("GET", "/v1/invocations/{inv}", "get_invocation", "One invocation"),
    Route("GET", "/v1/tenants", "list_tenants", "Tenants (admin)", admin=True),
    Route("POST", "/v1/tenants", "create_tenant", "Create a tenant; returns its token once (admin)", admin=True,
          body=TenantCreate, ok=201),
    Route("POST", "/v1/tenants/{tenant}/token", "rotate_token",
          "Give a tenant a new token (the old one stops working); returns it once (admin)", admin=True),
    Route("DELETE", "/v1/tenants/{tenant}/token", "revoke_token",
          "Revoke a tenant's token: nothing it holds works any more; its apps keep serving (admin)", admin=True),
)
