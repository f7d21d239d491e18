"""What the enforcer concluded about one service or task definition, as published to SNS."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Status(StrEnum):
    COMPLIANT = "COMPLIANT"  # the sidecar is present and matches its profile
    DRIFTED = "DRIFTED"  # the sidecar is present but differs from its profile (upgrade off, or in audit)
    REMEDIATED = "REMEDIATED"  # a compliant revision was registered (and the service redeployed)
    NONCOMPLIANT = "NONCOMPLIANT"  # audit mode: the sidecar is missing; `changes` says what would change
    REFUSED = "REFUSED"  # the sidecar cannot be added safely; `reasons` says why
    SKIPPED = "SKIPPED"  # opted in, but the enforcer must not act (deployment controller, inactive service)
    NOT_OPTED_IN = "NOT_OPTED_IN"  # no opt-in tag, or opted out
    IGNORED = "IGNORED"  # the event concerns no service to enforce (the enforcer's own call, a failed call)
    FAILED = "FAILED"  # an AWS call failed; the event is retried and finally dead-lettered
    VERIFIED = "VERIFIED"  # the enforcer's deployment completed and every new task runs the sidecar
    DEPLOYMENT_FAILED = (
        "DEPLOYMENT_FAILED"  # it failed or rolled back, or a task lacks the sidecar: quarantined
    )
    FLAPPING = "FLAPPING"  # something keeps taking the sidecar away again: quarantined
    QUARANTINED = "QUARANTINED"  # left alone until a person releases it; `release` says how
    RELEASED = "RELEASED"  # a person released the service from quarantine


class Finding(BaseModel):
    """One outcome. Holds names, ARNs and reasons only — never environment values or secrets."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    status: Status
    account: str | None = None
    region: str | None = None
    cluster: str | None = None
    service: str | None = None
    family: str | None = None
    profile: str | None = None
    profile_version: str | None = None
    source_task_definition_arn: str | None = None
    new_task_definition_arn: str | None = None
    old_task_size: str | None = None
    new_task_size: str | None = None
    reasons: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)
    # Things a person should fix that do not stop the enforcer (a task role lacking a permission).
    warnings: list[str] = Field(default_factory=list)
    deployment_id: str | None = None
    # FLAPPING: who took the sidecar away (CloudTrail callers), most often first.
    reverted_by: list[str] | None = None
    # Quarantined: how a person releases the service.
    release: str | None = None
    mode: str | None = None
    trigger: str | None = None
    event_id: str | None = None

    def to_message(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def subject(self) -> str:
        """SNS subjects are limited to 100 ASCII characters."""
        target = self.service or self.family or "event"
        where = f"{self.cluster}/{target}" if self.cluster else target
        return f"[sidecar-enforcer] {self.status.value} {where}"[:100].encode("ascii", "replace").decode()

    def message_attributes(self) -> dict[str, str]:
        """Attributes for SNS subscription filter policies (empty values are not allowed)."""
        attrs = {
            "status": self.status.value,
            "account": self.account,
            "cluster": self.cluster,
            "profile": self.profile,
        }
        return {k: v for k, v in attrs.items() if v}
