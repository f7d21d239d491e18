"""The enforcer never loses track of what it changed: a fault in any step of a remediation, once,
right after the step took effect (its answer lost) or instead of it, ends as the same state as
without the fault: one registered revision, one deployment, and that deployment verified,
quarantined, or counted towards FLAPPING.

A remediation's steps are the state-table writes around RegisterTaskDefinition and UpdateService
(the service's lease, the source's lease and record, the deployment's intent and its id, the
lease given back) and those two ECS calls. Each scenario delivers the event as the work queue does:
a FAILED item comes back after the queue's visibility timeout, until it is not FAILED.

On the use cases' fakes, whose UpdateService starts a PRIMARY deployment of the new revision as ECS
does: moto's leaves the PRIMARY on the old revision (../shared/docs/aws-facts.md), so the service's
deployments, which give an intent its id, cannot be played on moto."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from sidecar_enforcer.domain.ecs.snapshots import DeploymentState, TaskState
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.errors import AwsError
from sidecar_enforcer.models.events import DeploymentOutcome, ServiceTarget, Target, Trigger
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.models.work import RunTag

from ._factories import ACCOUNT, REGION
from ._world import (
    CLUSTER_ARN,
    COMPLIANT,
    PIPELINE,
    SOURCE,
    World,
    service_arn,
    snapshot,
)

VISIBILITY_SECONDS = 720  # the work queue's: a failed item comes back this much later
SERVICE_KEY = f"service#{service_arn()}"
SOURCE_KEY = f"source#{SOURCE}"

# The state-table writes of a remediation, in order (test_the_steps_of_a_remediation_are_these).
WRITES = (
    ("the service's lease", SERVICE_KEY),
    ("the source's lease", SOURCE_KEY),
    ("the compliant revision recorded for the source", SOURCE_KEY),
    ("the deployment's intent", SERVICE_KEY),
    ("the deployment's id", SERVICE_KEY),
    ("the service's lease given back", SERVICE_KEY),
)


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[World], None]


# A remediation after a revert: the source's record is read, not written; the revert is counted first.
REVERT_WRITES = (
    ("the service's lease", SERVICE_KEY),
    ("the revert counted", SERVICE_KEY),
    ("the deployment's intent", SERVICE_KEY),
    ("the deployment's id", SERVICE_KEY),
    ("the service's lease given back", SERVICE_KEY),
)
# The verdict on the deployment's end.
VERDICT_WRITES = (
    ("the service's lease", SERVICE_KEY),
    ("the deployment's outcome", SERVICE_KEY),
    ("the service's lease given back", SERVICE_KEY),
)


def _table_fault(step: int, stored: bool, writes: tuple[tuple[str, str], ...] = WRITES) -> Fault:
    how = "its answer lost" if stored else "not stored"
    return Fault(f"{writes[step][0]}: {how}", lambda w: w.table.fail_put(step, stored=stored))


def _lost(method: str, *, unreadable: bool = False) -> Fault:
    def inject(world: World) -> None:
        world.ecs.lost.add(method)
        if unreadable:  # and the service cannot be read right after (the check of the lost answer)
            world.ecs.once["describe_service"] = AwsError("DescribeServices: ReadTimeoutError")

    what = {"register": "RegisterTaskDefinition", "deploy": "UpdateService"}[method]
    return Fault(f"{what}: its answer lost" + (", the service unreadable" if unreadable else ""), inject)


FAULTS = [
    *(_table_fault(step, stored) for step in range(len(WRITES)) for stored in (True, False)),
    _lost("register"),
    _lost("deploy"),
    _lost("deploy", unreadable=True),
]


def event(*targets: Target, name: str = "UpdateService", caller: str | None = PIPELINE) -> Trigger:
    return Trigger(
        "event-1",
        ACCOUNT,
        REGION,
        name,
        targets=targets or (ServiceTarget("shop", "api"),),
        caller_arn=caller,
    )


def deliver(world: World, trigger: Trigger) -> list[Finding]:
    """The router's triage, then the worker, the item handed over again after each FAILED."""
    findings: list[Finding] = []
    for _ in range(4):
        ignored = world.router.ignored(trigger)
        if ignored is not None:
            return [*findings, ignored]
        (finding,) = world.enforcer.handle(trigger)
        findings.append(finding)
        if finding.status is not Status.FAILED:
            return findings
        world.clock.advance(VISIBILITY_SECONDS)
    raise AssertionError(f"still FAILED after 4 deliveries: {[f.reasons for f in findings]}")


