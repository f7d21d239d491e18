"""Work items: one target of a Trigger each, as the router puts them on the SQS FIFO work queue and
the worker takes them off.

A body is versioned JSON (``{"v": 1, ...}``) read back strictly: a body that is not a valid item
raises :class:`MalformedEventError` with one line (the queue's redrive policy then keeps it, intact,
in the work dead-letter queue).

Two SQS FIFO fields come with every item (SQS API reference, SendMessage: both at most 128
characters):

- ``group`` (MessageGroupId): what the item is about, as an ARN: the service's for a service or
  deployment item, the cluster's for a cluster item, the task definition family's for a task
  definition item. SQS hands out one group's messages one at a time and in order, so two items about
  one service never run at once, while other services' run in parallel. A key longer than 128
  characters (ECS names reach 255) becomes ``sha256:<hex>``.
- ``dedup_id`` (MessageDeduplicationId): a sha256 of where the item comes from (the event id; for a
  cluster's service item, the cluster item's own dedup id) and its key. SQS accepts a message whose
  dedup id it saw within the last 5 minutes and does not deliver it: a duplicate EventBridge
  delivery in that interval queues nothing new.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..domain.ecs.arns import ACCOUNT_ID, REGION, task_definition_family
from ..domain.ecs.ecs_rules import NAME
from ..errors import MalformedEventError
from .events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    Target,
    TaskDefinitionTarget,
    Trigger,
    one_line,
)

VERSION = 1
SQS_ID_MAX = 128  # MessageGroupId and MessageDeduplicationId: at most 128 characters


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_of(trigger: Trigger, target: Target) -> str:
    """The ARN of what ``target`` is about, in the trigger's partition, region and account."""
    where = f"arn:{trigger.partition}:ecs:{trigger.region}:{trigger.account}"
    if isinstance(target, ServiceTarget | DeploymentOutcome):
        return f"{where}:service/{target.cluster}/{target.service}"
    if isinstance(target, ClusterTarget):
        return f"{where}:cluster/{target.cluster}"
    return f"{where}:task-definition/{task_definition_family(target.task_definition)}"


RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class RunTag:
    """The backfill run an item belongs to: its finding is recorded in the run, not published one by
    one. A survey item (``wave`` None) is decided in audit; a wave item of an enforce run in the
    stack's mode (enforce, unless the stack only audits)."""

    id: str
    mode: Literal["audit", "enforce"]
    wave: int | None = None  # 1-based; None: the run's survey

    @property
    def audit(self) -> bool:
        return self.mode == "audit" or self.wave is None


@dataclass(frozen=True)
class WorkItem:
    trigger: Trigger  # with exactly one target
    origin: str  # what the dedup id is derived from: the event id, or the parent item's dedup id
    run: RunTag | None = None

    def __post_init__(self) -> None:
        if len(self.trigger.targets) != 1:
            raise ValueError(f"a work item has exactly one target, not {len(self.trigger.targets)}")

    @property
    def target(self) -> Target:
        return self.trigger.targets[0]

    @property
    def key(self) -> str:
        return key_of(self.trigger, self.target)

    @property
    def group(self) -> str:
        key = self.key
        return key if len(key) <= SQS_ID_MAX else f"sha256:{_sha256(key)}"

    @property
    def dedup_id(self) -> str:
        return _sha256(f"{self.origin}\n{self.key}")  # 64 characters

    def child(self, target: Target) -> WorkItem:
        """An item the worker derives from this one (a cluster's service): the same event, another
        target; its dedup id follows from this item's, so a redelivered parent queues no child twice
        within SQS's deduplication interval."""
        return WorkItem(replace(self.trigger, targets=(target,)), origin=self.dedup_id, run=self.run)

    def to_body(self) -> str:
        trigger = self.trigger
        body = {
            "v": VERSION,
            "origin": self.origin,
            "eventId": trigger.event_id,
            "account": trigger.account,
            "region": trigger.region,
            "partition": trigger.partition,
            "name": trigger.name,
            "callerArn": trigger.caller_arn,
            "callerRoleArn": trigger.caller_role_arn,
            "tagKeys": None if trigger.tag_keys is None else sorted(trigger.tag_keys),
            "target": _target_body(self.target),
        }
        if self.run is not None:
            run: dict[str, Any] = {"id": self.run.id, "mode": self.run.mode}
            if self.run.wave is not None:
                run["wave"] = self.run.wave
            body["run"] = run
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


def items_of(trigger: Trigger) -> list[WorkItem]:
    """One work item per target of the trigger (none for a trigger without targets)."""
    return [
        WorkItem(replace(trigger, targets=(target,)), origin=trigger.event_id) for target in trigger.targets
    ]


