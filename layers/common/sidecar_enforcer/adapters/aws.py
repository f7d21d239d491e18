"""Lazily built, cached AWS clients on a botocore session (what boto3's ``Session`` wraps: the same
credential chain, configuration and ``AWS_ENDPOINT_URL``, which is how the demo and tests point at
moto's server; without importing boto3 and s3transfer, about 30 ms of every cold start and command).

The Lambda retries throttling with botocore's adaptive mode (client-side rate limiting + retries):
RETRIES. A person at a terminal wants an answer in seconds: the CLI runs its commands under
``default_config(INTERACTIVE)``.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import urlsplit

import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProxyConnectionError,
    ReadTimeoutError,
    SSLError,
    SSOError,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError

from .. import __version__
from ..errors import AccessDeniedError, AwsError, NotFoundError, RejectedError
from .answers import fast_parsing

USER_AGENT = f"sidecar-enforcer/{__version__}"

# The Lambda's: an event may wait, and a throttled burst of events should get through.
RETRIES = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra=USER_AGENT,
    connect_timeout=5,
    read_timeout=30,
)

# A person's: an endpoint that does not answer fails in seconds, not after a minute of backoff.
INTERACTIVE = Config(
    retries={"mode": "standard", "total_max_attempts": 2},
    user_agent_extra=USER_AGENT,
    connect_timeout=2,
    read_timeout=20,
)

# A fleet run's (backfill): many requests at once from one client per account and region. It paces
# itself to ECS's documented refill rates once a bucket is found empty (adapters.pacing); standard
# retries redo the throttled requests (adaptive mode's own limiter would back off further than the
# documented rates require).
FLEET = Config(
    retries={"mode": "standard", "max_attempts": 10},
    user_agent_extra=USER_AGENT,
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)

_config: ContextVar[Config] = ContextVar("sidecar_enforcer_aws_config", default=RETRIES)


@contextmanager
def default_config(config: Config) -> Iterator[None]:
    """Clients built inside the block, and not given a configuration, use ``config``. The CLI runs
    each command in ``default_config(INTERACTIVE)``: the Clients its commands build and those the
    handler module builds for itself (``invoke``) alike, with nothing to pass through the handler.
    Outside such a block (the Lambda, the tests) it is RETRIES."""
    token = _config.set(config)
    try:
        yield
    finally:
        _config.reset(token)


# botocore's DEBUG log prints request bodies, and a RegisterTaskDefinition body holds container
# environment values. Lambda's log-level control (AWS_LAMBDA_LOG_LEVEL) sets the root logger, so the
# SDK's loggers are pinned here: turning the function to DEBUG never leaks a value.
SDK_LOGGERS = ("boto3", "botocore", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def session(default_region: str | None = None) -> botocore.session.Session:
    """A new botocore session whose clients read answers fast (adapters.answers).
    ``default_region``: the region of the calls that name none, when the environment sets none."""
    core = botocore.session.Session()
    fast_parsing(core)
    if default_region and not core.get_config_variable("region"):
        core.set_config_variable("region", default_region)
    return core


class Clients:
    """One client per (service, region), created on first use and reused (clients are thread-safe;
    creating them is not, hence the lock).

    A forked child (a fleet run's survey processes) keeps the clients but none of the parent's open
    connections: a keep-alive socket shared by two processes would interleave their requests and
    could hand one process the other's answer (another account's AssumeRole credentials)."""

    def __init__(self, session: botocore.session.Session | None = None, config: Config | None = None) -> None:
        quiet_sdk_loggers()
        self._session = session  # made by session() or adapters.member: it reads answers fast
        self.config = config or _config.get()
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        _FORKED.add(self)

    def _forked(self) -> None:
        """In a forked child: a new lock (another thread may have held the parent's)."""
        self._lock = threading.Lock()

    @property
    def session(self) -> botocore.session.Session:
        if self._session is None:
            self._session = session()
        return self._session

    @property
    def region(self) -> str | None:
        """The region of the calls that name none (the environment's, or the session's default)."""
        return self.session.get_config_variable("region")  # type: ignore[no-any-return]

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                client: Any = self.session.create_client(service, region_name=region, config=self.config)
                client.meta.events.register("after-call", _api_answer)
                _CONNECTIONS.add(client._endpoint.http_session)
                self._clients[key] = client
            return self._clients[key]


_FORKED: weakref.WeakSet[Clients] = weakref.WeakSet()
_CONNECTIONS: weakref.WeakSet[Any] = weakref.WeakSet()  # each client's HTTP session (its pools)


def _after_fork_in_child() -> None:
    """Each client made here, whoever holds it now, drops the connection pools it inherited, so its
    next request opens a connection of its own. The parent's sockets stay open for the parent:
    closing a descriptor in the child closes only the child's copy."""
    for clients in list(_FORKED):
        clients._forked()
    for pools in list(_CONNECTIONS):
        pools.close()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")  # no API answer starts so


def _api_answer(http_response: Any, model: Any, **_: Any) -> None:
    """An HTML page (a load balancer's or proxy's) that answered a call with a 2xx status. No AWS
    API answers with one (JSON, or XML that starts ``<?xml`` or with the operation's element), but
    botocore parses such a page as an answer with nothing in it, and a list would read as empty (no
    service to fan out, no account to survey, no revision to reuse). Raised after botocore's
    retries; the event or work item is retried instead. An object's own content (a streaming
    answer, S3 GetObject) may be HTML: not checked."""
    status = getattr(http_response, "status_code", 0)
    if not 200 <= status < 300 or model.has_streaming_output:
        return
    # Told by the page itself, not by its content type: some endpoints that do speak the API
    # (moto's server) label their JSON text/html, and a proxy's page may come with any label.
    start = bytes(getattr(http_response, "content", b"") or b"")[:64].lstrip().lower()
    if start.startswith(_HTML_STARTS):
        raise _not_an_answer(model.name, status)


def _not_an_answer(what: str, status: int | str) -> AwsError:
    """A page that is no API answer (a proxy's, a portal's), told by its HTTP status and reason."""
    reason = http.client.responses.get(int(status), "") if str(status).isdigit() else ""
    return AwsError(f"{what}: HTTP {status} {reason} {NOT_AN_API_ANSWER}".replace("  ", " "))


HOME = ""  # the account of the credentials in use, whichever it is


class AccountClients:
    """Clients per (account, region, service): ``accounts(account).client(service, region)``.

    The enforcer's own account (``home_account``) uses the function's own credentials (``home``, no
    role). Another account's clients are built on ``member(account)``, the member role's session in
    that account (adapters.member.MemberSessions: one AssumeRole per account, refreshed by botocore),
    with the home clients' configuration; built on first use and kept."""

    def __init__(
        self,
        home: Clients,
        home_account: Callable[[], str],
        member: Callable[[str], botocore.session.Session],
    ) -> None:
        self.home = home
        self._home_account = home_account
        self._member = member
        self._accounts: dict[str, Clients] = {}
        self._lock = threading.Lock()

    def __call__(self, account: str) -> Clients:
        """``HOME`` ("") names the home account without asking who that is (no STS call)."""
        if account == HOME or account == self._home_account():
            return self.home
        with self._lock:
            found = self._accounts.get(account)
        if found is None:
            built = Clients(self._member(account), self.home.config)  # may raise: nothing kept
            with self._lock:
                found = self._accounts.setdefault(account, built)
        return found


# SNS's own codes (botocore's model of Publish: the sender's faults other than a throttle) are here
# too: the notifier retries the chat topic only for what a retry may cure.
_NOT_FOUND = {
    "ServiceNotFoundException",
    "ClusterNotFoundException",
    "ResourceNotFoundException",
    "NotFound",  # SNS: the topic does not exist
    "KMSNotFound",
}
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "AuthorizationError",  # SNS
    "KMSAccessDenied",
    "KMSOptInRequired",
    "InvalidSecurity",
}
_REJECTED = {
    "ClientException",
    "InvalidParameterException",
    "InvalidParameter",  # SNS: e.g. a message over 256 KB; a retry never helps
    "InvalidParameterValue",
    "ParameterValueInvalid",  # SNS
    "ValidationException",
    "EndpointDisabled",
    "PlatformApplicationDisabled",
    "KMSDisabled",  # SNS: the topic's key is disabled or pending deletion
    "KMSInvalidState",
    "ServiceNotActiveException",
    "PlatformUnknownException",
    "PlatformTaskDefinitionIncompatibilityException",
}

