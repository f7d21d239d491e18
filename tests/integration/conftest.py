"""Integration fixtures: moto in process, the demo fleet, the status topic with an SQS inbox, the
SQS FIFO work queue, and the real functions (functions/router/app.py, functions/worker/app.py)
loaded fresh per test and run by the local pipeline as Lambda runs them."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sidecar_enforcer.adapters.dynamodb import create_table
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.local import Pipeline, create_work_queue, load_function, subscribe_queue

from ..conftest import ROOT, assert_status_message

ACCOUNT = "123456789012"  # moto's default account
TABLE = "sidecar-enforcer-state"


@dataclass
class Aws:
    ecs: Any
    ec2: Any
    sns: Any
    sqs: Any
    sts: Any
    dynamodb: Any


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1, one per test module, for what crosses a real HTTP boundary."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        yield Aws(*(session.client(s) for s in ("ecs", "ec2", "sns", "sqs", "sts", "dynamodb")))


@pytest.fixture
def table(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    """The state table, as template.yaml declares it, named in STATE_TABLE_NAME."""
    create_table(aws.dynamodb, TABLE)
    monkeypatch.setenv("STATE_TABLE_NAME", TABLE)
    return TABLE


@pytest.fixture
def seeded(aws: Aws) -> fleet.Fleet:
    return fleet.seed(aws.ecs, aws.ec2, ACCOUNT, builtin_profiles()["jaeger"].container)


@dataclass
class Inbox:
    topic_arn: str
    queue_url: str
    sqs: Any

    def messages(self) -> list[dict[str, Any]]:
        """Every status message published so far, each checked against the schema: {"body": dict,
        "attributes": dict, "raw": str}."""
        found = []
        for m in self.messages_raw():
            body = json.loads(m["Body"])
            assert_status_message(body)
            found.append({"body": body, "attributes": m["attributes"], "raw": m["Body"]})
        return found

    def messages_raw(self) -> list[dict[str, Any]]:
        """Every message published so far, unchecked (a digest is no status): {"Body": str,
        "attributes": dict}."""
        found = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return found
            for m in batch:
                attrs = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
                found.append({"Body": m["Body"], "attributes": attrs})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def inbox(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Inbox:
    topic = aws.sns.create_topic(Name="sidecar-enforcer-status")["TopicArn"]
    queue = aws.sqs.create_queue(QueueName="status-inbox")["QueueUrl"]
    subscribe_queue(aws.sns, aws.sqs, topic, queue, raw=True)
    monkeypatch.setenv("STATUS_TOPIC_ARN", topic)
    return Inbox(topic, queue, aws.sqs)


@dataclass
class Functions:
    router: ModuleType
    worker: ModuleType


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Functions:
    for name, value in {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "SidecarEnforcer",
        "POWERTOOLS_SERVICE_NAME": "sidecar-enforcer",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    return Functions(load_function("router"), load_function("worker"))


@pytest.fixture
def work_queue(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> str:
    """The SQS FIFO work queue, as template.yaml declares it (one receive: the first failure is
    the test's), named in WORK_QUEUE_URL."""
    url = create_work_queue(aws.sqs)
    monkeypatch.setenv("WORK_QUEUE_URL", url)
    return url


@pytest.fixture
def pipeline(app: Functions, aws: Aws, work_queue: str) -> Pipeline:
    """The router, then the worker on what it queued, through the work queue."""
    return Pipeline(app.router, app.worker, aws.sqs, work_queue)


@pytest.fixture
def invoke(
    pipeline: Pipeline, inbox: Inbox, seeded: fleet.Fleet, table: str
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Run the real functions on an event (settings are read from the environment on first use)."""
    return pipeline.run


_deliveries = itertools.count(1)


def event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event from events/, optionally with requestParameters changed. Each call is
    another event (a fresh id, as EventBridge gives each): deliver the same dict twice to test a
    duplicate delivery."""
    data: dict[str, Any] = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    data["id"] = f"{data['id']}-{next(_deliveries)}"
    if changes:
        data["detail"]["requestParameters"].update(changes)
    return data
