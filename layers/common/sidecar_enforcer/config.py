"""One settings model, read once from the environment (``Settings.from_env``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError


class Mode(StrEnum):
    ENFORCE = "enforce"  # register the compliant revision and redeploy
    AUDIT = "audit"  # report what would change, change nothing


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    status_topic_arn: str | None = Field(default=None, description="SNS topic for status messages")
    opt_in_tag_key: str = Field(default="tracing-sidecar", min_length=1, max_length=128)
    default_profile: str = Field(default="jaeger", min_length=1)
    enforcement_mode: Mode = Mode.ENFORCE

    @field_validator("status_topic_arn")
    @classmethod
    def _topic_is_an_arn(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith("arn:") or ":sns:" not in value:
            raise ValueError("must be an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {field: env[name] for name, field in ENV_VARS.items() if env.get(name, "") != ""}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = next(n for n, f in ENV_VARS.items() if f == first["loc"][0])
            raise ConfigurationError(f"{name}: {first['msg']}") from None


# Environment variable -> field. Anything later issues add follows the same pattern.
ENV_VARS: dict[str, str] = {
    "STATUS_TOPIC_ARN": "status_topic_arn",
    "OPT_IN_TAG_KEY": "opt_in_tag_key",
    "DEFAULT_PROFILE": "default_profile",
    "ENFORCEMENT_MODE": "enforcement_mode",
}
