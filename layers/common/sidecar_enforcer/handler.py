"""What every function's handler module sets up once per execution environment: Powertools' Logger
and Metrics, the settings and clients (read and built at the first invocation that asks, never at
import, so that moto's mock starts before any client exists), the decorators of ``lambda_handler``,
and the FAILED status of a fault met before a use case could publish one.

The layer's loggers write through the handler's (JSON, with the invocation's keys). The tracer logs
every exception a handler raises with its traceback, tracing on or off; the handlers log their own
errors once, on one line, before they raise them (and Lambda records the failed invocation itself),
so that second, multi-line copy is left out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cache
from typing import Any, Generic, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from .adapters.aws import Clients
from .adapters.sns import StatusPublisher
from .errors import AwsError, EnforcementFailedError
from .models.events import Trigger
from .models.findings import Finding, Status

S = TypeVar("S")
LambdaHandler = Callable[..., Any]

log = logging.getLogger(__name__)


class Handler(Generic[S]):
    """One function's execution environment: its logger, its metrics, and its settings and clients,
    each made once (``settings()`` and ``clients()`` are cached)."""

    def __init__(self, settings: Callable[[], S], *, aws_config: Config | None = None) -> None:
        self.logger = Logger()
        self.metrics = Metrics()
        copy_config_to_registered_loggers(source_logger=self.logger, include={"sidecar_enforcer"})
        logging.getLogger("aws_lambda_powertools.tracing.tracer").setLevel(logging.CRITICAL)
        self.settings: Callable[[], S] = cache(settings)
        self.clients: Callable[[], Clients] = cache(lambda: Clients(config=aws_config))

    def instrumented(
        self, *, correlation_id_path: str | None = None
    ) -> Callable[[LambdaHandler], LambdaHandler]:
        """A queue's or a rule's ``lambda_handler``: its metrics flushed after each invocation, traced
        when tracing is on, its logs keyed by the invocation (the event itself is not logged)."""

        def decorate(handler: LambdaHandler) -> LambdaHandler:
            in_context = self.logger.inject_lambda_context(
                handler, correlation_id_path=correlation_id_path, log_event=False
            )
            return self.metrics.log_metrics(_traced(in_context))

        return decorate

    def fault(
        self, trigger: Trigger, reason: str, *, configuration: bool = False, cluster: str | None = None
    ) -> EnforcementFailedError:
        """A fault met before a use case could publish a finding (invalid settings, a state table or
        queue that does not exist or may not be used, a queue that refused the items, a cluster whose
        services could not be queued): a FAILED status, and the error the handler raises so that the
        event or record is retried and finally dead-lettered as it came."""
        if configuration:
            self.metrics.add_metric(name="ConfigurationFaults", unit=MetricUnit.Count, value=1)
        finding = Finding(
            status=Status.FAILED,
            account=trigger.account,
            region=trigger.region,
            trigger=trigger.name,
            event_id=trigger.event_id,
            cluster=cluster,
            reasons=[reason],
        )
        _publish(finding)
        return EnforcementFailedError(reason)


def _publish(finding: Finding) -> None:
    """Publish the FAILED status of a fault the handler met before it had an Enforcer or a Router
    (invalid settings, a missing table or queue), best effort: to the raw STATUS_TOPIC_ARN, even
    when the other settings are invalid; nothing when it is no SNS ARN or SNS refuses (logged)."""
    topic_arn = os.environ.get("STATUS_TOPIC_ARN", "")
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
        return
    try:
        StatusPublisher(Clients().client("sns", parts[3]), topic_arn).publish(finding)
    except AwsError as failed:
        log.error("FAILED status not published: %s", failed)


def _traced(handler: LambdaHandler) -> LambdaHandler:
    """X-Ray tracing of a handler's invocation when tracing is on. Off (POWERTOOLS_TRACE_DISABLED),
    the tracer is not even imported: it imports the X-Ray SDK, about a third of the cold import."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return handler
    from aws_lambda_powertools import Tracer

    wrapped: LambdaHandler = Tracer().capture_lambda_handler(handler, capture_response=False)
    return wrapped
