"""What the enforcer concluded about one service or task definition, as published to SNS.

Every status fits one SNS message (body plus attributes: at most 256 KB; Publish refuses a larger
one and retrying never helps), whatever its inputs: a long string field is cut to
``FIELD_BUDGET`` bytes of JSON and a long list to ``LIST_BUDGET``, each saying what was cut; an
attribute value to ``ATTRIBUTE_CHARS`` characters. Bounding a bounded status changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..domain.status import Status

__all__ = [
    "SCHEMA_VERSION",
    "AppContainerRemedy",
    "Finding",
    "Message",
    "Remedy",
    "Status",
    "status_schema",
]

# The status message's contract: a new optional field is a minor version (1.1), a field removed,
# renamed or retyped a major one (2.0, and a new schemas/status-v2.json).
# 1.1: ``remedy`` (what a person adds to the task definition their pipeline deploys).
# 1.2: ``auditOnly`` (the service's own tag asks for audit).
SCHEMA_VERSION = "1.2"
SCHEMA_ID = "urn:sidecar-enforcer:status:v1"


class Message(Protocol):
    """What the status topic carries: a status (Finding) or a backfill digest (models.digest.Digest)."""

    def to_message(self) -> dict[str, Any]: ...

    def subject(self) -> str: ...

    def message_attributes(self) -> dict[str, str]: ...


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class AppContainerRemedy(_Camel):
    """What one app container needs beside the sidecar (ECS API JSON): append to its lists."""

    name: str
    environment: list[dict[str, str]] | None = None
    depends_on: list[dict[str, str]] | None = None
    links: list[str] | None = None


class Remedy(_Camel):
    """What a person adds to the task definition their pipeline deploys so it carries the sidecar
    (domain.planning.remedy). Values from the profile and the policy only: never the service's own."""

    # The sidecar's container definition, as RegisterTaskDefinition takes it (one item).
    container_definitions: list[dict[str, Any]] | None = None
    app_containers: list[AppContainerRemedy] | None = None
    # An object for an aws_ecs_task_definition's container_definitions = jsonencode([...]).
    terraform: str | None = None
    # An entry of an AWS::ECS::TaskDefinition's ContainerDefinitions, in YAML.
    cloudformation: str | None = None
    steps: list[str] = Field(default_factory=list)
    # What was left out to keep the status one SNS message, and why.
    left_out: list[str] | None = None


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
    # The service's (or its cluster's) tag asks for audit (``audit``, ``<profile>:audit``), whatever
    # the enforcer's mode: a backfill's waves leave it out. Absent otherwise.
    audit_only: bool | None = None
    trigger: str | None = None
    event_id: str | None = None
    # FLAPPING, DRIFTED, SKIPPED (deployment controller), NONCOMPLIANT, and REFUSED where adding
    # the sidecar by hand cures it: what a person adds, and the same for Terraform and CloudFormation.
    remedy: Remedy | None = None

    def to_message(self) -> dict[str, Any]:
        """The status as published (and logged, and kept in the outbox): bounded, and versioned by
        ``schemaVersion`` (schemas/status-v1.json describes it)."""
        dumped = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        bounded = {key: _bounded(value) for key, value in dumped.items()}
        if "remedy" in bounded:
            bounded["remedy"] = _bounded_remedy(bounded["remedy"])
        return {"schemaVersion": SCHEMA_VERSION, **bounded}

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
            "region": self.region,
            "cluster": self.cluster,
            "profile": self.profile,
            "mode": self.mode,
        }
        return {k: _cut(v, ATTRIBUTE_CHARS, len) for k, v in attrs.items() if v}


DESCRIPTIONS = {
    "status": "what the enforcer concluded (see the README's Statuses table)",
    "account": "the AWS account the service or task definition is in",
    "region": "its region",
    "cluster": "the ECS cluster's name",
    "service": "the ECS service's name",
    "family": "the task definition family",
    "profile": "the sidecar profile the tags ask for",
    "profileVersion": "the profile's version (a new version makes a new compliant revision)",
    "sourceTaskDefinitionArn": "the revision the service ran, or the one named by the event",
    "newTaskDefinitionArn": "the compliant revision registered (or reused)",
    "oldTaskSize": "the Fargate task size before",
    "newTaskSize": "the Fargate task size after the enforcer grew it",
    "reasons": "why, in words a person can act on",
    "changes": "what was changed, or in audit mode what would be",
    "warnings": "what a person should fix that did not stop the enforcer",
    "deploymentId": "the ECS deployment the enforcer started, or the one this status is about",
    "revertedBy": "FLAPPING: who took the sidecar away (CloudTrail callers), most often first",
    "release": "QUARANTINED, FLAPPING, DEPLOYMENT_FAILED: how a person releases the service",
    "mode": "enforce or audit",
    "auditOnly": (
        "true when the service's own (or its cluster's) tag asks for audit mode: reported, never "
        "changed (a backfill's waves leave it out). Schema 1.2"
    ),
    "trigger": "the API call or event name that led here, or manual",
    "eventId": "the EventBridge event's id",
    "remedy": (
        "FLAPPING, DRIFTED, SKIPPED, NONCOMPLIANT, some REFUSED: what a person adds to the task "
        "definition their pipeline deploys (containerDefinitions: the sidecar as the ECS API takes it; "
        "appContainers: what each app container needs; terraform and cloudformation: the same as "
        "snippets; steps; leftOut: what was left out to fit one SNS message). Schema 1.1"
    ),
}


