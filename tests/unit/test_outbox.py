"""The Reporter (usecases/scope.py) and DrainOutbox (usecases/outbox.py) on fakes: what is
published, and what SNS did not take is kept and published later."""

from __future__ import annotations

from sidecar_enforcer.config import Mode
from sidecar_enforcer.errors import (
    AwsError,
    RejectedError,
)
from sidecar_enforcer.ledger import OUTBOX
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.usecases.scope import Reporter, Scope

from ._factories import ACCOUNT, REGION
from ._world import (
    World,
    trigger,
)


def finding(status: Status = Status.REMEDIATED) -> Finding:
    return Scope(ACCOUNT, REGION, "UpdateService", "event-1", Mode.ENFORCE).finding(
        status, cluster="shop", service="api"
    )


def test_the_reporter_publishes_changes_and_problems_not_routine_outcomes() -> None:
    world = World()

    for status in Status:
        world.report(finding(status))

    assert world.publisher.statuses == [
        s.value for s in Status if s not in (Status.IGNORED, Status.COMPLIANT, Status.NOT_OPTED_IN)
    ]
    assert world.ledger.outbox() == []


def test_asked_for_everything_the_reporter_publishes_routine_outcomes_too_but_never_ignored() -> None:
    world = World()
    loud = Reporter(world.publisher, world.ledger, world.drain, publish_routine=True)

    for status in (Status.IGNORED, Status.COMPLIANT, Status.NOT_OPTED_IN, Status.FAILED):
        loud(finding(status))

    assert world.publisher.statuses == ["COMPLIANT", "NOT_OPTED_IN", "FAILED"]


def test_a_status_sns_did_not_take_is_kept_and_published_after_the_next_success() -> None:
    world = World()
    world.publisher.failures.append(AwsError("Publish: ServiceUnavailable"))

    kept = world.report(finding(Status.REMEDIATED))

    assert kept.status is Status.REMEDIATED  # never undone or blocked
    assert world.publisher.published == []
    (stored,) = world.ledger.outbox()
    assert stored.doc["message"] == kept.to_message()
    assert stored.doc["attempts"] == 0

    world.report(finding(Status.VERIFIED))

    assert world.publisher.statuses == ["VERIFIED", "REMEDIATED"]
    assert world.ledger.outbox() == []


def test_a_status_sns_refused_counts_its_first_attempt() -> None:
    world = World()
    world.publisher.failures.append(RejectedError("Publish: InvalidParameter"))

    world.report(finding())

    (stored,) = world.ledger.outbox()
    assert stored.doc["attempts"] == 1


def test_the_scheduled_tick_drains_the_outbox() -> None:
    world = World()
    world.publisher.failures.append(AwsError("Publish: ServiceUnavailable"))
    world.report(finding())

    tick = world.router.tick(trigger(name="Scheduled Event", targets=(), caller_arn=None))

    assert tick.status is Status.IGNORED
    assert tick.reasons == ["published 1 status(es) kept while SNS refused them"]
    assert world.publisher.statuses == ["REMEDIATED"]
    assert OUTBOX not in {pk for pk, _ in world.table.stored()}
