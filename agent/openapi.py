"""The control API's OpenAPI 3.1 description, generated from the route table and the contract's
models (served at /v1/openapi.json, fuzzed with schemathesis): it cannot drift from either."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from agent import __version__
from agent.routes import PATH_SCHEMAS, Route
from plat_contract.api import ErrorBody

_REF = "#/components/schemas/{model}"
_ACTOR = {"name": "X-Plat-Actor", "in": "header", "required": False,
          "description": "Who the audit trail names (default: the tenant)",
          "schema": {"type": "string", "maxLength": 200, "pattern": "^[ -~]*$"}}
_ERROR_STATUSES = ("400", "401", "403", "404", "405", "409", "413", "422", "429")


def _schemas(models: Iterable[type[BaseModel]]) -> dict[str, Any]:
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    return top.get("$defs", {})


def _operation(route: Route) -> dict[str, Any]:
    error = {"description": "refused; `code` says why",
             "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}}}
    params: list[dict[str, Any]] = [{"name": p, "in": "path", "required": True, "schema": PATH_SCHEMAS[p]}
                                    for p in route.params]
    params += [{"name": q.name, "in": "query", "required": False, "schema": q.schema} for q in route.query]
    if route.actor:
        params.append(_ACTOR)
    op: dict[str, Any] = {"operationId": route.handler, "summary": route.summary, "parameters": params,
                          "responses": {str(route.ok): {"description": "ok"}, **{s: error for s in _ERROR_STATUSES}}}
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": _REF.format(model=route.body.__name__)}}}}
    return op


def document(routes: Iterable[Route]) -> dict[str, Any]:
    routes = list(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    models = {r.body for r in routes if r.body is not None} | {ErrorBody}
    return {
        "openapi": "3.1.0",
        "info": {"title": "plat agent", "version": __version__},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": _schemas(sorted(models, key=lambda m: m.__name__))},
        "security": [{"bearer": []}],
        "paths": paths,
    }