def normal(record: records.ServiceRecord) -> records.ServiceRecord:
    """A record without what only the clock decides (when, and the tokens made of when): a retried
    item acts later than the first delivery would have."""
    deployment = dataclasses.replace(record.deployment, at=0.0) if record.deployment else None
    reverts = tuple(dataclasses.replace(r, at=0.0, left=None) for r in record.reverts)
    quarantine = dataclasses.replace(record.quarantine, since=0.0, token="") if record.quarantine else None
    intent = dataclasses.replace(record.intent, at=0.0) if record.intent else None
    return records.ServiceRecord(None, deployment, reverts, quarantine, intent)


def ours(world: World) -> DeploymentState:
    """The service's deployment of the compliant revision, as ECS shows it."""
    (found,) = [d for d in world.ecs.services["api"].deployments if d.task_definition == COMPLIANT]
    return found


def outcome_of(world: World, *, completed: bool = True) -> DeploymentOutcome:
    return DeploymentOutcome(
        "shop", "api", ours(world).id, completed, None if completed else "circuit breaker", service_arn()
    )


def ended(world: World, *, completed: bool) -> Trigger:
    target = DeploymentOutcome(
        "shop", "api", ours(world).id, completed, None if completed else "circuit breaker", service_arn()
    )
    name = "SERVICE_DEPLOYMENT_COMPLETED" if completed else "SERVICE_DEPLOYMENT_FAILED"
    return event(target, name=name, caller=None)


def remediated(fault: Fault | None) -> World:
    """A service without its sidecar remediated (the fault injected first), its item delivered
    until it is not FAILED."""
    world = World(snapshot())
    if fault is not None:
        fault.inject(world)
    findings = deliver(world, event())
    assert findings[-1].status in (Status.REMEDIATED, Status.COMPLIANT)
    assert len(world.ecs.args("register")) == 1  # exactly once, across the retries
    assert world.ecs.args("deploy") == [(CLUSTER_ARN, "api", COMPLIANT)]  # never a second deployment
    assert [f.status for f in findings].count(Status.FAILED) <= 1
    return world


def verified(fault: Fault | None) -> tuple[Status, records.ServiceRecord]:
    world = remediated(fault)
    world.ecs.tasks[ours(world).id] = [
        TaskState(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/shop/t1",
            COMPLIANT,
            "RUNNING",
            {"app": "RUNNING", "jaeger": "RUNNING"},
        )
    ]
    verdict = deliver(world, ended(world, completed=True))[-1]
    return verdict.status, normal(world.record())


def rolled_back(fault: Fault | None) -> tuple[Status, Status, records.ServiceRecord]:
    """The circuit breaker fails the deployment and rolls the service back to its own revision."""
    world = remediated(fault)
    failed = dataclasses.replace(ours(world), status="ACTIVE", rollout_state="FAILED")
    rollback = DeploymentState("ecs-svc/rollback", "PRIMARY", SOURCE, "IN_PROGRESS")
    world.ecs.services["api"] = snapshot(deployments=(rollback, failed))
    verdict = deliver(world, ended(world, completed=False))[-1]
    after = deliver(world, event(caller=None, name="SERVICE_DEPLOYMENT_IN_PROGRESS"))[-1]
    return verdict.status, after.status, normal(world.record())


def flapping(fault: Fault | None, *, at: int = 0) -> tuple[list[Status], records.ServiceRecord, int]:
    """A pipeline puts the service back on its own revision four times, each while the enforcer's
    deployment still rolls out (UpdateService: a new PRIMARY, the enforcer's draining). The fault
    is injected into the first remediation (``at`` 0) or into the one after revert ``at``."""
    world = remediated(fault if at == 0 else None)
    statuses = []
    for revert in range(1, 5):
        if fault is not None and revert == at:
            fault.inject(world)
        world.clock.advance(60)
        now = world.ecs.services["api"]
        draining = tuple(dataclasses.replace(d, status="ACTIVE") for d in now.deployments)
        theirs = DeploymentState(f"ecs-svc/pipeline-{world.clock.now:.0f}", "PRIMARY", SOURCE, "IN_PROGRESS")
        world.ecs.services["api"] = dataclasses.replace(
            now, task_definition=SOURCE, deployments=(theirs, *draining)
        )
        statuses.append(deliver(world, event())[-1].status)
    return statuses, normal(world.record()), len(world.ecs.args("deploy"))


