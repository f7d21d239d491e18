"""Integration fixtures: moto in process, the demo fleet, the status topic with an SQS inbox, the
SQS FIFO work queue, and the real functions (functions/router/app.py, functions/worker/app.py)
loaded fresh per test and run by the local pipeline as Lambda runs them; for the backfill
function's tests, the report bucket, a fleet of two clusters to change in waves, and ECS's rollouts
played to their end."""

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
from sidecar_enforcer.adapters.dynamodb import StateTable, create_table
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.work import parse_item
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet, rollouts
from sidecar_enforcer_dev.local import (
    Pipeline,
    create_work_queue,
    lambda_context,
    load_function,
    subscribe_queue,
)

from ..conftest import ROOT, assert_status_message

ACCOUNT = "123456789012"  # moto's default account
TABLE = "sidecar-enforcer-state"
MEMBER = "222222222222"  # a member account of the organisation (test_cross_account, test_backfill)
BUCKET = "sidecar-enforcer-reports"
DIGEST_SCHEMA = json.loads((ROOT / "schemas" / "digest-v1.json").read_text(encoding="utf-8"))
CLUSTERS = ("wave-a", "wave-b")
PER_CLUSTER = 6
WAVES = {"first": 2, "growth": 2, "perCluster": 3}


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
        found: list[dict[str, Any]] = []
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


def clients_in(aws: Aws, account: str, region: str) -> Any:
    """A boto3 session acting in ``account`` (a setup role there: not the enforcer's member role)."""
    credentials = aws.sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/setup", RoleSessionName="setup")[
        "Credentials"
    ]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


# -- the backfill function's runs (test_backfill_function, test_backfill_waves, test_rollout) ----------


@pytest.fixture
def bucket(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("REPORT_BUCKET", BUCKET)
    return s3


@pytest.fixture
def backfill(app: Functions) -> Any:
    return load_function("backfill")


def stored_report(bucket: Any, run_id: str) -> dict[str, Any]:
    """The JSON report a run wrote to the report bucket."""
    found: dict[str, Any] = json.loads(
        bucket.get_object(Bucket=BUCKET, Key=f"backfill/{run_id}/report.json")["Body"].read()
    )
    return found


@pytest.fixture
def waves_fleet(aws: Aws, seeded: fleet.Fleet, table: str, inbox: Inbox, bucket: Any) -> dict[str, str]:
    """Two clusters opted in by their tag, six services each on a revision without the sidecar (12
    NONCOMPLIANT), their own deployments ended; moto's UpdateService starts a deployment IN_PROGRESS,
    as ECS does. The services' task definitions, by cluster/service."""
    rollouts.install()
    nexus = aws.ecs.describe_services(cluster=fleet.CLUSTER, services=["nexus-ai-api-prod"])["services"][0]
    for cluster in CLUSTERS:
        aws.ecs.create_cluster(clusterName=cluster, tags=[{"key": "tracing-sidecar", "value": "jaeger"}])
        for n in range(PER_CLUSTER):
            aws.ecs.create_service(
                cluster=cluster,
                serviceName=f"app-{n}",
                taskDefinition=nexus["taskDefinition"],
                desiredCount=1,
                launchType="FARGATE",
                networkConfiguration=nexus["networkConfiguration"],
            )
    rollouts.settle(ACCOUNT, "us-east-1")  # the services' own first deployments: done before the run
    return running(aws)


def services(aws: Aws) -> Iterator[tuple[str, dict[str, Any]]]:
    """The two clusters' services as ECS describes them, by cluster/service."""
    for cluster in CLUSTERS:
        arns = aws.ecs.list_services(cluster=cluster)["serviceArns"]
        for svc in aws.ecs.describe_services(cluster=cluster, services=arns)["services"]:
            yield f"{cluster}/{svc['serviceName']}", svc


def running(aws: Aws) -> dict[str, str]:
    return {name: svc["taskDefinition"] for name, svc in services(aws)}


def in_flight(aws: Aws) -> set[str]:
    """The services with a deployment IN_PROGRESS."""
    return {
        name
        for name, svc in services(aws)
        if any(d.get("rolloutState") == "IN_PROGRESS" for d in svc["deployments"])
    }


def ended_event(aws: Aws, name: str) -> dict[str, Any]:
    """The "ECS Deployment State Change" event of the service's PRIMARY deployment, once it ended."""
    cluster, service = name.split("/")
    svc = aws.ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    primary = next(d for d in svc["deployments"] if d["status"] == "PRIMARY")
    data = event("ecs-deployment-in-progress.json")
    data["resources"] = [svc["serviceArn"]]
    data["detail"].update(
        {
            "eventName": f"SERVICE_DEPLOYMENT_{primary['rolloutState']}",
            "deploymentId": primary["id"],
            "reason": primary.get("rolloutStateReason", ""),
        }
    )
    return data


def ledger(aws: Aws, table: str) -> Ledger:
    return Ledger(StateTable(aws.dynamodb, table))


def waves_of(aws: Aws, table: str, run_id: str, number: int) -> list[str]:
    """A wave's work items, as the plan the run's document names kept them."""
    runs = ledger(aws, table)
    doc = runs.run(run_id)
    assert doc is not None
    return runs.run_wave(run_id, doc.plan, number)


def wave_services(aws: Aws, table: str, run_id: str, number: int) -> set[str]:
    return {
        "/".join(parse_item(body).key.split(":service/")[1].split("/"))
        for body in waves_of(aws, table, run_id, number)
    }


def start(backfill: Any, run_id: str, **payload: Any) -> dict[str, Any]:
    request = {"mode": "enforce", "runId": run_id, "clusters": list(CLUSTERS), **WAVES, **payload}
    answer: dict[str, Any] = backfill.lambda_handler(request, lambda_context("backfill"))
    return answer


def play(aws: Aws, pipeline: Pipeline, fails: Callable[[str], bool] = lambda name: False) -> list[str]:
    """ECS ends every deployment in progress; EventBridge delivers each one's event to the router."""
    ended = rollouts.settle(ACCOUNT, "us-east-1", fails)
    for name in ended:
        pipeline.run(ended_event(aws, name))
    return ended
