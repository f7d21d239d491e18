"""A forked child (a fleet run's survey process) opens connections of its own: it never writes to a
keep-alive socket it inherited from the parent, where two processes' requests would interleave and
one could read the other's answer (another account's AssumeRole credentials)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from sidecar_enforcer.adapters.aws import Clients, session

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only"),
    # the test's own server thread is running; the child touches none of its locks
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

ANSWER = b"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::111111111111:user/u</Arn><UserId>U</UserId>
<Account>111111111111</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"""


class _Sts(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS's endpoints
    peers: ClassVar[list[tuple[int, int]]] = []  # (the requester's pid, its port), as each request came

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.peers.append((int(self.headers["X-Pid"]), self.client_address[1]))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Sts.peers = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _sts(clients: Clients) -> Any:
    client = clients.client("sts", "us-east-1")
    client.meta.events.register(
        "before-send", lambda request, **_: request.headers.__setitem__("X-Pid", str(os.getpid()))
    )
    return client


def test_a_forked_child_asks_on_a_connection_of_its_own(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    core = session("us-east-1")
    core.set_credentials("k", "s")
    sts = _sts(Clients(core))  # the Clients let go: its client lives on, as a holder keeps it
    sts.get_caller_identity()  # the parent's connection, kept alive
    pid = os.fork()
    if pid == 0:  # the child: one request, then out without pytest's teardown
        code = 1
        try:
            sts.get_caller_identity()
            code = 0
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    sts.get_caller_identity()  # the parent's connection still serves it

    assert os.waitstatus_to_exitcode(status) == 0
    (parent, port), (child, child_port), (again, port_again) = _Sts.peers
    assert (parent, again) == (os.getpid(), os.getpid())
    assert child == pid
    assert child_port != port  # the child opened its own connection
    assert port_again == port  # and the parent's stayed open for the parent