T = TypeVar("T")


_REACH = "(check AWS_ENDPOINT_URL, the region, or the network)"


def _where(url: Any) -> str:
    """scheme://host:port of an endpoint or proxy URL (no path, no user or password)."""
    parts = urlsplit(str(url))
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _explain(exc: BotoCoreError) -> str:
    """What went wrong before AWS answered, with what to check. Other errors are named by their type
    only: botocore's messages may quote request values (ParamValidationError does)."""
    kwargs: dict[str, Any] = getattr(exc, "kwargs", {})
    if isinstance(exc, ProxyConnectionError):
        return f"cannot reach the proxy {_where(kwargs.get('proxy_url'))} (check HTTPS_PROXY)"
    if isinstance(exc, SSLError):
        return f"no trusted TLS connection to {_where(kwargs.get('endpoint_url'))} (check AWS_CA_BUNDLE)"
    if isinstance(exc, ConnectTimeoutError):
        return f"cannot reach {_where(kwargs.get('endpoint_url'))}: connect timeout {_REACH}"
    if isinstance(exc, ReadTimeoutError):
        return f"{_where(kwargs.get('endpoint_url'))} did not answer in time (read timeout)"
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError):
        return f"cannot reach {_where(kwargs.get('endpoint_url'))} {_REACH}"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, PartialCredentialsError):
        return (
            f"incomplete AWS credentials from {kwargs.get('provider')}: {kwargs.get('cred_var')} is missing"
        )
    if isinstance(exc, CredentialRetrievalError | TokenRetrievalError | SSOError):
        provider = f" from {kwargs['provider']}" if kwargs.get("provider") else ""
        return f"cannot get AWS credentials{provider} (an SSO session may have expired: aws sso login)"
    if isinstance(exc, NoRegionError):
        return "no AWS region (set AWS_REGION or AWS_DEFAULT_REGION)"
    return type(exc).__name__


