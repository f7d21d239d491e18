"""Notifier Lambda: statuses from the notifier's SQS queues (subscribed to the status topic) to Slack
and to Amazon Q Developer in chat applications' chat topic.

Each record is one status, delivered by ``usecases.notify.NotifyBatch``: what is retried (Slack's
429, 5xx and connection errors, within the invocation's time), what goes to the dead-letter queue at
once (a permanent refusal, a record that holds no status), and what is put back for the sinks that
lack it, is decided there. This handler wires it: the records from the event, the time left from
Lambda's context, and ``batchItemFailures`` (ReportBatchItemFailures on the event sources) from the
records that failed for now: SQS hands them over again, and after maxReceiveCount receives keeps
them in the notifier's dead-letter queue. The other records of the batch are done.

``process(records, context)`` is the whole of it without the Lambda decorations: the tests and the
demo call it as the Lambda does.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from sidecar_enforcer.adapters.aws import USER_AGENT
from sidecar_enforcer.adapters.notifier_queues import DELIVERED
from sidecar_enforcer.config import NotifierSettings
from sidecar_enforcer.handler import Handler
from sidecar_enforcer.usecases.notify import BatchResult, NotifyBatch, Record
from sidecar_enforcer.wiring import build_notifier

# The adapters (sidecar_enforcer.adapters.<name>) whose calls this function makes: the webhook's
# secret, Slack (no AWS call), SNS (the chat topic), SQS (records to the dead-letter queue) and the
# notifier's own queues (a throttled record's return put off, a record put back). template.yaml
# grants NotifierFunction exactly their PERMISSIONS (tests/unit/test_permissions.py); the queue
# poller's own permissions come with the event source.
ADAPTERS = ("secretsmanager", "slack", "sns", "sqs", "notifier_queues")


# The AWS calls stay within the invocation's time too: the chat topic's publish (and the webhook's
# secret) is given the time of one Slack post (usecases.notify counts it before the call), so one
# call may take at most slack.TIMEOUT_SECONDS: one attempt, waiting at most its connect and read
# timeouts (a retry could wait its backoff and an x-amz-retry-after of up to 5 s more:
# botocore.retries.standard). A call that fails fails its record for now, and SQS hands it over
# again; SNS, SQS and Secrets Manager answer in milliseconds.
AWS_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    user_agent_extra=USER_AGENT,
    connect_timeout=2,
    read_timeout=5,
)

handler = Handler(NotifierSettings.from_env, aws_config=AWS_CONFIG)


@cache
def parts() -> NotifyBatch:
    return build_notifier(handler.settings(), handler.clients())


class InvocationDeadline:
    """The time left in this invocation (Lambda's context), and a wait."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def remaining(self) -> float:
        return float(self._context.get_remaining_time_in_millis()) / 1000

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@handler.instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = process(event.get("Records") or [], context)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in result.failures]}


def process(records: list[dict[str, Any]], context: Any) -> BatchResult:
    """What was delivered, refused, dead-lettered and failed, for the records of one batch."""
    result = parts()([record_of(r) for r in records], InvocationDeadline(context))
    for name, count in (
        ("NotificationsDelivered", len(result.outcomes) + len(result.requeued)),
        ("NotificationsFailed", len(result.failures)),
        ("NotificationsRefused", len(result.refused)),
        ("MalformedNotifications", len(result.malformed)),
    ):
        if count:
            handler.metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
    return result


def record_of(record: dict[str, Any]) -> Record:
    """An SQS record of the event (the event source mapping's shape: messageAttributes with
    stringValue) as the use case takes it."""
    attributes = record.get("messageAttributes")
    found = attributes.get(DELIVERED) if isinstance(attributes, dict) else None
    delivered = str(found.get("stringValue") or "") if isinstance(found, dict) else ""
    body = record.get("body")
    return Record(
        message_id=str(record.get("messageId", "")),
        body=body if isinstance(body, str) else None,
        queue_arn=str(record["eventSourceARN"]) if record.get("eventSourceARN") else None,
        receipt_handle=str(record["receiptHandle"]) if record.get("receiptHandle") else None,
        delivered=frozenset(part for part in delivered.split(",") if part),
    )
