"""Bodies of the agent's control API, and the error codes its refusals carry.

Every error body is `{"error": text, "code": ErrorCode, ...}`; clients branch on `code`, never
on the text (which is for people and may change)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from plat_contract.manifest import RunManifest
from plat_contract.models import Strict
from plat_contract.patterns import MAX_INSTANCES, Digest, ImageRef, TenantName, Version

LOCK_TTL_DEFAULT, LOCK_TTL_MIN, LOCK_TTL_MAX = 60.0, 5.0, 3600.0
MAX_SECRET_VALUE = 64 * 1024


class ErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"            # 401: no token, or not one of this agent's
    ADMIN_ONLY = "admin_only"                # 403: the route needs the admin token
    APP_OWNED_ELSEWHERE = "app_owned_elsewhere"  # 403: the name is another tenant's (or being claimed)
    NOT_FOUND = "not_found"                  # 404: no such app/version/invocation (or not the caller's)
    NO_SUCH_ROUTE = "no_such_route"          # 404
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    INVALID = "invalid"                      # 400: a body, query or name the contract refuses
    LOCKED = "locked"                        # 409: the deploy lock is someone else's, or was lost
    CONFLICT = "conflict"                    # 409: exists already (a tenant, say)
    TOO_LARGE = "too_large"                  # 413
    UNHEALTHY = "unhealthy"                  # 422: the new instances failed their health check
    START_FAILED = "start_failed"            # 422: the engine could not pull or start the image
    LIMIT = "limit"                          # 422: over an agent-wide ceiling
    QUEUE_FULL = "queue_full"                # 429: the app's async queue is at its cap (see Retry-After)
    UNAVAILABLE = "unavailable"              # 503: no instance could be started
    INTERNAL = "internal"                    # 500: a bug; see the agent's log


Secret = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class PullAuth(Strict):
    username: Secret
    password: Secret


class Pull(Strict):
    """Registry credentials for the agent's pull (never stored, never logged)."""

    auth: PullAuth | None = None
    always: bool = False


class DeployRequest(Strict):
    version: Version
    image: ImageRef
    manifest: RunManifest
    digest: Digest | None = None
    pull: Pull | None = None


class RollbackRequest(Strict):
    version: Version | None = None


class ScaleRequest(Strict):
    min_warm: int | None = Field(None, ge=0, le=MAX_INSTANCES)
    max_instances: int | None = Field(None, ge=1, le=MAX_INSTANCES)


class TenantCreate(Strict):
    name: TenantName


# Printable text without leading or trailing space (a holder, a machine): never control characters.
Label = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                         pattern=r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$")]
LockToken = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$")]


class LockRequest(Strict):
    holder: Label
    machine: Label
    pid: int = Field(ge=0, le=2**31 - 1)
    ttl: float = Field(LOCK_TTL_DEFAULT, ge=LOCK_TTL_MIN, le=LOCK_TTL_MAX, description="Seconds of the lease.")


class LockRenew(Strict):
    token: LockToken


class LockRelease(Strict):
    """The holder's token, or `force: true` to release another holder's lock."""

    token: LockToken | None = None
    force: bool = False

    @model_validator(mode="after")
    def _token_or_force(self) -> LockRelease:
        if self.token is None and not self.force:
            raise ValueError("pass the lock's token, or force: true to release another holder's lock")
        return self


class SecretValue(Strict):
    value: Annotated[str, StringConstraints(max_length=MAX_SECRET_VALUE, pattern=r"^[^\x00]*$")]


class ErrorBody(BaseModel):
    """What every refusal carries; some add fields of their own (`lock`, `allowed`, `app`)."""

    model_config = ConfigDict(extra="allow")

    error: str
    code: ErrorCode
    hint: str | None = None
    detail: str | None = None
