"""VerifyDeployment (usecases/verify_deployment.py) on fakes: a deployment's end, checked on its
tasks."""

from __future__ import annotations

import dataclasses

import pytest
from sidecar_enforcer.models.events import (
    DeploymentOutcome,
)
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.models.work import RunTag

from ._world import (
    CLUSTER_ARN,
    deployed_world,
    outcome,
    service_arn,
    snapshot,
)


def test_a_completed_deployment_whose_tasks_run_the_sidecar_is_verified() -> None:
    world = deployed_world()

    finding = world.verify(world.ecs, outcome(), world.scope())

    assert finding.status is Status.VERIFIED
    assert finding.reasons == ["the jaeger container is RUNNING in all 1 task(s)"]
    assert world.ecs.args("deployment_tasks") == [(CLUSTER_ARN, "ecs-svc/0001")]
    record = world.record()
    assert record.deployment is not None
    assert record.deployment.outcome == "VERIFIED"
    assert record.quarantine is None


def test_a_completed_deployment_whose_sidecar_stopped_failed_and_quarantines() -> None:
    world = deployed_world(sidecar="STOPPED")

    finding = world.verify(world.ecs, outcome(), world.scope())

    assert finding.status is Status.DEPLOYMENT_FAILED
    assert finding.reasons == ["the jaeger container is STOPPED in task t1 (Essential container exited)"]
    record = world.record()
    assert record.quarantine is not None
    assert record.quarantine.status == "DEPLOYMENT_FAILED"
    assert finding.release is not None
    assert record.quarantine.token in finding.release


def test_a_failed_deployment_quarantines_the_service() -> None:
    world = deployed_world()

    finding = world.verify(world.ecs, outcome(completed=False, reason="circuit breaker"), world.scope())

    assert finding.status is Status.DEPLOYMENT_FAILED
    assert finding.reasons == ["the deployment failed: circuit breaker"]
    assert "deployment_tasks" not in world.ecs.names
    record = world.record()
    assert record.deployment is not None
    assert record.deployment.outcome == "DEPLOYMENT_FAILED"
    assert record.quarantine is not None
    assert record.quarantine.status == "DEPLOYMENT_FAILED"
    # rolled back to its own revision, the service is left alone by its next event
    world.ecs.services["api"] = snapshot()
    assert world.enforce().status is Status.QUARANTINED
    assert len(world.ecs.args("deploy")) == 0


@pytest.mark.parametrize(
    "target",
    [outcome("ecs-svc/someone-elses"), outcome(completed=False, reason="x")],
    ids=["not-ours", "already-concluded"],
)
def test_a_deployment_that_is_not_ours_to_verify_is_ignored(target: DeploymentOutcome) -> None:
    world = deployed_world()
    if target.deployment_id == "ecs-svc/0001":  # concluded once already
        world.verify(world.ecs, outcome(), world.scope())
        world.ecs.calls.clear()
    before = world.record()

    finding = world.verify(world.ecs, target, world.scope())

    assert finding.status is Status.IGNORED
    assert "deployment_tasks" not in world.ecs.names
    assert world.record() == before


@pytest.mark.parametrize("sidecar", ["RUNNING", "STOPPED"])
def test_a_run_s_concluded_deployment_delivered_again_gives_its_verdict_to_the_run_again(
    sidecar: str,
) -> None:
    # Keeping the first verdict in the run failed after the record was concluded: the event comes again.
    world = deployed_world(sidecar)
    world.ledger.update_service(
        service_arn(),
        lambda r: dataclasses.replace(
            r, deployment=dataclasses.replace(r.deployment, run="bf-1", wave=2) if r.deployment else None
        ),
    )
    first, run = world.verify.verdict(world.ecs, outcome(), world.scope())
    before = world.record()

    again, run_again = world.verify.verdict(world.ecs, outcome(), world.scope())

    assert run == run_again == RunTag("bf-1", "enforce", 2)
    assert (again.status, again.deployment_id) == (first.status, "ecs-svc/0001")
    assert again.status is (Status.VERIFIED if sidecar == "RUNNING" else Status.DEPLOYMENT_FAILED)
    assert again.reasons == [
        f"deployment ecs-svc/0001 already ended {first.status.value} (its verdict, given again)"
    ]
    assert again.release == first.release
    assert world.record() == before


def test_a_completed_deployment_without_tasks_is_unchecked() -> None:
    world = deployed_world()
    world.ecs.tasks.clear()

    finding = world.verify(world.ecs, outcome(), world.scope())

    assert finding.status is Status.SKIPPED
    record = world.record()
    assert record.deployment is not None
    assert record.deployment.outcome == "UNCHECKED"
    assert record.quarantine is None
