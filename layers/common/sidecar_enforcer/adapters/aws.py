"""Lazily built, cached boto3 clients. The standard configuration applies, ``AWS_ENDPOINT_URL``
included (boto3 >= 1.28), which is how the demo and tests point at moto's server.

Throttling is retried with botocore's adaptive mode (client-side rate limiting + retries).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .. import __version__
from ..errors import AccessDeniedError, AwsError, NotFoundError, RejectedError

RETRIES = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra=f"sidecar-enforcer/{__version__}",
    connect_timeout=5,
    read_timeout=30,
)


# botocore's DEBUG log prints request bodies, and a RegisterTaskDefinition body holds container
# environment values. Lambda's log-level control (AWS_LAMBDA_LOG_LEVEL) sets the root logger, so the
# SDK's loggers are pinned here: turning the function to DEBUG never leaks a value.
SDK_LOGGERS = ("boto3", "botocore", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


class Clients:
    """One client per (service, region), created on first use and reused (clients are thread-safe;
    creating them is not, hence the lock)."""

    def __init__(self, session: boto3.session.Session | None = None) -> None:
        quiet_sdk_loggers()
        self._session = session
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @property
    def session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=region, config=RETRIES)  # type: ignore[call-overload]
            return self._clients[key]


_NOT_FOUND = {"ServiceNotFoundException", "ClusterNotFoundException", "ResourceNotFoundException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
_REJECTED = {
    "ClientException",
    "InvalidParameterException",
    "InvalidParameter",  # SNS: e.g. a message over 256 KB; a retry never helps
    "InvalidParameterValue",
    "ServiceNotActiveException",
    "PlatformUnknownException",
    "PlatformTaskDefinitionIncompatibilityException",
}

T = TypeVar("T")


def translate(what: str, exc: ClientError | BotoCoreError) -> AwsError:
    """ClientError -> a domain error with a one-line message (the API's message, no request values)."""
    if isinstance(exc, BotoCoreError):  # connection errors, timeouts after retries
        return AwsError(f"{what}: {type(exc).__name__}")
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = f"{what}: {code}: {error.get('Message', '')}".strip().rstrip(":")
    if code in _NOT_FOUND:
        return NotFoundError(message)
    if code in _DENIED:
        return AccessDeniedError(message)
    if code in _REJECTED:
        return RejectedError(message)
    return AwsError(message)


def call(what: str, fn: Callable[..., T], **kwargs: Any) -> T:
    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(what, exc) from None


def pages(what: str, client: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """The pages of a paginated call, errors translated like ``call``'s."""
    try:
        yield from client.get_paginator(operation).paginate(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(what, exc) from None