def _target_body(target: Target) -> dict[str, Any]:
    if isinstance(target, ServiceTarget):
        body: dict[str, Any] = {"kind": "service", "cluster": target.cluster, "service": target.service}
        if target.cluster_tags is not None:
            body["clusterTags"] = dict(target.cluster_tags)
        return body
    if isinstance(target, ClusterTarget):
        return {"kind": "cluster", "cluster": target.cluster}
    if isinstance(target, TaskDefinitionTarget):
        return {
            "kind": "task-definition",
            "taskDefinition": target.task_definition,
            "requestTags": dict(target.request_tags),
        }
    return {
        "kind": "deployment",
        "cluster": target.cluster,
        "service": target.service,
        "deploymentId": target.deployment_id,
        "completed": target.completed,
        "reason": target.reason,
        "serviceArn": target.service_arn,
    }


# -- parsing, strictly ------------------------------------------------------------------------------

_Name = Annotated[str, Field(pattern=f"^{NAME.pattern}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Service(_Strict):
    kind: Literal["service"]
    cluster: _Name
    service: _Name
    cluster_tags: dict[str, str] | None = Field(default=None, alias="clusterTags")


class _Cluster(_Strict):
    kind: Literal["cluster"]
    cluster: _Name


class _TaskDefinition(_Strict):
    kind: Literal["task-definition"]
    task_definition: str = Field(alias="taskDefinition", min_length=1, max_length=2048)
    request_tags: dict[str, str] = Field(alias="requestTags")


class _Deployment(_Strict):
    kind: Literal["deployment"]
    cluster: _Name
    service: _Name
    deployment_id: str = Field(alias="deploymentId", min_length=1)
    completed: bool
    reason: str | None
    service_arn: str | None = Field(alias="serviceArn")


class _Run(_Strict):
    id: str = Field(pattern=RUN_ID.pattern)
    mode: Literal["audit", "enforce"]
    wave: int | None = Field(default=None, ge=1)  # absent in a survey item (and in items before waves)


class _Body(_Strict):
    v: Literal[1]
    origin: str = Field(min_length=1)
    event_id: str = Field(alias="eventId", min_length=1)
    account: str = Field(pattern=f"^{ACCOUNT_ID.pattern}$")
    region: str = Field(pattern=f"^{REGION.pattern}$")
    partition: str = Field(pattern=r"^aws[a-z-]*$")
    name: str = Field(min_length=1)
    caller_arn: str | None = Field(alias="callerArn")
    caller_role_arn: str | None = Field(alias="callerRoleArn")
    tag_keys: list[str] | None = Field(alias="tagKeys")
    target: _Service | _Cluster | _TaskDefinition | _Deployment = Field(discriminator="kind")
    run: _Run | None = None


def parse_item(body: Any) -> WorkItem:
    """A message body -> WorkItem. Raises MalformedEventError (one line) for anything else."""
    if not isinstance(body, str):
        raise MalformedEventError(f"work item: a {type(body).__name__}, not a JSON string")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedEventError(f"work item: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise MalformedEventError(f"work item: a JSON {type(data).__name__}, not an object")
    if data.get("v") != VERSION:
        raise MalformedEventError(f"work item: version {data.get('v')!r}, expected {VERSION}")
    try:
        parsed = _Body.model_validate(data)
    except ValidationError as exc:
        raise MalformedEventError(one_line(exc, "work item", "(body)")) from None
    trigger = Trigger(
        event_id=parsed.event_id,
        account=parsed.account,
        region=parsed.region,
        name=parsed.name,
        targets=(_target(parsed.target),),
        caller_arn=parsed.caller_arn,
        caller_role_arn=parsed.caller_role_arn,
        partition=parsed.partition,
        tag_keys=None if parsed.tag_keys is None else frozenset(parsed.tag_keys),
    )
    run = RunTag(parsed.run.id, parsed.run.mode, parsed.run.wave) if parsed.run is not None else None
    return WorkItem(trigger, origin=parsed.origin, run=run)


def _target(body: _Service | _Cluster | _TaskDefinition | _Deployment) -> Target:
    if isinstance(body, _Service):
        tags = None if body.cluster_tags is None else dict(body.cluster_tags)
        return ServiceTarget(body.cluster, body.service, cluster_tags=tags)
    if isinstance(body, _Cluster):
        return ClusterTarget(body.cluster)
    if isinstance(body, _TaskDefinition):
        return TaskDefinitionTarget(body.task_definition, dict(body.request_tags))
    return DeploymentOutcome(
        body.cluster, body.service, body.deployment_id, body.completed, body.reason, body.service_arn
    )
