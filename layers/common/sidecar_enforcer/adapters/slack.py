"""A Slack incoming webhook, through Slack's own SDK (``slack_sdk.webhook.WebhookClient``).

Retries are the SDK's retry handlers: ``RateLimitErrorRetryHandler`` waits what a 429's
``Retry-After`` says (plus up to a second of jitter) and tries again; ``ServerErrorRetryHandler``
retries a 500 or 503 and ``ConnectionErrorRetryHandler`` a connection reset or refused, each with
the SDK's exponential backoff. A post still refused after them raises NotDeliveredError: the
notifier reports its record as a batch item failure, SQS hands it over again after the queue's
visibility timeout, and after maxReceiveCount receives keeps it in the dead-letter queue.

The webhook's URL is a secret (whoever has it can post to the channel): it is never logged and
never in an error message. The SDK's logger prints the URL and body at DEBUG, and the text of a
connection error at ERROR (a library's message may quote a URL), so it is given a logger of its
own that logs nothing: the notifier logs one line of its own per failed record.

No AWS call: ``PERMISSIONS`` is empty (the URL comes from adapters.secrets).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryIntervalCalculator,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.handler import default_interval_calculator
from slack_sdk.webhook import WebhookClient

from ..errors import ConfigurationError, NotDeliveredError

PERMISSIONS: tuple[str, ...] = ()

TIMEOUT_SECONDS = 10
RATE_LIMIT_RETRIES = 2  # 429: wait Retry-After, twice at most in one invocation
SERVER_ERROR_RETRIES = 2  # 500 / 503
CONNECTION_RETRIES = 2

_sdk_log = logging.getLogger("sidecar_enforcer.slack_sdk")
_sdk_log.setLevel(logging.CRITICAL + 1)  # the SDK checks its logger's own level before DEBUG output


def retry_handlers(interval: RetryIntervalCalculator = default_interval_calculator) -> list[RetryHandler]:
    """The SDK's handlers for rate limits (Retry-After), server errors and connection errors;
    ``interval`` is the backoff between the latter (the tests pass a shorter one)."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
        ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES, interval_calculator=interval),
        ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES, interval_calculator=interval),
    ]


def checked_url(url: str) -> str:
    """The webhook URL, if it is one: https (http only to this machine, for tests and the demo).
    The message never quotes it."""
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here, not in the SDK
    except ValueError:
        raise ConfigurationError("the Slack webhook secret holds no https URL") from None
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise ConfigurationError("the Slack webhook secret holds no https URL")
    return url.strip()


class SlackWebhook:
    def __init__(self, url: str, handlers: list[RetryHandler] | None = None) -> None:
        self._client = WebhookClient(
            url=checked_url(url),
            timeout=TIMEOUT_SECONDS,
            logger=_sdk_log,
            retry_handlers=handlers if handlers is not None else retry_handlers(),
        )

    def post(self, payload: dict[str, Any]) -> None:
        """Post one message; raises NotDeliveredError when Slack did not take it after the retries."""
        try:
            response = self._client.send_dict(payload)
        except Exception as exc:  # the connection kept failing: its type only (the URL stays out)
            raise NotDeliveredError(f"Slack webhook: {type(exc).__name__} after retries") from None
        if response.status_code != 200:
            body = " ".join(str(response.body or "").split())[:100]
            raise NotDeliveredError(f"Slack webhook: HTTP {response.status_code} {body}".rstrip())