MESSAGE_MAX = 300  # characters of an API's error message kept in the one-line error
NOT_AN_API_ANSWER = "(an answer that is not an AWS API response)"


def translate(what: str, exc: Exception) -> AwsError:
    """Any exception a client raised -> an AwsError with a one-line message, no request values.

    ClientError: the API's code and message, cut to MESSAGE_MAX; an answer that was no API error
    document (a load balancer's or proxy's HTML page: botocore names it by its HTTP status, or by
    "Unknown", and may quote the page as its message) is named by its HTTP status only.
    BotoCoreError (no answer from AWS, after the retries): one line with what to check. Anything else
    a client raises (botocore's ResponseParserError, which is no BotoCoreError, or an error of its
    parser on an answer that is no API response) is named by its type: its text may quote the answer
    or the request. Every such error is retryable: another attempt may get a real answer."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{what}: {_explain(exc)}")
    if isinstance(exc, ResponseParserError):
        return AwsError(f"{what}: the answer is not an AWS API response (ResponseParserError)")
    if not isinstance(exc, ClientError):
        return AwsError(f"{what}: {type(exc).__name__} in the AWS SDK {NOT_AN_API_ANSWER[:-1]}?)")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    text = " ".join(str(error.get("Message", "")).split())
    if code.isdigit() or code == "Unknown" or text.startswith("<"):
        return _not_an_answer(what, exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or code)
    if len(text) > MESSAGE_MAX:
        text = text[:MESSAGE_MAX].rstrip() + "…"
    message = f"{what}: {code}: {text}".strip().rstrip(":")
    if code in _NOT_FOUND:
        return NotFoundError(message)
    if code in _DENIED:
        return AccessDeniedError(message)
    if code in _REJECTED:
        return RejectedError(message)
    return AwsError(message)


def call(what: str, fn: Callable[..., T], **kwargs: Any) -> T:
    """A client's call; whatever it raises, an AwsError (``translate``)."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        raise translate(what, exc) from None


def pages(what: str, client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """The pages of a paginated call, errors translated like ``call``'s."""
    try:
        yield from client.get_paginator(operation).paginate(**kwargs)
    except Exception as exc:
        raise translate(what, exc) from None


def answer(what: str, response: dict[str, Any], key: str) -> Any:
    """A member an API's answer always holds; its absence means the answer was no API response
    (an HTML page answered 200 parses as an empty answer)."""
    if key not in response:
        raise AwsError(f"{what}: the answer has no {key} {NOT_AN_API_ANSWER}")
    return response[key]