def status_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a status message, as schemas/status-v1.json holds it."""
    schema = Finding.model_json_schema(by_alias=True, mode="serialization")
    properties = {
        "schemaVersion": {
            "type": "string",
            "pattern": r"^1\.[0-9]+$",
            "description": "1.x: fields are only ever added within a major version",
        },
        **schema["properties"],
    }
    for name, prop in properties.items():
        if name in DESCRIPTIONS:
            prop["description"] = DESCRIPTIONS[name]
        _tidy(prop)
    definitions = schema.get("$defs", {})
    for definition in definitions.values():  # the remedy's models
        for prop in definition.get("properties", {}).values():
            _tidy(prop)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sidecar-enforcer status message",
        "description": (
            "One outcome for one service or task definition, published to the status topic (SNS) as "
            "JSON, with message attributes status, account, region, cluster, profile and mode for "
            "subscription filter policies. Names, ARNs and reasons only: never environment values or "
            "secrets. Long strings and lists are cut, saying how much."
        ),
        "type": "object",
        "required": ["schemaVersion", "status"],
        "properties": properties,
        "$defs": definitions,
        "additionalProperties": True,
    }


def _tidy(prop: dict[str, Any]) -> None:
    """A message leaves out what is None: no null branch, default or generated title."""
    prop.pop("title", None)
    if isinstance(prop.get("anyOf"), list):
        kept = [branch for branch in prop["anyOf"] if branch != {"type": "null"}]
        if len(kept) == 1:
            prop.pop("anyOf")
            prop.update(kept[0])
    prop.pop("default", None)


# An SNS message is at most 256 KB (262,144 bytes), body plus attributes. The body is JSON with
# non-ASCII characters escaped (json.dumps), so its size is its length. With these budgets the
# largest body is about 17 string fields x 4 KB + 4 lists x 32 KB + the remedy's 40 KB, under
# 240 KB; four attributes add at most 4 x 256 characters x 4 bytes.
FIELD_BUDGET = 4 * 1024  # bytes of JSON per string, in a field or a list
LIST_BUDGET = 32 * 1024  # bytes of JSON per list
ATTRIBUTE_CHARS = 256  # characters per message attribute value
REMEDY_BUDGET = 40 * 1024  # bytes of JSON for the whole remedy
STEPS_BUDGET = 8 * 1024  # bytes of JSON for its steps
# A remedy too large loses whole parts, in this order, never half a snippet or half a container:
# what is left stays valid, and leftOut says what went.
REMEDY_DROPPED = ("cloudformation", "terraform", "containerDefinitions", "appContainers")


def _json_size(text: str) -> int:
    return len(json.dumps(text)) - 2  # without the quotes


# json.dumps writes a character as at most 12 (one outside the BMP: two \uXXXX escapes), so a text
# this short fits a budget without being encoded (the common case: most fields are short).
_MOST_PER_CHARACTER = 12


def _cut(text: str, budget: int, size: Callable[[str], int] = _json_size) -> str:
    """``text``, or as much of its start as fits ``budget`` with a note of how much was cut."""
    if size is _json_size and len(text) * _MOST_PER_CHARACTER <= budget:
        return text
    if size(text) <= budget:
        return text
    room = budget - size(f"…({len(text):,} characters cut)")
    low, high = 0, min(len(text), max(room, 0))  # each character costs at least 1
    while low < high:  # the longest start that fits: size grows with the length
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return f"{text[:low]}…({len(text) - low:,} characters cut)"


def _cut_list(items: list[str], budget: int = LIST_BUDGET) -> list[str]:
    """Each item cut to FIELD_BUDGET, and as many items from the first as fit ``budget`` with a note
    of how many more were cut."""
    items = [_cut(item, FIELD_BUDGET) for item in items]
    if sum(len(item) * _MOST_PER_CHARACTER + 4 for item in items) <= budget:
        return items
    sizes = [_json_size(item) + 4 for item in items]  # the quotes and the separator
    if sum(sizes) <= budget:
        return items
    used = _json_size(f"…({len(items):,} more items cut)") + 4
    kept = 0
    while used + sizes[kept] <= budget:
        used += sizes[kept]
        kept += 1
    return [*items[:kept], f"…({len(items) - kept:,} more items cut)"]


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return _cut(value, FIELD_BUDGET)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return _cut_list(value)
    return value


def _bounded_remedy(remedy: dict[str, Any]) -> dict[str, Any]:
    """The remedy within REMEDY_BUDGET: its steps cut like any list, then whole parts left out (in
    REMEDY_DROPPED's order) until it fits, each named in ``leftOut``. A snippet or a container
    definition is never cut in the middle: half of one would not parse, or would mislead."""
    bounded = dict(remedy)
    bounded["steps"] = _cut_list(list(bounded.get("steps") or []), STEPS_BUDGET)
    for part in REMEDY_DROPPED:
        size = len(json.dumps(bounded))
        if size <= REMEDY_BUDGET:
            break
        if part in bounded:
            del bounded[part]
            note = (
                f"{part}: the remedy took {size:,} bytes of JSON, more than one status holds "
                f"({REMEDY_BUDGET:,})"
            )
            bounded["leftOut"] = [*bounded.get("leftOut", []), note]
    return bounded
