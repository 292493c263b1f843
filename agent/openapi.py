"""The control API's OpenAPI 3 description (served at /v1/openapi.json, tested with schemathesis)."""

from __future__ import annotations

from typing import Any

from agent import __version__

_APP = {"name": "app", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"}}
_ERR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_OK = {"description": "ok", "content": {"application/json": {"schema": {}}}}


_KEY = {"name": "key", "in": "path", "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"}}
_KEEP_SECRETS = {"name": "keep_secrets", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}}
_ACTOR = {"name": "X-Plat-Actor", "in": "header", "required": False,
          "description": "Who the audit trail names (default: the tenant)",
          "schema": {"type": "string", "maxLength": 200, "pattern": "^[ -~]*$"}}


def _op(summary: str, params: list | None = None, body: dict | None = None, ok: str = "200") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "parameters": params or [],
                          "responses": {ok: _OK, "400": _ERR, "401": _ERR, "403": _ERR, "404": _ERR, "405": _ERR,
                                        "409": _ERR, "413": _ERR, "422": _ERR}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_DEPLOY = {"type": "object", "required": ["version", "image", "manifest"], "properties": {
    "version": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
    "image": {"type": "string", "pattern": "\\S"}, "digest": {"type": "string"},
    "manifest": {"type": "object"}}}
_DEPLOY["properties"]["pull"] = {
    "type": "object", "nullable": True, "properties": {
        "auth": {"type": "object", "nullable": True, "required": ["username", "password"], "properties": {
            "username": {"type": "string", "minLength": 1}, "password": {"type": "string", "minLength": 1}}},
        "always": {"type": "boolean"}}}
_LOCK = {"type": "object", "required": ["holder", "machine", "pid"], "properties": {
    "holder": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
    "machine": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
    "pid": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "ttl": {"type": "number", "minimum": 5, "maximum": 3600}}}
_TOKEN = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string", "minLength": 1}}}
_RELEASE = {"type": "object", "properties": {"token": {"type": "string", "minLength": 1}, "force": {"type": "boolean"}},
            "anyOf": [{"required": ["token"]}, {"required": ["force"], "properties": {"force": {"enum": [True]}}}]}
_SECRET = {"type": "object", "required": ["value"], "properties": {"value": {"type": "string", "maxLength": 65536}}}
_SCALE = {"type": "object", "properties": {"min_warm": {"type": "integer", "minimum": 0},
                                           "max_instances": {"type": "integer", "minimum": 0}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "plat agent", "version": __version__},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/health": {"get": _op("Agent health and version")},
        "/v1/apps": {"get": _op("Apps of the caller's tenant with versions and instances")},
        "/v1/apps/{app}": {"get": _op("One app", [_APP]), "delete": _op("Destroy an app and its secrets (keep_secrets=1 keeps them)",
                                                                       [_APP, _ACTOR, _KEEP_SECRETS])},
        "/v1/apps/{app}/deploy": {"post": _op("Deploy a version: pull if needed, warm, health-check, switch, drain",
                                              [_APP, _ACTOR], _DEPLOY)},
        "/v1/apps/{app}/rollback": {"post": _op("Roll back to an earlier version", [_APP, _ACTOR],
                                                {"type": "object", "properties": {"version": {"type": "string"}}})},
        "/v1/apps/{app}/scale": {"post": _op("Set min_warm / max_instances", [_APP, _ACTOR], _SCALE)},
        "/v1/apps/{app}/logs": {"get": _op("Instance logs (text/plain, chunked)", [
            _APP, {"name": "tail", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "follow", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}])},
        "/v1/apps/{app}/events": {"get": _op("Deploy audit log", [_APP])},
        "/v1/apps/{app}/api-key": {
            "post": _op("Require a new API key (X-Plat-Key) for the app's routes; returns it once", [_APP, _ACTOR],
                        ok="201"),
            "delete": _op("Make the app public again (no key)", [_APP, _ACTOR])},
        "/v1/apps/{app}/restart": {"post": _op("Replace the live version's instances, warm-then-swap "
                                               "(they pick up current secrets)", [_APP, _ACTOR])},
        "/v1/apps/{app}/audit": {"get": _op("Audit trail, newest first: who deployed, scaled, locked, set secrets", [
            _APP, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}])},
        "/v1/apps/{app}/lock": {
            "get": _op("The app's deploy lock, if held", [_APP]),
            "post": _op("Take the deploy lock (a lease to renew); 409 names the holder", [_APP, _ACTOR], _LOCK),
            "delete": _op("Release the deploy lock: with its token, or anyone's with force", [_APP, _ACTOR], _RELEASE)},
        "/v1/apps/{app}/lock/renew": {"post": _op("Renew the deploy lock; 409 if it was lost", [_APP], _TOKEN)},
        "/v1/apps/{app}/secrets": {"get": _op("Secret names and update times (never values)", [_APP])},
        "/v1/apps/{app}/secrets/{key}": {
            "put": _op("Set a secret (env of new instances; restart to apply)", [_APP, _KEY, _ACTOR], _SECRET),
            "delete": _op("Remove a secret", [_APP, _KEY, _ACTOR])},
        "/v1/images/layers": {"get": _op("Layer chain IDs of every image on this engine")},
        "/v1/invocations": {"get": _op("Invocations of the caller's apps", [
            {"name": "app", "in": "query", "schema": {"type": "string"}}])},
        "/v1/invocations/{inv}": {"get": _op("One invocation", [
            {"name": "inv", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}])},
        "/v1/tenants": {"get": _op("Tenants (admin)"),
                        "post": _op("Create a tenant; returns its token once (admin)",
                                    body={"type": "object", "required": ["name"], "properties": {
                                        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}}},
                                    ok="201")},
    },
}
