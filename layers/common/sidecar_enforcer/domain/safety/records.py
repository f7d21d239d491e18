"""What the enforcer remembers between events, as plain records, and the rules that read them.

Two kinds of record, each stored as one versioned document (the state table's adapter writes a
document only if its version is still the one read, so two invocations never both win):

- :class:`SourceRecord`, one per (source revision, profile version): the compliant revision
  registered for it. A lease marks a registration in flight, so one invocation registers and the
  others wait for its answer; exactly one new revision per source and profile version.
- :class:`ServiceRecord`, one per service: a lease that serialises the invocations enforcing it,
  the deployment the enforcer started (matched against "ECS Deployment State Change" events), the
  times a person or pipeline took the sidecar away again (reverts), and a quarantine.

A deployment is recorded twice: as the record's intent before UpdateService (the revision it
deploys, no id yet), then, with the id UpdateService answered, as its deployment. A write or an
answer lost after ECS accepted the change leaves the intent, and whoever next reads the record with
the service at hand (:func:`adopt`) finds the deployment of that revision among the service's and
takes its id: it is verified, quarantined or counted as a revert exactly as one whose id was
recorded. An intent no deployment shows means nothing (UpdateService may never have reached ECS):
the last deployment stays what reverts are counted against.

Pure: no clock, no AWS. ``now`` is passed in, in seconds since the epoch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

from ..ecs.snapshots import DeploymentState

T = TypeVar("T")
UNKNOWN_CALLER = "unknown (an ECS deployment event names no caller)"


@dataclass(frozen=True)
class Versioned:
    """A stored document with its version: a conditional write succeeds only on the version read."""

    version: int
    doc: dict[str, Any]


@dataclass(frozen=True)
class Lease:
    owner: str
    until: float

    def held_by_other(self, owner: str, now: float) -> bool:
        return self.owner != owner and self.until > now


@dataclass(frozen=True)
class SourceRecord:
    compliant_arn: str | None = None
    lease: Lease | None = None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    def with_lease(self, lease: Lease | None) -> SourceRecord:
        return replace(self, lease=lease)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SourceRecord:
        lease = doc.get("lease")
        return cls(compliant_arn=doc.get("compliant_arn"), lease=_load(Lease, lease))


def deployable(status: str | None) -> bool:
    """Whether a task definition revision in this status can be deployed. A deregistered one
    (INACTIVE, or DELETE_IN_PROGRESS) cannot: UpdateService to it fails; nor one that is gone (None)."""
    return status == "ACTIVE"


@dataclass(frozen=True)
class Deployment:
    """The deployment the enforcer started (UpdateService) and what became of it."""

    task_definition: str
    deployment_id: str | None
    at: float
    profile: str
    sidecar: str  # the sidecar container's name in task_definition
    outcome: str | None = None  # VERIFIED / DEPLOYMENT_FAILED once the deployment ended
    # Started by a backfill run's wave: its verdict is that service's end in the wave (usecases.runs).
    run: str | None = None
    wave: int | None = None

    @property
    def ref(self) -> str:
        """Names this deployment among the enforcer's: ECS's id, or, when UpdateService's answer
        named none, the revision and when the enforcer started it."""
        return self.deployment_id or f"{self.task_definition}@{self.at}"


def intent(
    task_definition: str,
    *,
    at: float,
    profile: str,
    sidecar: str,
    run: str | None = None,
    wave: int | None = None,
) -> Deployment:
    """The deployment the enforcer is about to start (the record's intent, before UpdateService)."""
    return Deployment(task_definition, None, at, profile, sidecar, run=run, wave=wave)


def started(record: ServiceRecord, intended: Deployment, deployment_id: str | None) -> ServiceRecord:
    """The record once UpdateService started the intended deployment (``deployment_id``)."""
    return replace(record, deployment=replace(intended, deployment_id=deployment_id), intent=None)


def deployment_of(deployments: Iterable[DeploymentState], task_definition: str) -> DeploymentState | None:
    """The service's deployment of this revision: its PRIMARY one if that rolls it out, else the
    newest listed (ECS lists the PRIMARY first; a failed one the circuit breaker rolls back stays
    listed, rolloutState FAILED, while it drains)."""
    found = [d for d in deployments if d.task_definition == task_definition and d.id]
    primary = [d for d in found if d.status == "PRIMARY"]
    return next(iter(primary or found), None)


def adopt(record: ServiceRecord, deployments: Iterable[DeploymentState]) -> ServiceRecord:
    """The record with its intent resolved, when the service shows a deployment of the intent's
    revision: UpdateService went through, and that deployment is the enforcer's. Unchanged
    otherwise (no intent, or none of the service's deployments rolls out its revision: the call
    may never have reached ECS)."""
    intended = record.intent
    if intended is None:
        return record
    known = record.deployment.deployment_id if record.deployment else None
    # the deployment recorded before may still drain, of the same revision: it is not the intent's
    seen = deployment_of((d for d in deployments if d.id != known), intended.task_definition)
    return record if seen is None else started(record, intended, seen.id)


@dataclass(frozen=True)
class Revert:
    """The service found on a revision without the sidecar after the enforcer had deployed one:
    it left the enforcer's deployment ``left`` (its :attr:`Deployment.ref`) for ``task_definition``.
    ``left`` is None in reverts stored before it was recorded."""

    at: float
    caller: str
    task_definition: str
    left: str | None = None


@dataclass(frozen=True)
class Quarantine:
    status: str  # FLAPPING or DEPLOYMENT_FAILED
    reason: str
    since: float
    token: str  # the value of the release tag that lifts this quarantine (and no later one)


@dataclass(frozen=True)
class ServiceRecord:
    lease: Lease | None = None
    deployment: Deployment | None = None
    reverts: tuple[Revert, ...] = ()
    quarantine: Quarantine | None = None
    intent: Deployment | None = None  # the deployment about to start (see :func:`adopt`)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    def with_lease(self, lease: Lease | None) -> ServiceRecord:
        return replace(self, lease=lease)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ServiceRecord:
        lease, deployment, quarantine = doc.get("lease"), doc.get("deployment"), doc.get("quarantine")
        return cls(
            lease=_load(Lease, lease),
            deployment=_load(Deployment, deployment),
            reverts=tuple(r for r in (_load(Revert, r) for r in doc.get("reverts") or ()) if r),
            quarantine=_load(Quarantine, quarantine),
            intent=_load(Deployment, doc.get("intent")),
        )


def _load(cls: type[T], data: dict[str, Any] | None) -> T | None:
    """A record part from its stored form, ignoring fields this version does not know: a newer
    version's record stays readable after a rollback of the stack."""
    if not data:
        return None
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class RevertPolicy:
    """More than ``max_reverts`` reverts within ``window_seconds`` is a fight: quarantine."""

    max_reverts: int = 3
    window_seconds: int = 3600


@dataclass(frozen=True)
class RevertOutcome:
    record: ServiceRecord
    flapping: bool
    reasons: list[str] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)
    counted: bool = True  # False: this revert was counted before (a retried event): nothing changed


