"""Notifier Lambda: statuses from the notifier's SQS queue (subscribed to the status topic) to Slack
and to Amazon Q Developer in chat applications' chat topic.

Each record is one status (``usecases.notify``): rendered once, posted to the Slack webhook and
published to the chat topic, each when configured. A record whose delivery failed (Slack still
refusing after the SDK's retries, SNS or Secrets Manager failing) is reported in
``batchItemFailures`` (ReportBatchItemFailures on the event source): SQS hands it over again after
the queue's visibility timeout and, after maxReceiveCount receives, keeps it in the notifier's
dead-letter queue. The other records of the batch are done.

A record that holds no status (not JSON, no ``status``, another major schema version) is
malformed: retrying cannot fix it, so it is sent at once, intact, to the notifier's dead-letter
queue with the reason as an attribute (one log line), and not retried. If that send fails, the
record is reported failed and takes the queue's way to the same dead-letter queue: nothing is lost.

``process(records)`` is the whole of it without the Lambda decorations: the tests and the demo call
it as the Lambda does.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from sidecar_enforcer.adapters.aws import Clients
from sidecar_enforcer.config import NotifierSettings
from sidecar_enforcer.errors import EnforcerError, MalformedEventError
from sidecar_enforcer.usecases.notify import Outcome, parse_delivery
from sidecar_enforcer.wiring import NotifierParts, build_notifier, traced

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"sidecar_enforcer"})
# See functions/router/app.py: the handler's own errors are logged once, on one line.
logging.getLogger("aws_lambda_powertools.tracing.tracer").setLevel(logging.CRITICAL)

# The adapters (sidecar_enforcer.adapters.<name>) whose calls this function makes: the webhook's
# secret, Slack (no AWS call), SNS (the chat topic) and SQS (malformed records to the dead-letter
# queue). template.yaml grants NotifierFunction exactly their PERMISSIONS
# (tests/unit/test_permissions.py); the queue poller's own permissions come with the event source.
ADAPTERS = ("secretsmanager", "slack", "sns", "sqs")

MALFORMED = "sidecar-enforcer notifier record"


@cache
def settings() -> NotifierSettings:
    return NotifierSettings.from_env()


@cache
def clients() -> Clients:
    return Clients()


@cache
def parts() -> NotifierParts:
    return build_notifier(settings(), clients())


@metrics.log_metrics
@traced
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _, failures = process(event.get("Records") or [])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def process(records: list[dict[str, Any]]) -> tuple[list[Outcome], dict[str, str]]:
    """What was delivered, and the records that failed (message id -> why, one line each)."""
    outcomes: list[Outcome] = []
    failures: dict[str, str] = {}
    for record in records:
        message_id = str(record.get("messageId", ""))
        body = record.get("body")
        try:
            delivery = parse_delivery(body, record.get("eventSourceARN"))
        except MalformedEventError as exc:
            metrics.add_metric(name="MalformedNotifications", unit=MetricUnit.Count, value=1)
            logger.error("record %s dead-lettered: %s", message_id, exc)
            try:
                dead_letter(str(body or ""), str(exc))
            except Exception as failed:  # the queue's own redrive takes it there instead
                failures[message_id] = f"{exc}; not dead-lettered: {_one_line(failed)}"
            continue
        try:
            outcome = parts().notify(delivery)
        except Exception as exc:  # any failure fails the record, never the whole batch
            reason = _one_line(exc)
            metrics.add_metric(name="NotificationsFailed", unit=MetricUnit.Count, value=1)
            logger.error("record %s not delivered: %s", message_id, reason)
            failures[message_id] = reason
            continue
        outcomes.append(outcome)
        metrics.add_metric(name="NotificationsDelivered", unit=MetricUnit.Count, value=1)
    return outcomes, failures


def dead_letter(body: str, reason: str) -> None:
    queue = parts().dead_letters
    if queue is None:
        raise MalformedEventError("NOTIFIER_DEAD_LETTER_QUEUE_URL: not set")
    queue.send_body(body, reason, MALFORMED)


def _one_line(exc: BaseException) -> str:
    """Our errors' one-line messages; any other error by its type only (a library's message may
    quote a URL or a request)."""
    return str(exc) if isinstance(exc, EnforcerError) else type(exc).__name__