def test_the_steps_of_a_remediation_are_these() -> None:
    world = World(snapshot())

    assert world.enforce().status is Status.REMEDIATED

    assert [(op, pk) for op, pk, _ in world.table.writes()] == [("put", key) for _, key in WRITES]
    assert world.ecs.names.count("register") == world.ecs.names.count("deploy") == 1


def test_the_steps_of_a_remediation_after_a_revert_and_of_a_verdict_are_these() -> None:
    world = remediated(None)
    world.ecs.services["api"] = snapshot()  # the pipeline's revision again
    world.table.ops.clear()
    assert world.enforce().status is Status.REMEDIATED
    after_revert = [(op, pk) for op, pk, _ in world.table.writes()]
    world.table.ops.clear()
    assert world.verify(world.ecs, outcome_of(world), world.scope()).status is Status.SKIPPED  # no task

    assert after_revert == [("put", key) for _, key in REVERT_WRITES]
    assert [(op, pk) for op, pk, _ in world.table.writes()] == [("put", key) for _, key in VERDICT_WRITES]


def test_the_intent_names_the_revision_before_update_service_is_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(snapshot())
    seen: list[records.ServiceRecord] = []
    deploy = world.ecs.deploy

    def deploy_and_look(cluster: str, service: str, task_definition_arn: str) -> str | None:
        seen.append(world.record())
        return deploy(cluster, service, task_definition_arn)

    monkeypatch.setattr(world.ecs, "deploy", deploy_and_look)
    world.enforce()

    (before,) = seen
    assert before.intent == records.intent(COMPLIANT, at=world.clock.now, profile="jaeger", sidecar="jaeger")
    assert before.deployment is None
    after = world.record()
    assert after.intent is None
    assert after.deployment == dataclasses.replace(before.intent, deployment_id="ecs-svc/0001")


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_a_fault_in_any_step_still_ends_verified(fault: Fault) -> None:
    assert verified(fault) == verified(None)
    assert verified(None)[0] is Status.VERIFIED


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_a_fault_in_any_step_still_ends_quarantined_when_the_deployment_fails(fault: Fault) -> None:
    without = rolled_back(None)
    assert without[:2] == (Status.DEPLOYMENT_FAILED, Status.QUARANTINED)

    assert rolled_back(fault) == without


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_a_fault_in_any_step_still_ends_flapping(fault: Fault) -> None:
    statuses, record, deploys = flapping(fault)
    without = flapping(None)

    assert statuses == without[0] == [Status.REMEDIATED] * 3 + [Status.FLAPPING]
    assert deploys == without[2] == 4
    assert record == without[1]
    assert record.quarantine is not None
    assert record.quarantine.status == "FLAPPING"


REVERT_FAULTS = [
    *(
        _table_fault(step, stored, REVERT_WRITES)
        for step in range(len(REVERT_WRITES))
        for stored in (True, False)
    ),
    _lost("deploy"),
    _lost("deploy", unreadable=True),
]


@pytest.mark.parametrize("fault", REVERT_FAULTS, ids=lambda f: f.name)
def test_a_fault_in_any_step_of_a_remediation_after_a_revert_still_ends_flapping(fault: Fault) -> None:
    assert flapping(fault, at=2) == flapping(None)


@pytest.mark.parametrize(
    "fault",
    [
        _table_fault(step, stored, VERDICT_WRITES)
        for step in range(len(VERDICT_WRITES))
        for stored in (True, False)
    ],
    ids=lambda f: f.name,
)
@pytest.mark.parametrize("intent_only", [False, True], ids=["id-recorded", "intent-only"])
def test_a_fault_in_any_write_of_the_verdict_still_ends_verified(fault: Fault, intent_only: bool) -> None:
    def judged(fault: Fault | None) -> tuple[Status, records.ServiceRecord]:
        world = remediated(
            _table_fault(WRITES.index(("the deployment's id", SERVICE_KEY)), False) if intent_only else None
        )
        world.ecs.tasks[ours(world).id] = [
            TaskState(
                f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/shop/t1", COMPLIANT, "RUNNING", {"jaeger": "RUNNING"}
            )
        ]
        if fault is not None:
            fault.inject(world)
        verdict = deliver(world, ended(world, completed=True))[-1]
        return verdict.status, normal(world.record())

    assert judged(fault) == judged(None)
    assert judged(None)[0] is Status.VERIFIED


