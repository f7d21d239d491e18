"""The bench's counting proxy: how it names a call (service, action) from the request botocore
sends, on request shapes recorded from botocore 1.44, and that it forwards and counts; its added
latency, TCP_NODELAY, and ECS's token buckets answered as ECS throttles."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sidecar_enforcer.domain.ecs.ecs_quotas import Category

from bench.proxy import Call, CountingProxy, Record, _Forward, _Upstream, classify, tally
from bench.throttle import Throttle


def _auth(service: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261201/us-east-1/{service}/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=03feb8dc0c35721c"
    )


JSON_11 = "application/x-amz-json-1.1"
JSON_10 = "application/x-amz-json-1.0"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

# (method, path, headers, body) as botocore sent them (signatures cut short), and the call expected
RECORDED: list[tuple[str, str, dict[str, str], bytes, Call]] = [
    (
        "POST",
        "/",
        {
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DescribeServices",
            "Content-Type": JSON_11,
            "Authorization": _auth("ecs"),
        },
        b'{"cluster": "shop-prod", "services": ["a"], "include": ["TAGS"]}',
        Call("ecs", "DescribeServices"),
    ),
    (
        "POST",
        "/",
        {
            "X-Amz-Target": "DynamoDB_20120810.PutItem",
            "Content-Type": JSON_10,
            "Authorization": _auth("dynamodb"),
        },
        b'{"TableName": "t", "Item": {"pk": {"S": "x"}}}',
        Call("dynamodb", "PutItem"),
    ),
    (  # SQS speaks JSON since botocore 1.31.57
        "POST",
        "/",
        {"X-Amz-Target": "AmazonSQS.SendMessage", "Content-Type": JSON_10, "Authorization": _auth("sqs")},
        b'{"QueueUrl": "http://127.0.0.1:1/123456789012/q", "MessageBody": "b"}',
        Call("sqs", "SendMessage"),
    ),
    (
        "POST",
        "/",
        {"Content-Type": FORM, "Authorization": _auth("sns")},
        b"Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At&Message=m",
        Call("sns", "Publish"),
    ),
    (
        "POST",
        "/",
        {"Content-Type": FORM, "Authorization": _auth("sts")},
        b"Action=GetCallerIdentity&Version=2011-06-15",
        Call("sts", "GetCallerIdentity"),
    ),
    (
        "POST",
        "/",
        {"Content-Type": FORM, "Authorization": _auth("iam")},
        b"Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn%3Aaws%3Aiam%3A%3A123456789012"
        b"%3Arole%2Fr&ActionNames.member.1=xray%3APutTraceSegments",
        Call("iam", "SimulatePrincipalPolicy"),
    ),
    (  # the signing name, not the X-Amz-Target prefix, names the service
        "POST",
        "/",
        {
            "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
            "Content-Type": JSON_10,
            "Authorization": _auth("monitoring"),
        },
        b'{"Namespace": "n", "MetricData": [{"MetricName": "m", "Value": 1.0}]}',
        Call("monitoring", "PutMetricData"),
    ),
    (  # header names in any case
        "POST",
        "/",
        {
            "x-amz-target": "DynamoDB_20120810.Query",
            "content-type": JSON_10,
            "authorization": _auth("dynamodb"),
        },
        b"{}",
        Call("dynamodb", "Query"),
    ),
    (  # no SigV4 scope (an unsigned request): the X-Amz-Target prefix names the service
        "POST",
        "/",
        {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.UpdateService", "Content-Type": JSON_11},
        b"{}",
        Call("ecs", "UpdateService"),
    ),
    (  # a query call with its Action in the URL
        "GET",
        "/?Action=DescribeVpcs&Version=2016-11-15",
        {"Authorization": _auth("ec2")},
        b"",
        Call("ec2", "DescribeVpcs"),
    ),
    (  # Smithy RPC v2 CBOR: the action is in the path
        "POST",
        "/service/GraniteServiceVersion20100801/operation/GetMetricData",
        {
            "Content-Type": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "Authorization": _auth("monitoring"),
        },
        b"\xa0",
        Call("monitoring", "GetMetricData"),
    ),
    (  # REST: method and path
        "GET",
        "/b?list-type=2&encoding-type=url",
        {"Authorization": _auth("s3")},
        b"",
        Call("s3", "GET /b"),
    ),
    (  # nothing to go by
        "POST",
        "/",
        {"Content-Type": JSON_10},
        b"{}",
        Call("?", "POST /"),
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "expected"), RECORDED, ids=[str(r[-1]) for r in RECORDED]
)
def test_a_recorded_request_is_named_by_its_service_and_action(
    method: str, path: str, headers: dict[str, str], body: bytes, expected: Call
) -> None:
    assert classify(method, path, headers, body) == expected


def test_a_gzip_compressed_query_body_is_read() -> None:
    # botocore compresses large query bodies of operations that allow it (CloudWatch PutMetricData)
    body = gzip.compress(b"Action=PutMetricData&Version=2010-08-01&Namespace=n")
    headers = {"Content-Type": FORM, "Content-Encoding": "gzip", "Authorization": _auth("monitoring")}

    assert classify("POST", "/", headers, body) == Call("monitoring", "PutMetricData")


def test_a_body_that_is_not_gzip_after_all_names_the_request_by_its_path() -> None:
    headers = {"Content-Type": FORM, "Content-Encoding": "gzip", "Authorization": _auth("sns")}

    assert classify("POST", "/", headers, b"Action=Publish") == Call("sns", "POST /")


def test_the_form_body_wins_over_the_query_string() -> None:
    headers = {"Content-Type": FORM, "Authorization": _auth("sns")}

    assert classify("POST", "/?Action=Subscribe", headers, b"Action=Publish") == Call("sns", "Publish")


def test_tally_counts_each_call() -> None:
    records = [Record(Call("ecs", "DescribeServices"), 200)] * 2 + [Record(Call("sns", "Publish"), 400)]

    assert tally(records) == {Call("ecs", "DescribeServices"): 2, Call("sns", "Publish"): 1}
    assert str(Call("sns", "Publish")) == "sns:Publish"


# -- forwarding -------------------------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """The upstream: answers each POST with its X-Amz-Target and body, status 400 for a 'fail' body."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        payload = f"{self.headers.get('X-Amz-Target')}|{body.decode()}".encode()
        self.send_response(400 if body == b"fail" else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Upstream", "echo")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "127.0.0.1", int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _post(url: str, target: str, body: bytes) -> tuple[int, str, str | None]:
    request = urllib.request.Request(  # noqa: S310 - a local http URL
        url, data=body, method="POST", headers={"X-Amz-Target": target, "Authorization": _auth("ecs")}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - a local http URL
            return answer.status, answer.read().decode(), answer.headers.get("X-Upstream")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("X-Upstream")


def test_the_proxy_forwards_requests_and_answers_unchanged_and_counts_them(upstream: tuple[str, int]) -> None:
    with CountingProxy(upstream) as proxy:
        first = _post(proxy.url, "AmazonEC2ContainerServiceV20141113.DescribeServices", b'{"a": 1}')
        failed = _post(proxy.url, "AmazonEC2ContainerServiceV20141113.UpdateService", b"fail")
        taken = proxy.counts.take()
        after = proxy.counts.take()

    assert first == (200, 'AmazonEC2ContainerServiceV20141113.DescribeServices|{"a": 1}', "echo")
    assert failed == (400, "AmazonEC2ContainerServiceV20141113.UpdateService|fail", "echo")
    assert taken == [
        Record(Call("ecs", "DescribeServices"), 200),
        Record(Call("ecs", "UpdateService"), 400),
    ]
    assert all(r.upstream_ms is not None and r.upstream_ms >= 0 for r in taken)  # moto's share of each
    assert after == []


def test_a_request_upstream_does_not_answer_is_counted_and_answered_502() -> None:
    dead = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    port = int(dead.server_address[1])
    dead.server_close()  # nothing listens there now

    with CountingProxy(("127.0.0.1", port)) as proxy:
        status, _, _ = _post(proxy.url, "DynamoDB_20120810.GetItem", b"{}")
        taken = proxy.counts.take()

    assert status == 502
    assert taken == [Record(Call("ecs", "GetItem"), 502)]


# -- latency, TCP_NODELAY, ECS's token buckets ------------------------------------------------------


def test_the_proxy_adds_its_latency_to_every_request(upstream: tuple[str, int]) -> None:
    target = "AmazonEC2ContainerServiceV20141113.ListClusters"
    with CountingProxy(upstream, latency=0.0) as fast, CountingProxy(upstream, latency=0.25) as slow:
        began = time.perf_counter()
        _post(fast.url, target, b"{}")
        direct = time.perf_counter() - began
        began = time.perf_counter()
        answer = _post(slow.url, target, b"{}")
        delayed = time.perf_counter() - began

    assert answer[0] == 200
    assert delayed >= 0.25
    assert delayed - direct >= 0.2


@pytest.mark.parametrize("nodelay", [True, False])
def test_tcp_nodelay_is_set_on_both_sides_as_asked(upstream: tuple[str, int], nodelay: bool) -> None:
    # towards moto: the upstream connection
    connection = _Upstream(*upstream, nodelay=nodelay)
    connection.connect()
    try:
        assert connection.sock is not None
        assert bool(connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) is nodelay
    finally:
        connection.close()
    # towards the SDK: the accepted connection, as the handler sets it up
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        accepted, _ = listener.accept()
        handler = _Forward.__new__(_Forward)
        handler.server = SimpleNamespace(nodelay=nodelay)  # type: ignore[assignment]
        handler.request = handler.connection = accepted
        try:
            handler.setup()
            assert bool(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)) is nodelay
        finally:
            accepted.close()
            client.close()


def test_a_request_over_its_bucket_is_answered_as_ecs_throttles_and_never_reaches_moto(
    upstream: tuple[str, int],
) -> None:
    reads = Category("Service read actions", 2, 0.001, ("DescribeServices", "ListServices"))
    with CountingProxy(upstream, latency=0.0, throttle=Throttle((reads,))) as proxy:
        passed = [
            _post(proxy.url, "AmazonEC2ContainerServiceV20141113.ListServices", b"{}") for _ in range(2)
        ]
        status, body, reached = _post(proxy.url, "AmazonEC2ContainerServiceV20141113.DescribeServices", b"{}")
        other = _post(proxy.url, "AmazonEC2ContainerServiceV20141113.DescribeClusters", b"{}")
        taken = proxy.counts.take()

    assert [p[0] for p in passed] == [200, 200]
    assert (status, reached) == (400, None)
    assert json.loads(body) == {"__type": "ThrottlingException", "message": "Rate exceeded"}
    assert other[0] == 200  # no bucket of its own in this throttle: passes
    assert taken[2] == Record(Call("ecs", "DescribeServices"), 400, throttled=True)
    assert taken[2].upstream_ms is None  # never sent upstream
    assert sum(r.throttled for r in taken) == 1


def test_botocore_reads_the_answer_as_throttling_and_retries_it(upstream: tuple[str, int]) -> None:
    empty = Category("Cluster read actions", 0, 0.0001, ("DescribeClusters", "ListClusters"))
    with CountingProxy(upstream, latency=0.0, throttle=Throttle((empty,))) as proxy:
        ecs = boto3.session.Session().client(
            "ecs",
            endpoint_url=proxy.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"mode": "standard", "total_max_attempts": 2}),
        )
        with pytest.raises(ClientError) as raised:
            ecs.list_clusters()
        taken = proxy.counts.take()

    error = raised.value.response
    assert error["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["ResponseMetadata"]["RetryAttempts"] == 1  # retried as throttling, then gave up
    assert taken == [Record(Call("ecs", "ListClusters"), 400, throttled=True)] * 2
