"""Router Lambda: an EventBridge event in, one work item per target on the SQS FIFO work queue out.

Thin and quick by design: parse the event into a typed Trigger; answer an event that asks for
nothing (the enforcer's own call handed back by CloudTrail, a tag nobody watches, a deployment the
enforcer did not start) without queueing anything; run the scheduled tick here (it publishes the
statuses SNS refused earlier, and sweeps the open backfill runs: usecases.run_waves); queue
everything else, one item per service, cluster, task
definition or deployment outcome (``models.work``). The worker (functions/worker) decides and acts.

A malformed event raises MalformedEventError (logged once, one line), so Lambda's retries and the
on-failure destination keep the original event. A configuration fault, a client's failure while
triaging (its own identity, a deployment's record, the outbox), or a queue that refuses the items,
publishes a FAILED status and raises: the event is retried, then dead-lettered as it came.

No idempotency record per event: the work queue's deduplication id (a hash of the event id and
the item) drops a duplicate delivery within SQS's 5-minute deduplication interval, and the worker's
decisions are idempotent beyond it (a service already remediated is COMPLIANT; registration is
exactly-once through the source revision's record).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from sidecar_enforcer.adapters.sqs import WorkQueue
from sidecar_enforcer.config import Settings
from sidecar_enforcer.domain.status import metric_name
from sidecar_enforcer.errors import (
    AwsError,
    ConfigurationError,
    EnforcementFailedError,
    MalformedEventError,
    MisconfiguredError,
)
from sidecar_enforcer.handler import Handler
from sidecar_enforcer.models.events import SCHEDULED, Trigger, parse_trigger
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.models.work import items_of
from sidecar_enforcer.router import Router
from sidecar_enforcer.wiring import build_router, build_work_queue

handler = Handler(Settings.from_env)

# The adapters (sidecar_enforcer.adapters.<name>) whose calls this function makes: the state table
# (a deployment's record, the outbox, the backfill runs), the caller identity (the loop guard), SNS
# (the outbox tick, FAILED statuses, a run's digest), SQS (the work queue, a run's next wave; the
# dead-letter queue for statuses SNS refuses for good), S3 (the report of a run the tick ends) and
# SSM and Organizations (the stop switch, which holds a run's waves; the rollout policy, when the
# tick finishes a reconciliation whose changes in the enforce scope it queues).
# template.yaml grants RouterFunction exactly their PERMISSIONS (tests/unit/test_permissions.py).
ADAPTERS = ("dynamodb", "identity", "org_units", "s3", "sns", "sqs", "switches")


@cache
def router() -> Router:
    return build_router(handler.settings(), handler.clients())


@cache
def work_queue() -> WorkQueue:
    queue = build_work_queue(handler.settings(), handler.clients())
    if queue is None:
        raise ConfigurationError("WORK_QUEUE_URL: not set: the router has no work queue to fill")
    return queue


@handler.instrumented(correlation_id_path=correlation_paths.EVENT_BRIDGE)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        trigger = parse_trigger(event)
    except MalformedEventError as exc:
        handler.logger.error("malformed event: %s", exc)
        handler.metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        raise
    try:
        if trigger.name == SCHEDULED:  # the outbox, the open runs: no item, nothing per service
            return result_of(trigger, [router().tick(trigger)], context.aws_request_id)
        early = router().ignored(trigger)  # asks for nothing: answered, nothing queued
        if early is not None:
            return result_of(trigger, [early], context.aws_request_id)
        queue = work_queue()
    except (ConfigurationError, MisconfiguredError) as exc:
        raise fault(trigger, f"configuration fault: {exc}", configuration=True) from None
    except AwsError as exc:  # the caller identity, a deployment's record, the outbox: read again on retry
        raise fault(trigger, f"event not triaged: {exc}") from None
    # Queueing it is what this function is for: a refusal says so.
    try:
        queued = queue.send(items_of(trigger))
    except MisconfiguredError as exc:
        raise fault(trigger, f"configuration fault: {exc}", configuration=True) from None
    except AwsError as exc:
        raise fault(trigger, f"event not queued: {exc}") from None
    handler.metrics.add_metric(name="Queued", unit=MetricUnit.Count, value=queued)
    return result_of(trigger, [], context.aws_request_id, queued=queued)


def fault(trigger: Trigger, reason: str, *, configuration: bool = False) -> EnforcementFailedError:
    """A configuration fault or a queue that refused the items: logged once, on one line, and
    published FAILED (``Handler.fault``); the event is retried, then dead-lettered as it came."""
    handler.logger.error("%s", reason)
    return handler.fault(trigger, reason, configuration=configuration)


def result_of(trigger: Trigger, findings: list[Finding], request_id: str, queued: int = 0) -> dict[str, Any]:
    """Metrics per status, then the result; a FAILED finding raises, so Lambda retries the event."""
    for finding in findings:
        handler.metrics.add_metric(name=metric_name(finding.status), unit=MetricUnit.Count, value=1)
    failed = [f for f in findings if f.status is Status.FAILED]
    if failed:
        raise EnforcementFailedError(
            f"{len(failed)} of {len(findings)} targets failed: {failed[0].reasons[0]}"
        )
    return {
        "eventId": trigger.event_id,
        "requestId": request_id,
        "queued": queued,
        "findings": [f.to_message() for f in findings],
    }
