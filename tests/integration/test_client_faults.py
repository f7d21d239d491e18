"""Over HTTP: the worker against moto's server behind a stub that answers one action as a broken
endpoint would (a load balancer's HTML 500, an HTML page with 200, no answer in time) and forwards
everything else unchanged. Each ends as one FAILED status, published, and the work item failed (SQS
brings it back, then dead-letters it): never an unreported failure, never a traceback."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config
from sidecar_enforcer.adapters.aws import Clients
from sidecar_enforcer.adapters.dynamodb import create_table
from sidecar_enforcer.models.events import ServiceTarget, Trigger
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.models.work import items_of
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.local import load_function, subscribe_queue

pytestmark = pytest.mark.server

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
PAGE = b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body><h1>Something broke</h1></body></html>"
# The Lambda's clients retry patiently (adaptive, 10 attempts, 30 s read timeout); these give up fast.
FAST = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=1)
NOT_AN_API_ANSWER = "(an answer that is not an AWS API response)"


class Stub:
    """An HTTP server in front of moto's: ``faults`` maps an action (the X-Amz-Target's operation, or
    a query protocol's Action) to how it is answered: ``html500``, ``html200``, ``empty200`` (``{}``
    as an API's JSON) or ``hang`` (no answer for longer than the client waits)."""

    def __init__(self, upstream: str) -> None:
        self.faults: dict[str, str] = {}
        target = urlsplit(upstream)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                action = action or parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
                fault = stub.faults.get(action)
                if fault == "hang":
                    time.sleep(3)
                    self.close_connection = True
                    return
                if fault == "empty200":  # an API's content type, an answer with nothing in it
                    self._answer(200, {"Content-Type": "application/x-amz-json-1.1"}, b"{}")
                    return
                if fault is not None:
                    self._answer(500 if fault == "html500" else 200, {"Content-Type": "text/html"}, PAGE)
                    return
                upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request("POST", self.path, body, headers)
                answer = upstream.getresponse()
                data = answer.read()
                kept = {
                    k: v
                    for k, v in answer.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection")
                }
                upstream.close()
                self._answer(answer.status, kept | {"Content-Length": str(len(data))}, data)

            def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stub(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))  # noqa: S310
    found = Stub(endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", found.url)
    yield found
    found.close()


@pytest.fixture
def moto(endpoint: str, stub: Stub, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The fleet, the state table and the status topic (with a queue to read it) on moto's server,
    set up past the stub; the functions' settings name them."""
    session = boto3.session.Session(region_name=REGION)
    aws: dict[str, Any] = {
        s: session.client(s, endpoint_url=endpoint) for s in ("ecs", "ec2", "sns", "sqs", "dynamodb")
    }
    fleet.seed(aws["ecs"], aws["ec2"], ACCOUNT, builtin_profiles()["jaeger"].container)
    create_table(aws["dynamodb"], "state")
    topic = aws["sns"].create_topic(Name="status")["TopicArn"]
    inbox = aws["sqs"].create_queue(QueueName="inbox")["QueueUrl"]
    subscribe_queue(aws["sns"], aws["sqs"], topic, inbox, raw=True)
    for name, value in {"STATE_TABLE_NAME": "state", "STATUS_TOPIC_ARN": topic}.items():
        monkeypatch.setenv(name, value)
    return aws | {"inbox": inbox}


def published(aws: dict[str, Any]) -> list[dict[str, Any]]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["inbox"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.mark.parametrize(
    ("action", "fault", "reason"),
    [
        ("UpdateService", "html500", f"UpdateService: HTTP 500 Internal Server Error {NOT_AN_API_ANSWER}"),
        ("GetItem", "html500", f"GetItem: HTTP 500 Internal Server Error {NOT_AN_API_ANSWER}"),
        ("DescribeTaskDefinition", "html200", f"DescribeTaskDefinition: HTTP 200 OK {NOT_AN_API_ANSWER}"),
        (
            "DescribeTaskDefinition",
            "empty200",
            f"DescribeTaskDefinition: the answer has no taskDefinition {NOT_AN_API_ANSWER}",
        ),
        ("DescribeServices", "html200", f"DescribeServices: HTTP 200 OK {NOT_AN_API_ANSWER}"),
        ("DescribeServices", "empty200", f"DescribeServices: the answer has no services {NOT_AN_API_ANSWER}"),
        ("UpdateService", "hang", "did not answer in time (read timeout)"),
    ],
    ids=[
        "update-service-html-500",
        "get-item-html-500",
        "describe-html-200",
        "describe-empty-200",
        "services-html-200",
        "services-empty-200",
        "read-timeout",
    ],
)
def test_a_broken_answer_is_a_published_failed_status_and_a_failed_item(
    moto: dict[str, Any], stub: Stub, monkeypatch: pytest.MonkeyPatch, action: str, fault: str, reason: str
) -> None:
    worker = load_function("worker")
    monkeypatch.setattr(worker.handler, "clients", lambda: Clients(config=FAST))
    trigger = Trigger(
        "e-1", ACCOUNT, REGION, "UpdateService", targets=(ServiceTarget(fleet.CLUSTER, "nexus-ai-api-prod"),)
    )
    (item,) = items_of(trigger)
    record = {"messageId": "m-1", "body": item.to_body(), "attributes": {"MessageGroupId": item.group}}
    stub.faults[action] = fault

    findings, failures = worker.process([record])

    assert [f.status for f in findings] == [Status.FAILED]
    (said,) = findings[0].reasons
    assert said.endswith(reason) if fault == "hang" else said == reason
    assert "<" not in said
    assert "\n" not in said
    assert failures == {"m-1": f"1 of 1 targets failed: {said}"}  # the queue hands it over again
    (message,) = published(moto)
    assert (message["status"], message["reasons"]) == ("FAILED", [said])


@pytest.mark.parametrize(
    ("event", "action"),
    [("ecs-deployment-failed.json", "GetItem"), ("cloudtrail-updateservice.json", "GetCallerIdentity")],
    ids=["deployment-record-read", "own-identity-read"],
)
def test_the_router_s_triage_meeting_a_broken_answer_publishes_one_failed_status(
    moto: dict[str, Any], stub: Stub, monkeypatch: pytest.MonkeyPatch, event: str, action: str
) -> None:
    # The router reads before it queues (a deployment's record; its own identity, to ignore its own
    # calls): a client's failure there is a FAILED status too, then the event is retried.
    from sidecar_enforcer.errors import EnforcementFailedError
    from sidecar_enforcer_dev.local import lambda_context, project_root

    queue = moto["sqs"].create_queue(QueueName="work.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    monkeypatch.setenv("WORK_QUEUE_URL", queue)
    router = load_function("router")
    monkeypatch.setattr(router.handler, "clients", lambda: Clients(config=FAST))
    stub.faults[action] = "html500"
    document = json.loads((project_root() / "events" / event).read_text(encoding="utf-8"))

    with pytest.raises(EnforcementFailedError) as raised:
        router.lambda_handler(document, lambda_context("router"))

    said = str(raised.value)
    assert said.endswith(f"{action}: HTTP 500 Internal Server Error {NOT_AN_API_ANSWER}")
    assert "<" not in said
    assert "\n" not in said
    (message,) = published(moto)
    assert (message["status"], message["reasons"]) == ("FAILED", [said])


def test_custom_profiles_read_from_a_page_that_is_no_api_answer_fail_rather_than_read_as_none(
    stub: Stub,
) -> None:
    # An HTML page answered 200 parses as an empty answer: read as "no custom profile", every
    # service naming one would be told to fix its tag (and the empty set cached for minutes).
    from sidecar_enforcer.adapters.profiles import SsmProfiles
    from sidecar_enforcer.errors import AwsError

    client = boto3.session.Session(region_name=REGION).client("ssm", endpoint_url=stub.url, config=FAST)
    stub.faults["GetParametersByPath"] = "html200"

    with pytest.raises(AwsError) as raised:
        SsmProfiles(client, "/sidecar-enforcer/profiles/").documents()

    assert str(raised.value) == (
        f"GetParametersByPath /sidecar-enforcer/profiles/: the answer has no Parameters {NOT_AN_API_ANSWER}"
    )


def test_a_list_answered_by_an_html_page_is_a_failure_not_an_empty_list(
    moto: dict[str, Any], stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A list's page that is no API answer (an HTML page with 200) parses as a page with nothing on
    # it: read as such, a cluster's fan-out would queue no service and say nothing. Any call whose
    # answer is an HTML page fails, lists included.
    from sidecar_enforcer.models.events import ClusterTarget

    worker = load_function("worker")
    monkeypatch.setattr(worker.handler, "clients", lambda: Clients(config=FAST))
    queue = moto["sqs"].create_queue(QueueName="w.fifo", Attributes={"FifoQueue": "true"})
    monkeypatch.setenv("WORK_QUEUE_URL", queue["QueueUrl"])
    trigger = Trigger("e-1", ACCOUNT, REGION, "TagResource", targets=(ClusterTarget(fleet.CLUSTER),))
    (item,) = items_of(trigger)
    record = {"messageId": "m-1", "body": item.to_body(), "attributes": {"MessageGroupId": item.group}}
    stub.faults["ListServices"] = "html200"

    _, failures = worker.process([record])

    assert list(failures) == ["m-1"]
    (said,) = failures.values()
    assert said.endswith(f"ListServices: HTTP 200 OK {NOT_AN_API_ANSWER}")
    (message,) = published(moto)
    assert message["status"] == "FAILED"
    assert message["reasons"][0].endswith(f"ListServices: HTTP 200 OK {NOT_AN_API_ANSWER}")
