"""A counting HTTP proxy in front of moto's server: every AWS call the SDK makes, by service and
action, as it goes over the wire (a retried call is counted once per attempt).

boto3 reaches it through ``AWS_ENDPOINT_URL``; it forwards each request unchanged to moto and the
answer unchanged back. How a request is named (:func:`classify`):

- the service: the signing name in the SigV4 credential scope of the ``Authorization`` header
  (``Credential=AKID/20261120/us-east-1/ecs/aws4_request`` -> ``ecs``), which every SDK call
  carries whatever its protocol; else the ``X-Amz-Target`` prefix (``DynamoDB_20120810`` ->
  ``dynamodb``); else ``?``;
- the action: JSON protocols (ECS, DynamoDB, SQS, SSM): the ``X-Amz-Target`` header after its dot
  (``AmazonEC2ContainerServiceV20141113.DescribeServices`` -> ``DescribeServices``); query
  protocols (SNS, STS, IAM, EC2): the ``Action`` field of the form body (gzip bodies decoded) or of
  the query string; Smithy RPC v2 CBOR: ``/service/<name>/operation/<action>`` in the path; other
  (REST) calls: ``<METHOD> <path>``.

Like a remote endpoint, it adds ``latency`` seconds to every request (30 ms by default) and sets
TCP_NODELAY on its sockets, towards the SDK and towards moto (without it the answer's headers and body
leave in two segments and the second waits for the first's delayed ACK: about 40 ms more a request,
see ``python -m bench --nodelay-check``). With ``throttle`` it enforces ECS's request token buckets
(:mod:`bench.throttle`): a request that finds its bucket empty is answered as ECS answers it (HTTP
400, ``ThrottlingException``, "Rate exceeded") without reaching moto, and counted as throttled.

Each request is named by its place, (account, region): the region from its credential scope, the
account from its access key (the bench's own keys: ``account``; a member role's keys: the account
of the role the AssumeRole answer that handed them out named). ECS's buckets are kept per place.

With :class:`Replay` it takes moto's CPU out of a timed run: while ``replay.recording``, moto's
answers to ECS's reads are kept by the request's canonical form and place; while
``replay.replaying``, the same request is answered from them (after the latency and the buckets,
as any other), and :meth:`Replay.check` sends recorded requests to moto again to hold the recording
byte-equal to moto's live answers.

It is not a bottleneck of its own: a thread per client connection (``ThreadingHTTPServer``, the
SDK's connections kept alive), the latency slept holding nothing, and moto in another process
(:mod:`bench.moto_process`), so the proxy's threads share no GIL with moto's. Each record says how
long moto took to answer (``upstream_ms``: from the connection to moto opened to the answer's last
byte in), so that a run's time splits between the latency, moto and the client.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import random
import re
import socket
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .throttle import THROTTLED_BODY, THROTTLED_CONTENT_TYPE, THROTTLED_STATUS, Throttle

LATENCY = 0.030  # seconds added to every request: a nearby region's round trip

# X-Amz-Target prefixes of the JSON services the enforcer and its tools use, when a request has no
# SigV4 credential scope to name its service.
TARGET_PREFIXES = {
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "DynamoDB_20120810": "dynamodb",
    "AmazonSQS": "sqs",
    "AmazonSSM": "ssm",
    "Logs_20140328": "logs",
    "AWSEvents": "events",
    "AWSLambda": "lambda",
}
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")
_RPC_V2 = re.compile(r"/service/([^/]+)/operation/([^/?]+)")
# Hop-by-hop headers (RFC 9110, 7.6.1) and the ones the proxy sets itself.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@dataclass(frozen=True, order=True)
class Call:
    service: str
    action: str

    def __str__(self) -> str:
        return f"{self.service}:{self.action}"


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "")


def _form(body: bytes, encoding: str) -> dict[str, list[str]]:
    if encoding.strip().lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return {}
    try:
        return parse_qs(body.decode("utf-8"))
    except UnicodeDecodeError:
        return {}


def classify(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Call:
    """The service and action of one SDK request (see the module's doc)."""
    scope = _SCOPE.search(_header(headers, "Authorization"))
    target = _header(headers, "X-Amz-Target")
    prefix, dot, operation = target.rpartition(".")
    service = scope.group(1) if scope else TARGET_PREFIXES.get(prefix, "?") if dot else "?"
    if dot and operation:
        return Call(service, operation)
    url = urlsplit(path)
    rpc = _RPC_V2.search(url.path)
    if rpc:
        return Call(service if scope else rpc.group(1).lower(), rpc.group(2))
    content_type = _header(headers, "Content-Type").lower()
    fields = parse_qs(url.query)
    if "application/x-www-form-urlencoded" in content_type:
        fields = {**fields, **_form(body, _header(headers, "Content-Encoding"))}
    action = fields.get("Action")
    if action and action[0]:
        return Call(service, action[0])
    return Call(service, f"{method.upper()} {url.path or '/'}")


@dataclass(frozen=True)
class Record:
    call: Call
    status: int  # the HTTP status moto answered, 502 when it did not answer
    throttled: bool = False  # answered ThrottlingException by the proxy's buckets, never sent to moto
    # ms moto took to answer (connection opened to the answer's last byte); None: never sent to moto
    upstream_ms: float | None = field(default=None, compare=False)
    replayed: bool = False  # answered from the recording (moto's answer to the same request)
    place: tuple[str, str] = field(default=("", ""), compare=False)  # (account, region) asked


_KEY = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")
_ROLE_ACCOUNT = re.compile(r"arn:[^:]+:iam::(\d{12}):role/")
_ACCESS_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")


def replayable(call: Call) -> bool:
    """ECS's reads: the same request gets the same answer while the fleet is unchanged."""
    return call.service == "ecs" and call.action.startswith(("Describe", "List"))


def canonical(headers: Mapping[str, str], body: bytes) -> bytes:
    """A request body in one spelling: JSON with its keys sorted, a form with its fields sorted."""
    content_type = _header(headers, "Content-Type").lower()
    if "json" in content_type and body:
        try:
            return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except ValueError:
            return body
    if "application/x-www-form-urlencoded" in content_type:
        fields = _form(body, _header(headers, "Content-Encoding"))
        return urlencode(sorted((k, v) for k, vs in fields.items() for v in vs)).encode()
    return body


Key = tuple[str, str, str, str, str, bytes]  # account, region, method, path, action, canonical body
Answer = tuple[int, list[tuple[str, str]], bytes]  # status, headers, body
Request = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


class Replay:
    """Moto's answers to ECS's reads, by the request's canonical form and the account and Region
    that asked (:func:`canonical`), recorded while ``recording`` and served while ``replaying``:
    the timed runs then cost the server a dictionary look-up, not moto's CPU. A request that was
    not recorded goes to moto as before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[Key, Answer] = {}
        self._requests: dict[Key, Request] = {}
        self.recording = False
        self.replaying = False

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: Key) -> Answer | None:
        with self._lock:
            return self._answers.get(key)

    def put(self, key: Key, answer: Answer, request: Request) -> None:
        with self._lock:
            self._answers[key] = answer
            self._requests[key] = request

    def check(
        self, upstream: tuple[str, int], sample: int | None = None, seed: int = 0
    ) -> tuple[int, list[str]]:
        """Each recorded request (or ``sample`` of them, drawn with ``seed``) sent to moto again:
        how many were checked, and the ones whose live answer's body is not byte-equal to the
        recorded one."""
        with self._lock:
            keys = list(self._answers)
        if sample is not None and sample < len(keys):
            keys = random.Random(seed).sample(keys, sample)  # noqa: S311 - a sample, not a secret
        differ = []
        for key in keys:
            method, path, headers, body = self._requests[key]
            connection = http.client.HTTPConnection(*upstream, timeout=60)
            try:
                connection.request(method, path, body=body or None, headers=headers)
                answer = connection.getresponse()
                live = (answer.status, answer.read())
            finally:
                connection.close()
            if live != (self._answers[key][0], self._answers[key][2]):
                differ.append(f"{key[4]} {key[0]}/{key[1]}: {body[:120]!r}")
        return len(keys), differ

    def keys(self) -> list[Key]:
        with self._lock:
            return list(self._answers)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._requests.clear()


class Counts:
    """What went through the proxy; ``take`` hands the calls over and starts afresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Record] = []

    def add(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    def take(self) -> list[Record]:
        with self._lock:
            taken, self._records = self._records, []
        return taken


def tally(records: list[Record]) -> Counter[Call]:
    return Counter(r.call for r in records)


class _Upstream(http.client.HTTPConnection):
    """A connection to moto, TCP_NODELAY as ``nodelay`` says (http.client sets it itself since
    Python 3.13: cleared here for the measure without it)."""

    def __init__(self, host: str, port: int, nodelay: bool) -> None:
        super().__init__(host, port, timeout=60)
        self._nodelay = nodelay

    def connect(self) -> None:
        super().connect()
        if self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(self._nodelay))


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's connection pool reuses its connections
    server: CountingProxy

    def setup(self) -> None:
        super().setup()
        # headers and body go out apart: without TCP_NODELAY the body waits for a delayed ACK (~40 ms)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(self.server.nodelay))

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the bench prints the counts, not one line per request."""

    def _throttled(self, call: Call, place: tuple[str, str]) -> None:
        self.server.counts.add(Record(call, THROTTLED_STATUS, throttled=True, place=place))
        self.send_response(THROTTLED_STATUS)
        self.send_header("Content-Type", THROTTLED_CONTENT_TYPE)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(THROTTLED_BODY)))
        self.end_headers()
        self.wfile.write(THROTTLED_BODY)

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        call = classify(self.command, self.path, headers, body)
        server = self.server
        place = server.place_of(headers)
        if server.latency > 0:
            time.sleep(server.latency)
        throttle = server.throttle
        if throttle is not None and not throttle.admit(call.service, call.action, place):
            self._throttled(call, place)
            return
        key = (*place, self.command, self.path, call.action, canonical(headers, body))
        replay = server.replay
        answer = replay.get(key) if replay.replaying and replayable(call) else None
        if answer is not None:
            server.counts.add(Record(call, answer[0], replayed=True, place=place))
            self._answer(*answer)
            return
        began = time.perf_counter()
        try:
            status, reply, payload = self._forward(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            status, payload, reply = 502, f"bench proxy: {exc}".encode(), [("Content-Type", "text/plain")]
        upstream_ms = (time.perf_counter() - began) * 1000
        server.counts.add(Record(call, status, upstream_ms=upstream_ms, place=place))
        if status == 200 and replay.recording and replayable(call):
            replay.put(key, (status, reply, payload), (self.command, self.path, headers, body))
        if status == 200 and call == Call("sts", "AssumeRole"):
            server.learn(body, headers, payload)
        self._answer(status, reply, payload)

    def _answer(self, status: int, reply: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for name, value in reply:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """The request to moto on a connection of its own: moto's server (werkzeug's) answers every
        request with ``Connection: close``, so there is no connection to keep."""
        upstream = _Upstream(*self.server.upstream, self.server.nodelay)
        try:
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            return answer.status, [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP], payload
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _relay


class CountingProxy(ThreadingHTTPServer):
    """``with CountingProxy(("127.0.0.1", moto_port)) as proxy:`` serves on ``proxy.url``.

    ``latency``: seconds added to each request; ``nodelay``: TCP_NODELAY on its sockets;
    ``throttle``: ECS's token buckets to enforce (None: none). ``throttle`` may be replaced between
    runs (a fresh one starts with full buckets)."""

    daemon_threads = True
    request_queue_size = 128  # a concurrent client opens many connections at once

    def __init__(
        self,
        upstream: tuple[str, int],
        host: str = "127.0.0.1",
        *,
        latency: float = LATENCY,
        nodelay: bool = True,
        throttle: Throttle | None = None,
    ) -> None:
        super().__init__((host, 0), _Forward)
        self.upstream = upstream
        self.latency = latency
        self.nodelay = nodelay
        self.throttle = throttle
        self.counts = Counts()
        self.replay = Replay()
        self.account = ""  # the account of the bench's own keys (moto's default)
        self._accounts: dict[str, str] = {}  # access key -> account, from AssumeRole's answers
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="bench-proxy", daemon=True
        )

    def place_of(self, headers: Mapping[str, str]) -> tuple[str, str]:
        """(account, region) of a signed request: the region from its credential scope, the account
        from its access key (moto's default keys: ``account``; a member role's: as AssumeRole said)."""
        found = _KEY.search(_header(headers, "Authorization"))
        if not found:
            return self.account, ""
        return self._accounts.get(found.group(1), self.account), found.group(2)

    def learn(self, body: bytes, headers: Mapping[str, str], payload: bytes) -> None:
        """The account of the keys an AssumeRole answer hands out: the role's."""
        role = "".join(_form(body, _header(headers, "Content-Encoding")).get("RoleArn", []))
        account, key = _ROLE_ACCOUNT.search(role), _ACCESS_KEY.search(payload)
        if account and key:
            self._accounts[key.group(1).decode()] = account.group(1)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def client_environment(
    endpoint: str, region: str, *, drop: tuple[str, ...] = ("AWS_", "PYTHON")
) -> dict[str, str]:
    """The process environment of a tool under test (Cloud Custodian's; ours keeps PYTHON*: ``drop=
    ("AWS_",)``): this one without the variables ``drop`` names, the proxy as endpoint, moto's fake
    keys, no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto takes any key
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        NO_PROXY="127.0.0.1,localhost",
    )
    return env