def reverted(record: ServiceRecord, running: str, deploying: tuple[str, ...]) -> bool:
    """Whether the service left the compliant revision the enforcer deployed to it: it neither
    runs nor rolls it out now (``running`` is the service's taskDefinition, ``deploying`` its
    PRIMARY deployment's). The record's intent is not counted: :func:`adopt` makes it the
    deployment once the service shows it."""
    ours = record.deployment.task_definition if record.deployment else None
    return ours is not None and ours != running and ours not in deploying


def record_revert(
    record: ServiceRecord, *, now: float, caller: str | None, task_definition: str, policy: RevertPolicy
) -> RevertOutcome:
    """Count one more revert (reverts older than the window are forgotten) and say whether the
    service is now FLAPPING, naming who reverted it.

    One revert is one revision change: the service left the enforcer's current deployment for
    ``task_definition``. Seen again (each retry of an event whose UpdateService failed sees it, and
    so does another event about the same change), it was counted already and nothing changes."""
    left = record.deployment.ref if record.deployment else None
    if left is not None and any(
        r.left == left and r.task_definition == task_definition for r in record.reverts
    ):
        return RevertOutcome(record, flapping=False, counted=False)
    kept = tuple(r for r in record.reverts if r.at > now - policy.window_seconds)
    revert = Revert(at=now, caller=caller or UNKNOWN_CALLER, task_definition=task_definition, left=left)
    reverts = (*kept, revert)
    record = replace(record, reverts=reverts)
    if len(reverts) <= policy.max_reverts:
        return RevertOutcome(record, flapping=False)
    counts: dict[str, int] = {}
    for r in reverts:
        counts[r.caller] = counts.get(r.caller, 0) + 1
    callers = sorted(counts, key=lambda c: (-counts[c], c))
    who = ", ".join(f"{c} ({counts[c]}x)" for c in callers)
    reason = (
        f"the sidecar was taken away {len(reverts)} times within {policy.window_seconds} s "
        f"(more than {policy.max_reverts}), by {who}: something (an infrastructure-as-code pipeline?) "
        "deploys a revision without it; add the sidecar there (the status's remedy holds its container "
        "definition and Terraform and CloudFormation snippets), then release the service"
    )
    return RevertOutcome(
        quarantine(record, "FLAPPING", reason, now=now), flapping=True, reasons=[reason], callers=callers
    )


