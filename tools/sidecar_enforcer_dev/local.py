"""The Lambda functions run locally: the router and the worker imported from the checkout as Lambda
would, a context like Lambda's, the names of the enforcer's own resources on a local endpoint, and
the pipeline that plays the Lambda service between them (``Pipeline``): the router on an event, then
the worker on what it queued, through a real SQS FIFO queue on the endpoint; and a stand-in for a
Slack incoming webhook on 127.0.0.1 (``SlackStandIn``) for the notifier. Shared by the command line,
the demo, the bench and the tests.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from sidecar_enforcer.adapters import aws
from sidecar_enforcer.errors import EnforcementFailedError, EnforcerError

LOCAL_TOPIC = "sidecar-enforcer-status"
LOCAL_TABLE = "sidecar-enforcer-state"
LOCAL_QUEUE = "sidecar-enforcer-work.fifo"
LOCAL_DEAD_LETTERS = "sidecar-enforcer-work-dead-letters.fifo"
# How often an item is handed to the worker before the queue dead-letters it. template.yaml's
# queue allows 5 receives, each after a visibility timeout of 12 minutes; a person at a terminal
# wants the first failure (pass max_receives to create_work_queue for Lambda's retries).
LOCAL_MAX_RECEIVES = 1
FUNCTIONS = ("router", "worker", "backfill", "notifier")


class UsageError(EnforcerError):
    """Exit 2 with one line."""


def project_root() -> Path:
    """The checkout this package is installed from (editable install): functions/ and events/ live there."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if all((parent / "functions" / name / "app.py").is_file() for name in FUNCTIONS):
            return parent
    raise UsageError(
        "functions/router/app.py and functions/worker/app.py not found: run from a checkout of "
        "sidecar-enforcer (pip install -e .)"
    )


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as Lambda would (a fresh module: a new execution environment),
    with Powertools set up for a terminal: no X-Ray daemon, no metrics on stdout, logs on stderr
    (stdout carries the result)."""
    if name not in FUNCTIONS:
        raise UsageError(f"no function {name!r} (known: {', '.join(FUNCTIONS)})")
    for variable, value in {
        "POWERTOOLS_SERVICE_NAME": "sidecar-enforcer",
        "POWERTOOLS_METRICS_NAMESPACE": "SidecarEnforcer",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        os.environ.setdefault(variable, value)
    path = project_root() / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"sidecar_enforcer_function_{name}", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for logger in (module.handler.logger.name, "sidecar_enforcer"):
        for handler in logging.getLogger(logger).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
    return module


def lambda_context(function_name: str = "sidecar-enforcer-local") -> Any:
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        memory_limit_in_mb=256,
        aws_request_id=str(uuid.uuid4()),  # one per call, as Lambda gives each invocation
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 120_000,
    )


def create_work_queue(
    sqs: Any, name: str = LOCAL_QUEUE, max_receives: int = LOCAL_MAX_RECEIVES, dead_letters: str | None = None
) -> str:
    """The work queue as template.yaml declares it (FIFO, deduplication ids from the items, a FIFO
    dead-letter queue after ``max_receives`` receives); its URL. Creating it again is harmless."""
    dlq_name = dead_letters or name.removesuffix(".fifo") + "-dead-letters.fifo"
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "false"}
    dlq = sqs.create_queue(QueueName=dlq_name, Attributes={**fifo, "MessageRetentionPeriod": "1209600"})
    dlq_arn = queue_arn(sqs, dlq["QueueUrl"])
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})
    queue = sqs.create_queue(
        QueueName=name, Attributes={**fifo, "VisibilityTimeout": "720", "RedrivePolicy": redrive}
    )
    return str(queue["QueueUrl"])


def queue_arn(sqs: Any, queue: str) -> str:
    """An SQS queue's ARN, from its URL."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def subscribe_queue(
    sns: Any, sqs: Any, topic: str, queue: str, *, raw: bool, filter_policy: dict[str, Any] | None = None
) -> None:
    """Subscribe an SQS queue to an SNS topic: ``raw`` delivers the message alone, else SNS's
    envelope with the message attributes (as template.yaml's notifier queues have it)."""
    attributes = {"RawMessageDelivery": "true" if raw else "false"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = json.dumps(filter_policy)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, queue), Attributes=attributes)


