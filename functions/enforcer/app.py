"""Enforcer Lambda: an EventBridge event in, one finding per service (or task definition) out.

Thin by design: parse the event into a typed Trigger, hand it to the Enforcer built once per
container, emit metrics, return. A malformed event raises MalformedEventError (logged once, one
line) so Lambda's retry and on-failure destination keep the original event; a retryable AWS failure
raises EnforcementFailedError after its FAILED status is published.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from sidecar_enforcer.config import Settings
from sidecar_enforcer.errors import EnforcementFailedError, MalformedEventError
from sidecar_enforcer.models.events import parse_trigger
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.service import Enforcer
from sidecar_enforcer.wiring import build_enforcer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"sidecar_enforcer"})


@cache
def enforcer() -> Enforcer:
    return build_enforcer(Settings.from_env())


@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        trigger = parse_trigger(event)
    except MalformedEventError as exc:
        logger.error("malformed event: %s", exc)
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        raise
    findings = enforcer().handle(trigger)
    for finding in findings:
        metrics.add_metric(name=finding.status.value.title().replace("_", ""), unit=MetricUnit.Count, value=1)
    failed = [f for f in findings if f.status is Status.FAILED]
    if failed:
        raise EnforcementFailedError(
            f"{len(failed)} of {len(findings)} targets failed: {failed[0].reasons[0]}"
        )
    return {"eventId": trigger.event_id, "findings": [f.to_message() for f in findings]}
