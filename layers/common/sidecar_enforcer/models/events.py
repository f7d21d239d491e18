"""The events that trigger the enforcer, as typed models, and what each one asks it to look at.

- "AWS API Call via CloudTrail" from ``ecs.amazonaws.com``: CreateService, UpdateService,
  TagResource, RegisterTaskDefinition. Only ``requestParameters`` (reliable) and ``resources`` are
  trusted; ``responseElements`` may be null or truncated (``{"omitted": true}``), so the state is
  re-read with Describe* calls. A record with ``errorCode`` is a failed call: nothing changed.
- "ECS Deployment State Change" (native, needs no trail): the service ARN is only in
  ``resources[0]``; the detail has no cluster or task definition. IN_PROGRESS asks for
  enforcement (a deployment may have taken the sidecar away); COMPLETED and FAILED (circuit
  breaker, rollback included) end a deployment, which the enforcer verifies when it started it.

An event of the wrong shape raises :class:`MalformedEventError` with a one-line message, so the
Lambda retry / dead-letter path keeps the original event intact. So does an event that contradicts
itself: it is handled in the partition, account and region its envelope names, and every ARN in it
(``resources``, the service, cluster, task definition or tagged resource of the request) and the
record's ``awsRegion`` must name the same place; a name ECS could not have accepted (longer than 255
characters, or other characters than letters, numbers, hyphens and underscores) is malformed too.
Nothing is ever "corrected" to a same-named resource elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..domain.ecs.arns import (
    ACCOUNT_ID,
    cluster_name,
    disagreement,
    parse_arn,
    partition_of,
    service_ref,
    shown,
    task_definition_family,
)
from ..domain.ecs.ecs_rules import NAME
from ..domain.planning.selection import tag_dict
from ..errors import MalformedEventError

CLOUDTRAIL = "AWS API Call via CloudTrail"
DEPLOYMENT = "ECS Deployment State Change"
ECS_SOURCE = "ecs.amazonaws.com"
SUPPORTED_CALLS = ("CreateService", "UpdateService", "TagResource", "RegisterTaskDefinition")
DEPLOYMENT_IN_PROGRESS = "SERVICE_DEPLOYMENT_IN_PROGRESS"
DEPLOYMENT_COMPLETED = "SERVICE_DEPLOYMENT_COMPLETED"
DEPLOYMENT_FAILED = "SERVICE_DEPLOYMENT_FAILED"
# The reason of the IN_PROGRESS event of a circuit-breaker rollback (AWS docs, "Amazon ECS service
# deployment state change events"): "ECS deployment circuit breaker: rolling back to deploymentId
# ...". It reports a failure; enforcing then would fight the rollback.
ROLLBACK = "circuit breaker: rolling back"
SCHEDULED = "Scheduled Event"  # the periodic tick that publishes statuses SNS refused earlier


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EventBridgeModel(BaseModel):
    """The EventBridge envelope (EventBridge user guide, "Amazon EventBridge events": the same
    fields as Powertools' parser model of that name; importing that one imports every model of the
    parser package, a quarter of the handlers' cold import)."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(default=None, alias="replay-name")


class SessionIssuer(_Lenient):
    arn: str | None = None


class SessionContext(_Lenient):
    session_issuer: SessionIssuer | None = Field(default=None, alias="sessionIssuer")


class UserIdentity(_Lenient):
    type: str | None = None
    arn: str | None = None
    account_id: str | None = Field(default=None, alias="accountId")
    session_context: SessionContext | None = Field(default=None, alias="sessionContext")


class CloudTrailDetail(_Lenient):
    event_source: str = Field(alias="eventSource")
    event_name: str = Field(alias="eventName")
    event_id: str | None = Field(default=None, alias="eventID")
    aws_region: str | None = Field(default=None, alias="awsRegion")
    error_code: str | None = Field(default=None, alias="errorCode")
    user_identity: UserIdentity | None = Field(default=None, alias="userIdentity")
    request_parameters: dict[str, Any] | None = Field(default=None, alias="requestParameters")
    response_elements: Any = Field(default=None, alias="responseElements")


class CloudTrailApiCallEvent(EventBridgeModel):
    detail: CloudTrailDetail


class EcsDeploymentDetail(_Lenient):
    event_type: str = Field(alias="eventType")
    event_name: str = Field(alias="eventName")
    deployment_id: str | None = Field(default=None, alias="deploymentId")
    reason: str | None = None


class EcsDeploymentEvent(EventBridgeModel):
    detail: EcsDeploymentDetail


# -- request parameters of the supported calls (only what the enforcer reads) -------------------


class CreateServiceParams(_Lenient):
    service_name: str = Field(alias="serviceName", min_length=1)
    cluster: str | None = None


class UpdateServiceParams(_Lenient):
    service: str = Field(min_length=1)
    cluster: str | None = None


NOISE = (
    "UpdateService changed neither the task definition nor forced a new deployment (a desiredCount "
    "change, e.g. by Application Auto Scaling): compliance cannot have changed"
)


def changes_compliance(params: dict[str, Any]) -> bool:
    """Whether an UpdateService request can change what runs: it names a task definition, or forces a
    new deployment. Anything else (desiredCount above all, Application Auto Scaling's most frequent
    call) leaves the service's revision as it was. The rules' patterns (template.yaml, member.yaml)
    filter the same way; this check holds for an event delivered by a rule that does not."""
    return params.get("taskDefinition") is not None or params.get("forceNewDeployment") is True


class TagResourceParams(_Lenient):
    resource_arn: str = Field(alias="resourceArn", min_length=1)
    tags: list[dict[str, Any]] = Field(default_factory=list)


class RegisterTaskDefinitionParams(_Lenient):
    family: str = Field(min_length=1)
    tags: list[dict[str, Any]] = Field(default_factory=list)


# -- what an event asks the enforcer to look at ---------------------------------------------------


@dataclass(frozen=True)
class ServiceTarget:
    cluster: str
    service: str
    # The cluster's tags as read when its services were queued (a cluster's opt-in tag changed):
    # what the service is decided on, rather than tags a warm container kept from before the change.
    cluster_tags: dict[str, str] | None = None


@dataclass(frozen=True)
class ClusterTarget:
    """Every service of a cluster (the cluster's opt-in tag changed)."""

    cluster: str


@dataclass(frozen=True)
class TaskDefinitionTarget:
    task_definition: str  # a family (its latest ACTIVE revision) or a revision's ARN
    request_tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeploymentOutcome:
    """A deployment of the service ended: completed, or failed (and rolled back)."""

    cluster: str
    service: str
    deployment_id: str
    completed: bool
    reason: str | None = None
    # The service's ARN in the long format (service/<cluster>/<name>), the key of its record in the
    # state table; None for the short format, whose record is found through DescribeServices.
    service_arn: str | None = None


Target = ServiceTarget | ClusterTarget | TaskDefinitionTarget | DeploymentOutcome


@dataclass(frozen=True)
class Trigger:
    event_id: str
    account: str
    region: str
    name: str  # the API call or the deployment event name
    targets: tuple[Target, ...] = ()
    caller_arn: str | None = None  # CloudTrail userIdentity.arn
    caller_role_arn: str | None = None  # userIdentity.sessionContext.sessionIssuer.arn
    ignored: str | None = None  # why the event asks for nothing
    partition: str = "aws"
    tag_keys: frozenset[str] | None = None  # TagResource: the keys the call set


def one_line(exc: ValidationError, what: str, whole: str = "(event)") -> str:
    """A validation error as one line: what was read, where in it (``whole`` when the input as a
    whole is wrong), and the first problem."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or whole
    return f"{what}: {where}: {err['msg']}"


def _model(cls: type[BaseModel], data: Any, what: str) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise MalformedEventError(one_line(exc, what)) from None


def parse_trigger(event: Any) -> Trigger:
    """Event dict -> Trigger. Raises MalformedEventError for a shape the enforcer cannot use."""
    if not isinstance(event, dict):
        raise MalformedEventError(f"not an EventBridge event: a JSON {type(event).__name__}, not an object")
    detail_type = event.get("detail-type")
    if detail_type == CLOUDTRAIL:
        return _placed(_cloudtrail(_model(CloudTrailApiCallEvent, event, "CloudTrail event")), event)
    if detail_type == DEPLOYMENT:
        return _placed(_deployment(_model(EcsDeploymentEvent, event, "ECS deployment event")), event)
    if detail_type == SCHEDULED and event.get("source") == "aws.events":
        tick = _model(EventBridgeModel, event, "scheduled event")
        trigger = Trigger(event_id=tick.id, account=tick.account, region=tick.region, name=SCHEDULED)
        return _placed(trigger, event)
    if detail_type is None and "eventSource" in event:
        raise MalformedEventError(
            f"a bare CloudTrail record, not an EventBridge event: EventBridge delivers it as 'detail' "
            f"with detail-type {CLOUDTRAIL!r}"
        )
    envelope = _model(EventBridgeModel, event, "EventBridge event")
    raise MalformedEventError(
        f"unsupported detail-type {envelope.detail_type!r}: expected {CLOUDTRAIL!r} or {DEPLOYMENT!r}"
    )


def _placed(trigger: Trigger, event: dict[str, Any]) -> Trigger:
    """The trigger, once the event's own fields agree on where it happened (see the module's doc)."""
    account, region = trigger.account, trigger.region
    if not ACCOUNT_ID.fullmatch(account):
        raise MalformedEventError(f"account {shown(account)} is not a 12-digit AWS account id")
    partition = partition_of(region)
    if partition is None:
        raise MalformedEventError(f"region {shown(region)} is not an AWS region")
    found: list[tuple[str, Any]] = [("resources[]", r) for r in event.get("resources") or []]
    detail: dict[str, Any] = event["detail"] if isinstance(event.get("detail"), dict) else {}
    record_region = detail.get("awsRegion")
    if record_region is not None and record_region != region:
        raise MalformedEventError(
            f"detail.awsRegion {shown(record_region)} disagrees with the event's region {region}"
        )
    params = detail.get("requestParameters")
    if isinstance(params, dict):
        found += [
            (f"requestParameters.{k}", params[k])
            for k in ("service", "cluster", "resourceArn", "taskDefinition")
            if isinstance(params.get(k), str)
        ]
    for what, value in found:
        arn = parse_arn(value) if isinstance(value, str) else None
        if what == "resources[]" and arn is None:
            raise MalformedEventError(f"resources[] holds {shown(value)}, which is not an ARN")
        why = disagreement(arn, partition, account, region) if arn else None
        if why:
            raise MalformedEventError(
                f"{what} {shown(value)} names {why} of the event's envelope: "
                "an event acts only where it happened"
            )
    for target in trigger.targets:
        for kind, name in _names(target):
            if not NAME.fullmatch(name):
                raise MalformedEventError(
                    f"{kind} name {shown(name)} is not one ECS accepts "
                    "(up to 255 letters, numbers, hyphens and underscores)"
                )
    return _with(trigger, partition=partition)


def _names(target: Target) -> list[tuple[str, str]]:
    if isinstance(target, ServiceTarget | DeploymentOutcome):
        return [("cluster", target.cluster), ("service", target.service)]
    if isinstance(target, ClusterTarget):
        return [("cluster", target.cluster)]
    return [("task definition family", task_definition_family(target.task_definition))]


def _deployment(event: EcsDeploymentEvent) -> Trigger:
    base = Trigger(
        event_id=event.id, account=event.account, region=event.region, name=event.detail.event_name
    )
    name = event.detail.event_name
    if name not in (DEPLOYMENT_IN_PROGRESS, DEPLOYMENT_COMPLETED, DEPLOYMENT_FAILED):
        return _with(base, ignored=f"{name} needs no enforcement")
    service_arn = event.resources[0] if event.resources else None
    arn = parse_arn(service_arn)
    if service_arn is None or arn is None or arn.resource_type != "service":
        raise MalformedEventError("ECS deployment event: resources[0] is not a service ARN")
    cluster, service = service_ref(service_arn)
    rollback = ROLLBACK in (event.detail.reason or "")
    if name == DEPLOYMENT_IN_PROGRESS and not rollback:
        return _with(base, targets=(ServiceTarget(cluster, service),))
    if not event.detail.deployment_id:
        raise MalformedEventError(f"ECS deployment event: {name} without detail.deploymentId")
    long_format = arn.resource.count("/") == 2
    outcome = DeploymentOutcome(
        cluster,
        service,
        event.detail.deployment_id,
        name == DEPLOYMENT_COMPLETED,
        event.detail.reason,
        service_arn if long_format else None,
    )
    return _with(base, targets=(outcome,))


def _cloudtrail(event: CloudTrailApiCallEvent) -> Trigger:
    detail = event.detail
    identity = detail.user_identity
    issuer = identity.session_context.session_issuer if identity and identity.session_context else None
    base = Trigger(
        event_id=event.id,
        account=event.account,
        region=event.region,
        name=detail.event_name,
        caller_arn=identity.arn if identity else None,
        caller_role_arn=issuer.arn if issuer else None,
    )
    if detail.event_source != ECS_SOURCE:
        return _with(base, ignored=f"a {detail.event_source} call, not an ECS one")
    if detail.event_name not in SUPPORTED_CALLS:
        return _with(base, ignored=f"{detail.event_name} needs no enforcement")
    if detail.error_code:
        return _with(
            base, ignored=f"the {detail.event_name} call failed ({detail.error_code}): nothing changed"
        )
    params = detail.request_parameters
    what = f"{detail.event_name} requestParameters"
    if not isinstance(params, dict):
        raise MalformedEventError(f"{what}: missing")
    if detail.event_name == "CreateService":
        create = _model(CreateServiceParams, params, what)
        return _with(base, targets=(ServiceTarget(cluster_name(create.cluster), create.service_name),))
    if detail.event_name == "UpdateService":
        update = _model(UpdateServiceParams, params, what)
        if not changes_compliance(params):
            return _with(base, ignored=NOISE)
        return _with(base, targets=(ServiceTarget(*service_ref(update.service, update.cluster)),))
    if detail.event_name == "TagResource":
        tag = _model(TagResourceParams, params, what)
        return _tag_resource(base, tag)
    register = _model(RegisterTaskDefinitionParams, params, what)
    # The family, not responseElements' ARN (untrusted, often null or omitted): its latest ACTIVE
    # revision is described, which is the registered one or a newer one (also to be enforced).
    return _with(base, targets=(TaskDefinitionTarget(register.family, tag_dict(register.tags)),))


def _tag_resource(base: Trigger, params: TagResourceParams) -> Trigger:
    base = _with(base, tag_keys=frozenset(tag_dict(params.tags)))
    arn = parse_arn(params.resource_arn)
    if arn is None:
        raise MalformedEventError("TagResource requestParameters: resourceArn is not an ARN")
    if arn.resource_type == "service":
        return _with(base, targets=(ServiceTarget(*service_ref(params.resource_arn)),))
    if arn.resource_type == "cluster":
        return _with(base, targets=(ClusterTarget(cluster_name(params.resource_arn)),))
    if arn.resource_type == "task-definition":
        return _with(base, targets=(TaskDefinitionTarget(params.resource_arn, tag_dict(params.tags)),))
    return _with(base, ignored=f"tagging a {arn.resource_type} needs no enforcement")


def _with(trigger: Trigger, **changes: Any) -> Trigger:
    return replace(trigger, **changes)
