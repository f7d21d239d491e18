"""Worker Lambda: a batch of work items from the SQS FIFO work queue, one use case per item.

Each record's body is a work item (``models.work``) with one target. A cluster item is fanned out:
the cluster's services are listed and one service item per service is queued (in the service's
message group, so it is ordered with that service's other items), so no invocation's work grows
with the size of a cluster. Any other item is enforced: ``Enforcer.handle`` describes, decides,
acts and publishes its finding.

A record fails when its item is malformed or its finding is FAILED. It is reported in
``batchItemFailures`` (ReportBatchItemFailures on the event source mapping), together with the later
records of the same message group, which keeps each service's items in order; other groups' records
go on. A failed item comes back after the queue's
visibility timeout; after the redrive policy's maxReceiveCount receives, SQS moves it, intact, to the
FIFO work dead-letter queue.

``process(records)`` is the whole of it, without the Lambda decorations: ``lambda_handler`` and
the local pipeline (``sidecar-enforcer invoke``, the demo, the tests) both call it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from sidecar_enforcer.config import Settings
from sidecar_enforcer.domain.status import PER_ACCOUNT, metric_name
from sidecar_enforcer.enforcer import Enforcer
from sidecar_enforcer.errors import (
    AwsError,
    ConfigurationError,
    EnforcerError,
    MalformedEventError,
    NotFoundError,
)
from sidecar_enforcer.handler import Handler
from sidecar_enforcer.models.events import ClusterTarget
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.models.work import WorkItem, parse_item
from sidecar_enforcer.wiring import build_enforcer

handler = Handler(Settings.from_env)
per_account = EphemeralMetrics()  # its own metric set: see count

# The adapters (sidecar_enforcer.adapters.<name>) whose calls this function makes: all of them.
# template.yaml grants WorkerFunction exactly their PERMISSIONS (tests/unit/test_permissions.py);
# the queue poller's own permissions come with the SQS event source. "member" is sts:AssumeRole
# on the member role (MEMBER_ROLE_NAME) of every other account.
ADAPTERS = (
    "dynamodb",
    "ecs",
    "iam",
    "identity",
    "member",
    "org_units",
    "profiles",
    "s3",
    "sns",
    "sqs",
    "switches",
)
# The adapters whose calls it makes in a member account, as the member role: the member role must
# allow exactly their PERMISSIONS (the state table, the topic and the queues stay the hub's).
MEMBER_ADAPTERS = ("ecs", "iam")

KEPT_BACK = "an earlier item of its message group failed: kept back to keep the group's order"


@cache
def enforcer() -> Enforcer:
    return build_enforcer(handler.settings(), handler.clients())


@handler.instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _, failures = process(event.get("Records") or [])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def process(records: list[dict[str, Any]]) -> tuple[list[Finding], dict[str, str]]:
    """The findings of a batch of SQS records, and the records that failed (message id -> why, one
    line each), in the order Lambda delivered them.

    A record that fails holds back the later records of its own message group (they are reported
    failed too, unprocessed), which keeps each service's items in order; other groups' records go
    on (AWS Lambda developer guide, "Handling errors for an SQS event source": with a FIFO queue,
    a failed message and the ones after it in its group are returned in batchItemFailures). This is
    what Powertools' SqsFifoPartialProcessor(skip_group_on_error=True) does; importing it imports
    every model of Powertools' parser package (Kafka, Kinesis, DynamoDB streams...), about 70 ms
    of each cold start for this loop."""
    findings: list[Finding] = []
    failures: dict[str, str] = {}
    held: set[str | None] = set()  # message groups with a failed record in this batch
    for record in records:
        message_id = str(record.get("messageId", ""))
        group = (record.get("attributes") or {}).get("MessageGroupId")
        if group in held:
            failures[message_id] = KEPT_BACK
            continue
        try:
            found = work(parse_item(record.get("body")))
        except Exception as exc:  # any failure fails the record, never the whole batch
            reason = str(exc) if isinstance(exc, EnforcerError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, MalformedEventError):
                handler.metrics.add_metric(name="MalformedItems", unit=MetricUnit.Count, value=1)
            handler.logger.error("work item %s failed: %s", message_id, reason)
            failures[message_id] = reason
            held.add(group)
            continue
        findings.extend(found)
        for finding in found:
            count(finding)
        failed = [f for f in found if f.status is Status.FAILED]
        if failed:  # logged (at ERROR) and published by the enforcer already
            failures[message_id] = f"{len(failed)} of {len(found)} targets failed: {failed[0].reasons[0]}"
            held.add(group)
    return findings, failures


def count(finding: Finding) -> None:
    """The status's stack-wide count (the alarms watch it) and, for the outcomes a person follows
    per account, a count with the account as a dimension too (the dashboard's per-account widgets).
    That one is flushed at once, one EMF line per finding: an EMF line holds one value per dimension,
    and one batch may hold several accounts. Like every metric it honours POWERTOOLS_METRICS_DISABLED
    (``sidecar-enforcer invoke`` keeps stdout for its result)."""
    name = metric_name(finding.status)
    handler.metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if finding.status in PER_ACCOUNT and finding.account:
        per_account.add_dimension(name="account", value=finding.account)
        per_account.add_metric(name=name, unit=MetricUnit.Count, value=1)
        per_account.flush_metrics()
        per_account.clear_metrics()  # flush clears only what it printed: nothing when disabled


def work(item: WorkItem) -> list[Finding]:
    """One item's findings. Raises EnforcementFailedError when the item could not be worked on."""
    try:
        if isinstance(item.target, ClusterTarget):
            return fan_out(item, item.target)
        return enforcer().handle(item.trigger, run=item.run)  # a backfill run's: kept in the run
    except ConfigurationError as exc:
        cluster = item.target.cluster if isinstance(item.target, ClusterTarget) else None
        reason = f"configuration fault: {exc}"
        raise handler.fault(item.trigger, reason, configuration=True, cluster=cluster) from None


def fan_out(item: WorkItem, target: ClusterTarget) -> list[Finding]:
    """Queue one service item per service of the cluster, listed in the item's account (a member
    account's through its member role); no finding of its own (each service's item makes one). A
    cluster that does not exist goes to ``Enforcer.handle``, which says so (SKIPPED); a member role
    that cannot be assumed fails the item (FAILED, retried, then dead-lettered)."""
    try:
        queued = enforcer().fan_out(item)
    except NotFoundError:
        return enforcer().handle(item.trigger)
    except AwsError as exc:
        reason = f"the services of cluster {target.cluster} not queued: {exc}"
        raise handler.fault(item.trigger, reason, cluster=target.cluster) from None
    if queued is None:
        return enforcer().handle(item.trigger)
    handler.metrics.add_metric(name="QueuedFromClusters", unit=MetricUnit.Count, value=queued)
    handler.logger.info("cluster %s: %d service item(s) queued", target.cluster, queued)
    return []
