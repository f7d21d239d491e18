"""A backfill run's digest, as published to the status topic: one message for the whole run (counts,
the worst offenders, where the full report is), not one per service.

Its contract is schemas/digest-v1.json (``sidecar-enforcer schema --digest``); the message attribute
``status`` is ``DIGEST``, so a subscription filter policy can take or leave digests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DIGEST_VERSION = "1.0"
DIGEST_ID = "urn:sidecar-enforcer:digest:v1"
WORST = 10  # services named in a digest; the report holds them all


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class Offender(_Model):
    status: str
    account: str | None = None
    region: str | None = None
    cluster: str | None = None
    service: str | None = None
    reasons: list[str] = Field(default_factory=list)


class Digest(_Model):
    """Names, counts and reasons only: never environment values or secrets."""

    kind: Literal["backfill-digest"] = "backfill-digest"
    run_id: str
    mode: str
    services: int
    totals: dict[str, int]
    by_account_region: dict[str, dict[str, int]]
    attention: int  # services a person should look at (the report lists them all)
    worst: list[Offender]
    report: dict[str, str] = Field(default_factory=dict)  # format -> where (s3://bucket/key)
    stopped: str | None = None
    started: str
    ended: str

    def to_message(self) -> dict[str, Any]:
        return {
            "schemaVersion": DIGEST_VERSION,
            **self.model_dump(mode="json", by_alias=True, exclude_none=True),
        }

    def subject(self) -> str:
        text = f"[sidecar-enforcer] backfill {self.run_id}: {self.services} services, {self.attention} to see"
        return text[:100].encode("ascii", "replace").decode()

    def message_attributes(self) -> dict[str, str]:
        return {"status": "DIGEST", "mode": self.mode}

    @classmethod
    def of(cls, report: dict[str, Any], where: dict[str, str]) -> Digest:
        """The digest of a report (domain.runs.run_report.build)."""
        return cls(
            run_id=report["runId"],
            mode=report["mode"],
            services=report["services"],
            totals=report["totals"],
            by_account_region=report["byAccountRegion"],
            attention=len(report["attention"]),
            worst=[Offender.model_validate(row) for row in report["attention"][:WORST]],
            report=where,
            stopped=report.get("stopped"),
            started=report["started"],
            ended=report["ended"],
        )


def digest_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a digest message, as schemas/digest-v1.json holds it."""
    schema = Digest.model_json_schema(by_alias=True, mode="serialization")
    schema["properties"] = {
        "schemaVersion": {"type": "string", "pattern": r"^1\.[0-9]+$"},
        **schema["properties"],
    }
    schema["required"] = ["schemaVersion", *schema.get("required", [])]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": DIGEST_ID,
        "title": "sidecar-enforcer backfill digest",
        "description": (
            "One message per backfill run on the status topic (message attribute status=DIGEST): "
            "counts per status, per account and region, the worst services with their reasons, and "
            "where the full report is."
        ),
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
        "additionalProperties": True,
    }