@dataclass
class Drained:
    """What the worker did with the items it received."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0  # items the worker received (a cluster's service items included; retries not)
    failed: list[str] = field(default_factory=list)  # why each item given up on failed


class Pipeline:
    """The Lambda service between the two functions, played locally: ``run(event)`` invokes the
    router on the event, then hands what is on the work queue to the worker's ``process``, ten
    records at a time like the SQS event source, until the queue is empty (a cluster item queues
    service items). A failed record is made visible again at once (Lambda waits for the visibility
    timeout) and handed over again until the queue's redrive policy takes it to the dead-letter
    queue. ReceiveMessage, DeleteMessage and ChangeMessageVisibility are the Lambda service's calls,
    not the functions': they go through ``sqs`` (by default a client of its own)."""

    def __init__(
        self,
        router: ModuleType | None = None,
        worker: ModuleType | None = None,
        sqs: Any = None,
        queue_url: str | None = None,
    ) -> None:
        self.queue_url = queue_url or os.environ.get("WORK_QUEUE_URL", "")
        self.router = router or load_function("router")
        self.worker = worker or load_function("worker")
        self.sqs: Any = sqs or aws.Clients().client("sqs")
        self._attributes: dict[str, str] | None = None

    @property
    def max_receives(self) -> int | None:
        """The redrive policy's maxReceiveCount; None when the queue has none."""
        if self._attributes is None:
            self._attributes = self.sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["QueueArn", "RedrivePolicy"]
            )["Attributes"]
        policy = self._attributes.get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None

    def run(self, event: Any) -> dict[str, Any]:
        """The combined result: the router's findings (events that ask for nothing) first, then the
        worker's; ``queued`` as the router counted them, ``delivered`` as the worker received them.
        Raises what the router raises, and EnforcementFailedError when an item failed for good."""
        result: dict[str, Any] = self.router.lambda_handler(event, lambda_context("sidecar-enforcer-router"))
        drained = self.drain()
        combined = {
            "eventId": result["eventId"],
            "requestId": result["requestId"],
            "queued": result["queued"],
            "delivered": drained.delivered,
            "findings": [*result["findings"], *drained.findings],
        }
        if drained.failed:
            first = drained.failed[0]
            many = len(drained.failed)
            raise EnforcementFailedError(
                first if many == 1 else f"{many} of {drained.delivered} work items failed; the first: {first}"
            )
        return combined

    def drain(self) -> Drained:
        if not self.queue_url:
            raise UsageError(
                "WORK_QUEUE_URL is not set: `sidecar-enforcer local-env` creates the work queue and prints it"
            )
        drained = Drained()
        seen: set[str] = set()
        self.max_receives  # noqa: B018 - reads the queue's ARN and redrive policy once
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,  # the SQS event source's BatchSize for a FIFO queue
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                return drained
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
                found, failures = self.worker.process([self._record(m) for m in messages])
                self.worker.handler.metrics.flush_metrics()
            drained.findings.extend(f.to_message() for f in found)
            for message in messages:
                if message["MessageId"] not in seen:
                    seen.add(message["MessageId"])
                    drained.delivered += 1
                self._settle(message, failures.get(message["MessageId"]), drained)

    def _settle(self, message: dict[str, Any], failure: str | None, drained: Drained) -> None:
        handle = message["ReceiptHandle"]
        if failure is None:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=handle)
            return
        limit = self.max_receives
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if limit is None:  # no redrive policy: SQS would hand it over forever; give up at once
            drained.failed.append(failure)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=handle)
            return
        if receives >= limit:
            drained.failed.append(failure)  # the next receive moves it to the dead-letter queue
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """A received message as the SQS event source hands it to Lambda."""
        arn = self._attributes.get("QueueArn", "") if self._attributes else ""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": arn.split(":")[3] if arn.count(":") >= 5 else "",
        }


@dataclass(frozen=True)
class Post:
    """One request the Slack stand-in received: when, its JSON body, and the answer it got."""

    at: float  # time.monotonic()
    payload: dict[str, Any]
    status: int


class SlackStandIn:
    """A Slack incoming webhook on 127.0.0.1 (http.server in a thread): each POST is recorded and
    answered with the next scripted answer (status, headers, body), then 200 "ok" as Slack answers
    a message it took. ``url`` is the webhook's URL. Use it as a context manager."""

    def __init__(self, answers: list[tuple[int, dict[str, str], str]] | None = None) -> None:
        self.posts: list[Post] = []
        self._answers = list(answers or [])
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with stand_in._lock:
                    status, headers, body = stand_in._answers.pop(0) if stand_in._answers else (200, {}, "ok")
                    try:
                        payload = json.loads(raw)
                    except ValueError:
                        payload = {"unreadable": raw.decode("utf-8", "replace")}
                    stand_in.posts.append(Post(time.monotonic(), payload, status))
                data = body.encode()
                self.send_response(status)
                for name, value in {"Content-Type": "text/plain", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per request
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/services/T000/B000/stand-in"

    def delivered(self) -> list[dict[str, Any]]:
        """The payloads Slack would have shown (those answered 200)."""
        return [post.payload for post in self.posts if post.status == 200]

    def __enter__(self) -> SlackStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
