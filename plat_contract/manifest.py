"""The manifest an agent runs: what plat.yaml says about running the app, and nothing about
where it is deployed. plat.yaml's own model (plat/config.py) composes these parts."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from plat_contract.models import Strict
from plat_contract.patterns import (
    MAX_CONCURRENCY,
    MAX_ENV,
    MAX_IDLE,
    MAX_INSTANCES,
    MEMORY,
    EnvKey,
    EnvValue,
    HealthPath,
    Port,
    parse_duration,
)


class Scale(Strict):
    """Warm pool settings (used by the host agent)."""

    min_warm: int = Field(0, ge=0, le=MAX_INSTANCES, description="Instances always up (0 allows scale to zero).")
    max_instances: int = Field(4, ge=1, le=MAX_INSTANCES, description="Upper bound of instances per host.")
    concurrency: int = Field(32, ge=1, le=MAX_CONCURRENCY, description="Requests in flight per instance.")
    idle_timeout: str | int = Field("5m", description="Idle time before scaling down: seconds or 30s/5m/1h.")

    @field_validator("idle_timeout")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        parse_duration(value, most=MAX_IDLE)
        return value

    @model_validator(mode="after")
    def _warm_within_max(self) -> Scale:
        if self.min_warm > self.max_instances:
            raise ValueError(f"min_warm ({self.min_warm}) is more than max_instances ({self.max_instances}): "
                             "raise max_instances or lower min_warm")
        return self

    @property
    def idle_seconds(self) -> float:
        return parse_duration(self.idle_timeout)


class Resources(Strict):
    memory: str | None = Field(None, description="Memory limit per instance, e.g. 256m, 1g.")
    cpus: float | int | None = Field(None, gt=0, le=1024, description="CPU limit per instance, e.g. 0.5.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not MEMORY.fullmatch(value):
            raise ValueError("expected a size like 256m or 1g")
        return value


class RunManifest(Strict):
    """What an agent needs to run an app's version."""

    port: Port = Field(8080, description="Port the app listens on ($PORT).")
    health: HealthPath = Field("/", description="Health check path: 2xx/3xx means healthy.")
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV,
                                        description="Non-secret environment variables.")
    scale: Scale = Field(default_factory=Scale)
    resources: Resources = Field(default_factory=Resources)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> RunManifest:
        """A manifest an older agent stored, with keys this one no longer runs on (build,
        runtime, …) dropped, and a `min_warm` over `max_instances` (which older agents took)
        lowered to it; what is left is held to today's rules. ValueError naming the fields
        (never their values, which may be an app's settings) if it fails."""
        kept = {k: v for k, v in data.items() if k in cls.model_fields}
        scale = kept.get("scale")
        if isinstance(scale, dict):
            low, high = scale.get("min_warm"), scale.get("max_instances", 4)
            if isinstance(low, int) and isinstance(high, int) and low > high:
                kept["scale"] = {**scale, "min_warm": high}
        try:
            return cls.model_validate(kept)
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            raise ValueError(f"stored manifest breaks today's rules: {fields}") from None

    def with_limits(self, memory: str, cpus: float) -> RunManifest:
        """This manifest with the agent's default memory and CPU limits where it sets none (a
        deploy stores the result, so a version keeps the limits it was deployed with)."""
        res = self.resources
        return self.model_copy(update={"resources": Resources(memory=res.memory or memory,
                                                              cpus=float(res.cpus) if res.cpus else cpus)})