def quarantine(record: ServiceRecord, status: str, reason: str, *, now: float) -> ServiceRecord:
    token = hashlib.sha256(f"{status}|{now}|{reason}".encode()).hexdigest()[:12]
    return replace(record, quarantine=Quarantine(status=status, reason=reason, since=now, token=token))


def released(record: ServiceRecord) -> ServiceRecord:
    """Out of quarantine, with the revert count started afresh and the last deployment (and any
    intent) forgotten: the revision the service runs when released is where the enforcer starts
    again, not a revert."""
    return replace(record, quarantine=None, reverts=(), deployment=None, intent=None)


def not_ours(
    record: ServiceRecord, deployment_id: str, deployments: Iterable[DeploymentState] | None = None
) -> str | None:
    """Why an ended deployment needs no verification: the enforcer did not start it, or it was
    concluded already; None when it is the enforcer's, still open. A record with an intent is told
    by the service's ``deployments`` (:func:`adopt`): without them, None (it may be the enforcer's)."""
    if record.intent is not None:
        if deployments is None:
            return None
        record = adopt(record, deployments)
    ours = record.deployment
    if ours is None or ours.deployment_id != deployment_id:
        return f"deployment {deployment_id} was not started by the enforcer"
    if ours.outcome is not None:
        return f"deployment {deployment_id} already ended {ours.outcome}"
    return None


def release_instructions(cluster: str, service: str, tag_key: str, token: str) -> str:
    return (
        f"left alone until a person releases it: `sidecar-enforcer release --cluster {cluster} "
        f"--service {service}`, or tag the service {tag_key}={token}"
    )


def sidecar_problems(tasks: list[tuple[str, dict[str, str], str | None]], sidecar: str) -> list[str]:
    """Why the tasks of a completed deployment do not all run the sidecar: ``tasks`` holds each
    task's ARN, its containers' lastStatus by name, and its stoppedReason."""
    problems: list[str] = []
    for arn, containers, stopped_reason in tasks:
        task = arn.rsplit("/", 1)[-1]
        status = containers.get(sidecar)
        if status is None:
            problems.append(f"task {task} has no {sidecar} container")
        elif status != "RUNNING":
            why = f" ({stopped_reason})" if stopped_reason else ""
            problems.append(f"the {sidecar} container is {status} in task {task}{why}")
    return problems