def test_an_earlier_deployment_of_the_same_revision_still_draining_is_not_the_intents() -> None:
    """UpdateService after a revert failed before it reached ECS: the enforcer's first deployment of
    the revision still drains. It is neither taken as the new one's answer nor adopted by its intent."""
    world = remediated(None)
    now = world.ecs.services["api"]
    theirs = DeploymentState("ecs-svc/pipeline", "PRIMARY", SOURCE, "IN_PROGRESS")
    draining = tuple(dataclasses.replace(d, status="ACTIVE") for d in now.deployments)
    world.ecs.services["api"] = dataclasses.replace(
        now, task_definition=SOURCE, deployments=(theirs, *draining)
    )
    world.ecs.errors["deploy"] = AwsError("UpdateService: ServiceUnavailable")

    finding = world.enforce()

    assert finding.status is Status.FAILED
    record = world.record()
    assert record.intent is not None
    assert records.adopt(record, world.ecs.services["api"].deployments) == record
    assert record.deployment is not None
    assert record.deployment.deployment_id == "ecs-svc/0001"


def test_an_ended_deployment_of_a_service_with_only_an_intent_is_queued_not_ignored() -> None:
    world = World(snapshot())
    world.ledger.update_service(
        service_arn(),
        lambda r: dataclasses.replace(
            r, intent=records.intent(COMPLIANT, at=1.0, profile="jaeger", sidecar="jaeger")
        ),
    )
    target = DeploymentOutcome("shop", "api", "ecs-svc/0042", True, None, service_arn())

    assert world.triage(event(target, name="SERVICE_DEPLOYMENT_COMPLETED", caller=None)) is None


def test_an_intent_no_deployment_shows_is_no_revert_and_its_deployments_event_not_ours() -> None:
    """UpdateService failed before it reached ECS: the intent stays, and means nothing."""
    world = World(snapshot())
    world.ecs.errors["deploy"] = AwsError("UpdateService: ServiceUnavailable")
    assert world.enforce().status is Status.FAILED
    assert world.record().intent is not None
    assert world.record().deployment is None
    target = DeploymentOutcome("shop", "api", "ecs-svc/0000", True, None, service_arn())

    verdict = world.verify(world.ecs, target, world.scope())
    del world.ecs.errors["deploy"]
    again = world.enforce()

    assert verdict.status is Status.IGNORED
    assert "was not started by the enforcer" in verdict.reasons[0]
    assert again.status is Status.REMEDIATED
    assert world.record().reverts == ()
    assert len(world.ecs.args("register")) == 1


@pytest.mark.parametrize("wave", [None, RunTag("bf-1", "enforce", 2)], ids=["event", "backfill-wave"])
def test_a_deployment_whose_record_is_lost_is_remediated_with_a_warning_and_judged_from_its_intent(
    wave: RunTag | None,
) -> None:
    world = World(snapshot())
    world.table.fail_put(WRITES.index(("the deployment's id", SERVICE_KEY)), stored=False)

    finding = world.enforce_service.named(
        world.ecs, "shop", "api", dataclasses.replace(world.scope(), run=wave)
    )
    verdict, run = world.verify.verdict(world.ecs, outcome_of(world), world.scope())

    assert finding.status is Status.REMEDIATED
    assert finding.deployment_id == "ecs-svc/0001"  # a backfill wave waits for its verdict
    assert finding.warnings[-1].startswith("deployment ecs-svc/0001 not recorded (PutItem: failed")
    assert verdict.status is Status.SKIPPED  # ended, no task to check: its verdict, not IGNORED
    assert verdict.reasons == ["deployment ecs-svc/0001 completed with no running task to check"]
    assert run == wave  # the wave that started it gets the verdict
    record = world.record()
    assert record.intent is None
    assert record.deployment is not None
    assert (record.deployment.deployment_id, record.deployment.outcome) == ("ecs-svc/0001", "UNCHECKED")


def test_a_lease_that_cannot_be_given_back_runs_out_and_the_remediation_stands() -> None:
    world = World(snapshot())
    world.table.fail_put(len(WRITES) - 1, stored=False)

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    record = world.record()
    assert record.lease is not None  # left to run out
    assert record.deployment is not None
    assert record.deployment.deployment_id == "ecs-svc/0001"
