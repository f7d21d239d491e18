"""Enforcer Lambda: an EventBridge event in, one finding per service (or task definition) out.

Thin by design: parse the event into a typed Trigger, hand it to the Enforcer built once per
container, emit metrics, return. A malformed event raises MalformedEventError (logged once, one
line) so Lambda's retry and on-failure destination keep the original event; a retryable AWS failure
raises EnforcementFailedError after its FAILED status is published.

With the state table, each EventBridge event is handled once (Powertools idempotency keyed on the
event's ``id``): a duplicate delivery returns the first result; a duplicate arriving while the first
is in flight raises IdempotencyAlreadyInProgressError and Lambda retries it later. A failed
invocation leaves no record, so its retry runs again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
from aws_lambda_powertools.utilities.typing import LambdaContext
from sidecar_enforcer.adapters.aws import Clients
from sidecar_enforcer.config import Settings
from sidecar_enforcer.errors import AwsError, ConfigurationError, EnforcementFailedError, MalformedEventError
from sidecar_enforcer.models.events import Trigger, parse_trigger
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.service import Enforcer
from sidecar_enforcer.wiring import build_enforcer, fault_publisher

logger = Logger()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"sidecar_enforcer"})
# The tracer logs every exception the handler raises with its traceback, tracing on or off. The
# handler's own errors are logged once, on one line, before they are raised (and Lambda records the
# failed invocation itself), so that second, multi-line copy is left out.
logging.getLogger("aws_lambda_powertools.tracing.tracer").setLevel(logging.CRITICAL)


def traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """X-Ray tracing of the invocation when tracing is on. Off (POWERTOOLS_TRACE_DISABLED), the
    tracer is not even imported: it imports the X-Ray SDK, about a third of the cold import."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return handler
    from aws_lambda_powertools import Tracer

    wrapped: Callable[..., Any] = Tracer().capture_lambda_handler(handler, capture_response=False)
    return wrapped


# What Powertools' idempotency store (in the state table) calls; the adapters declare theirs.
PERMISSIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")

# EventBridge retries a delivery for up to an hour (the rules' MaximumEventAgeInSeconds) and Lambda
# retries an asynchronous invocation for up to another hour: remember each event for three.
IDEMPOTENCY_SECONDS = 3 * 3600


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def clients() -> Clients:
    return Clients()


@cache
def enforcer() -> Enforcer:
    return build_enforcer(settings(), clients())


@cache
def once() -> tuple[DynamoDBPersistenceLayer, IdempotencyConfig] | None:
    table = settings().state_table_name
    if not table:
        return None
    store = DynamoDBPersistenceLayer(
        table_name=table, key_attr="pk", sort_key_attr="sk", boto3_client=clients().client("dynamodb")
    )
    return store, IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=IDEMPOTENCY_SECONDS)


@metrics.log_metrics
@traced
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        trigger = parse_trigger(event)
    except MalformedEventError as exc:
        logger.error("malformed event: %s", exc)
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        raise
    try:
        early = enforcer().ignored(trigger)  # asks for nothing: answered without recording the event
        if early is not None:
            return result_of(trigger, [early], context.aws_request_id)
        guard = once()
        if guard is None:
            return handle(trigger, context.aws_request_id)
        store, config = guard
        config.register_lambda_context(context)

        @idempotent_function(data_keyword_argument="event", persistence_store=store, config=config)  # type: ignore[untyped-decorator]
        def handle_once(event: dict[str, Any]) -> dict[str, Any]:
            return handle(trigger, context.aws_request_id)

        result: dict[str, Any] = handle_once(event=event)
        return result
    except (ConfigurationError, IdempotencyPersistenceLayerError) as exc:
        raise fault(trigger, exc) from None


# DynamoDB answers that mean the state table itself is wrong, not that it is busy for a moment.
MISCONFIGURED = {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}


def fault(trigger: Trigger, exc: Exception) -> EnforcementFailedError:
    """A configuration fault (invalid settings, a state table that does not exist or may not be
    used), or the idempotency store failing for a moment (throttled, timed out): one log line and a
    FAILED status, then the event is retried and finally dead-lettered as it came."""
    reason, configuration = str(exc), True
    if isinstance(exc, IdempotencyPersistenceLayerError):
        cause = exc.__cause__ or (exc.args[1] if len(exc.args) > 1 else None)
        code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause else None
        code = code or (type(cause).__name__ if cause else "no cause given")
        configuration = code in MISCONFIGURED
        table = os.environ.get("STATE_TABLE_NAME", "")
        reason = f"the state table {table!r} (STATE_TABLE_NAME) cannot record the event: {code}"
    if configuration:
        reason = f"configuration fault: {reason}"
        metrics.add_metric(name="ConfigurationFaults", unit=MetricUnit.Count, value=1)
    logger.error("%s", reason)
    finding = Finding(
        status=Status.FAILED,
        account=trigger.account,
        region=trigger.region,
        trigger=trigger.name,
        event_id=trigger.event_id,
        reasons=[reason],
    )
    publisher = fault_publisher(os.environ.get("STATUS_TOPIC_ARN", ""))
    if publisher is not None:
        try:
            publisher.publish(finding)
        except AwsError as failed:
            logger.error("FAILED status not published: %s", failed)
    return EnforcementFailedError(reason)


def handle(trigger: Trigger, request_id: str) -> dict[str, Any]:
    """The findings of one event. The result names the invocation that produced it (``requestId``):
    a duplicate delivery gets the stored result back, and an earlier request id tells it so."""
    return result_of(trigger, enforcer().handle(trigger), request_id)


def result_of(trigger: Trigger, findings: list[Finding], request_id: str) -> dict[str, Any]:
    """Metrics per status, then the result; a FAILED finding raises, so Lambda retries the event."""
    for finding in findings:
        metrics.add_metric(name=finding.status.value.title().replace("_", ""), unit=MetricUnit.Count, value=1)
    failed = [f for f in findings if f.status is Status.FAILED]
    if failed:
        raise EnforcementFailedError(
            f"{len(failed)} of {len(findings)} targets failed: {failed[0].reasons[0]}"
        )
    return {
        "eventId": trigger.event_id,
        "requestId": request_id,
        "findings": [f.to_message() for f in findings],
    }
