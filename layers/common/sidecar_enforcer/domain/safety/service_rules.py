"""The safety rules for one service, decided on plain data.

Given the service as ECS shows it, the plan for its task definition and, when a change is planned,
the service's record in the state table, :func:`decide` says what the enforcer concludes and what
to do about it: the :class:`Verdict` holds the status and its reasons, the record to write (a revert
counted, a quarantine, a release) and whether to register and deploy the compliant revision. The
use case gathers the facts and applies the verdict; nothing here calls AWS or reads a clock.

The order of the rules:
1. another deployment controller (CODE_DEPLOY, EXTERNAL): UpdateService cannot change its task
   definition, so SKIPPED, whatever the plan; :func:`controller_verdict` is this rule alone, which the
   use case applies before it reads the task definition at all;
2. nothing to change (COMPLIANT, DRIFTED with upgrades off, REFUSED): said as the plan says, without
   the record: a compliant service costs no state-table read, quarantined or not;
3. quarantined: QUARANTINED, unless the release tag carries this quarantine's token (then RELEASED
   first, and the rules go on as for a service never quarantined); audit mode never releases;
4. audit: NONCOMPLIANT (or DRIFTED) with the planned changes, nothing applied;
5. the enforcer's own deployment shows rolloutState FAILED (the circuit breaker rolls it back before
   its FAILED event arrived): DEPLOYMENT_FAILED and quarantine, never a second try;
6. the service left the revision the enforcer deployed: a revert, counted once; more than the policy
   allows within its window is FLAPPING and quarantine;
7. otherwise REMEDIATED: register (or reuse) the compliant revision and deploy it.

The record is read with the service's deployments at hand: a deployment recorded only as an intent
(its UpdateService answer was lost) is first matched to the service's deployment of its revision
(``records.adopt``), so rules 5 and 6 judge it as one whose id was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ..ecs.snapshots import ServiceSnapshot
from ..planning.plan import Decision, Plan
from ..status import Status
from . import records
from .records import Deployment, Quarantine, RevertPolicy, ServiceRecord


@dataclass(frozen=True)
class ServiceFacts:
    service: ServiceSnapshot
    plan: Plan
    why: str  # why the service is enforced (the tag that opts it in)
    audit: bool
    release_tag_key: str
    revert_policy: RevertPolicy
    now: float
    caller: str | None = None  # who made the call behind the event (CloudTrail), when known
    record: ServiceRecord | None = None  # None: not read (see needs_record)


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    record: ServiceRecord | None = None  # write this record (None: leave the stored one as it is)
    released: str | None = None  # a RELEASED finding comes first, saying this
    register: bool = False  # register (or reuse) the plan's revision, and deploy it
    release: str | None = None  # how a person lifts the quarantine this verdict reports
    reverted_by: tuple[str, ...] = ()
    failed: Deployment | None = None  # the enforcer's deployment that failed (DEPLOYMENT_FAILED)


def change_planned(plan: Plan) -> bool:
    return plan.changes_something


def needs_record(service: ServiceSnapshot, plan: Plan, release_tag_key: str) -> bool:
    """Whether deciding needs the service's record: a change is planned that UpdateService can make
    (quarantine, reverts and the last deployment decide whether it is made), or the release tag asks
    to lift a quarantine. Anything else is decided from ECS alone."""
    if service.deployment_controller != "ECS":
        return False  # rule 1 answers, whatever the record holds
    return change_planned(plan) or release_tag_key in service.tags


def controller_verdict(service: ServiceSnapshot) -> Verdict | None:
    """Rule 1 alone: SKIPPED for a deployment controller the enforcer cannot deploy through, decided
    on the service as ECS shows it (nothing planned for its task definition could be applied)."""
    if service.deployment_controller == "ECS":
        return None
    return Verdict(Status.SKIPPED, (controller_reason(service.deployment_controller),))


def decide(facts: ServiceFacts) -> Verdict:
    plan, service = facts.plan, facts.service
    skipped = controller_verdict(service)
    if skipped is not None:
        return skipped
    record, released = facts.record, None
    if record is not None:
        record = records.adopt(record, service.deployments)
    if record is not None and record.quarantine is not None:
        quarantine = record.quarantine
        if facts.audit or service.tags.get(facts.release_tag_key) != quarantine.token:
            if not change_planned(plan):
                return _as_planned(plan)  # read for a release tag that does not match: nothing to do
            return Verdict(
                Status.QUARANTINED,
                (quarantined_reason(quarantine),),
                release=instructions(service, facts, quarantine),
            )
        tag = f"{facts.release_tag_key}={quarantine.token}"
        released = f"released by the tag {tag} from {quarantine.status} ({quarantine.reason})"
        record = records.released(record)
    verdict = _enforce(facts, record)
    return replace(verdict, released=released, record=verdict.record or (record if released else None))


def audit_status(plan: Plan) -> Status:
    """What audit mode reports for a planned change (it applies none)."""
    return Status.NONCOMPLIANT if plan.decision is Decision.MISSING else Status.DRIFTED


def _as_planned(plan: Plan) -> Verdict:
    return Verdict(Status(plan.decision.value), tuple(plan.reasons))


def _enforce(facts: ServiceFacts, record: ServiceRecord | None) -> Verdict:
    plan, service = facts.plan, facts.service
    if not change_planned(plan):
        return _as_planned(plan)
    if facts.audit:
        return Verdict(audit_status(plan), (facts.why, *plan.reasons), tuple(plan.changes))
    reasons = (facts.why, *plan.reasons)
    if record is None:  # no record was read: nothing is known of earlier deployments
        return Verdict(Status.REMEDIATED, reasons, register=True)
    failed = _failed_rollout(facts, record)
    if failed is not None:
        return failed
    if not records.reverted(record, service.task_definition, service.rolling_out):
        return Verdict(Status.REMEDIATED, reasons, register=True)
    policy = facts.revert_policy
    outcome = records.record_revert(
        record, now=facts.now, caller=facts.caller, task_definition=service.task_definition, policy=policy
    )
    counted = outcome.record if outcome.counted else None
    if outcome.record.quarantine is not None:
        return Verdict(
            Status.FLAPPING,
            tuple(outcome.reasons),
            record=counted,
            reverted_by=tuple(outcome.callers),
            release=instructions(service, facts, outcome.record.quarantine),
        )
    revert = (
        f"the service had left the enforcer's revision for {service.task_definition}, by "
        f"{facts.caller or records.UNKNOWN_CALLER}: revert {len(outcome.record.reverts)} of at most "
        f"{policy.max_reverts} within {policy.window_seconds} s"
    )
    return Verdict(Status.REMEDIATED, (*reasons, revert), record=counted, register=True)


def _failed_rollout(facts: ServiceFacts, record: ServiceRecord) -> Verdict | None:
    ours = record.deployment
    if ours is None or ours.deployment_id is None or ours.outcome is not None:
        return None
    seen = facts.service.deployment(ours.deployment_id)
    if seen is None or seen.rollout_state != "FAILED":
        return None
    problems = [f"deployment {ours.deployment_id} of {ours.task_definition} shows rolloutState FAILED"]
    failed = deployment_failed(record, ours, problems, facts.now)
    assert failed.quarantine is not None
    return Verdict(
        Status.DEPLOYMENT_FAILED,
        tuple(problems),
        record=failed,
        release=instructions(facts.service, facts, failed.quarantine),
        failed=ours,
    )


def deployment_failed(
    record: ServiceRecord, ours: Deployment, problems: list[str], now: float
) -> ServiceRecord:
    """The record once the enforcer's deployment failed: concluded, and the service quarantined."""
    ended = replace(record, deployment=replace(ours, outcome=Status.DEPLOYMENT_FAILED.value))
    return records.quarantine(ended, Status.DEPLOYMENT_FAILED.value, "; ".join(problems), now=now)


def instructions(service: ServiceSnapshot, facts: ServiceFacts, quarantine: Quarantine) -> str:
    return records.release_instructions(
        service.cluster, service.name, facts.release_tag_key, quarantine.token
    )


def quarantined_reason(quarantine: Quarantine) -> str:
    since = datetime.fromtimestamp(quarantine.since, UTC).isoformat(timespec="seconds")
    return f"quarantined since {since} ({quarantine.status}): {quarantine.reason}"


def controller_reason(controller: str) -> str:
    what = "`sidecar-enforcer plan` on that task definition says what to add"
    if controller == "CODE_DEPLOY":
        return (
            "the service uses the CODE_DEPLOY deployment controller: UpdateService cannot change its task "
            "definition; add the sidecar to the task definition your CodeDeploy deployment registers "
            f"({what})"
        )
    return (
        f"the service uses the {controller} deployment controller: its task sets are managed outside ECS "
        f"(CreateTaskSet); add the sidecar to the task definition its task sets run ({what})"
    )
