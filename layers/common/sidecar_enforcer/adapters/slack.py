"""A Slack incoming webhook, through Slack's own SDK (``slack_sdk.webhook.WebhookClient``).

One attempt per ``post``, with no retry handler: the SDK's handlers wait inside the call (a 429's
``Retry-After``, backoff after a 5xx), and a wait the notifier does not see can outlive the Lambda
invocation. The answer is translated into what the notifier decides on (usecases.notify waits,
retries, fails or dead-letters):

- HTTP 200: delivered, unless the body is a JSON object with ``"ok": false`` (a Web API style
  refusal): RefusedDeliveryError; or an HTML page (a proxy's or a captive portal's, not Slack's
  answer: nothing was posted): NotDeliveredError, retried.
- HTTP 429: ThrottledError with the ``Retry-After`` seconds.
- HTTP 5xx, 408 and no answer at all (a connection refused or reset, a timeout): NotDeliveredError,
  a temporary failure. A 5xx whose body is one of the permanent codes below is a refusal.
- Any other status: RefusedDeliveryError. Slack answers a webhook it cannot post with 400
  (``invalid_payload``, ``user_not_found``), 403 (``action_prohibited``), 404
  (``channel_not_found``; ``no_service`` for a revoked webhook), 410 (``channel_is_archived``) and
  500 (``rollup_error``) ("Improving error conditions for Incoming Webhooks", Slack changelog
  2016-05-17; the others from Slack's "Sending messages using incoming webhooks", Handling errors).
  ``invalid_payload`` is a bug of ours, and no retry cures it either.

The webhook's URL is a secret (whoever has it can post to the channel): it is never logged and
never in an error message. The SDK's logger prints the URL and body at DEBUG, and the text of a
connection error at ERROR (a library's message may quote a URL), so it is given a logger of its
own that logs nothing. Only an error code of Slack's (lower-case letters and underscores) is quoted
from a body.

No AWS call: ``PERMISSIONS`` is empty (the URL comes from adapters.secrets).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.webhook import WebhookClient

from ..errors import ConfigurationError, NotDeliveredError, RefusedDeliveryError, ThrottledError

PERMISSIONS: tuple[str, ...] = ()

TIMEOUT_SECONDS = 10  # the longest one post may take (usecases.notify counts it before each post)
DEFAULT_RETRY_AFTER = 1.0  # a 429 without a readable Retry-After

# Codes that no retry cures, whatever the status they come with.
PERMANENT_CODES = frozenset(
    {
        "invalid_payload",
        "user_not_found",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
        "posting_to_general_channel_denied",
        "too_many_attachments",
        "no_service",
        "no_service_id",
        "no_team",
        "team_disabled",
        "invalid_token",
    }
)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")

_sdk_log = logging.getLogger("sidecar_enforcer.slack_sdk")
_sdk_log.setLevel(logging.CRITICAL + 1)  # the SDK checks its logger's own level before DEBUG output


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


def error_code(body: str | None) -> str | None:
    """Slack's error code in a webhook's answer: the body itself (``channel_is_archived``) or a JSON
    object's ``error``; None for anything else (which is never quoted)."""
    text = (body or "").strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return None
        text = str(document.get("error") or "") if isinstance(document, dict) else ""
    return text if _CODE.fullmatch(text) else None


def retry_after(headers: Mapping[str, Any]) -> float:
    """A 429's Retry-After, in seconds (Slack sends a number of seconds)."""
    found = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    value = found[0] if isinstance(found, list) and found else found
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if 0 <= seconds < float("inf") else DEFAULT_RETRY_AFTER


def translate(status: int, body: str | None, headers: Mapping[str, Any]) -> NotDeliveredError | None:
    """What a webhook's answer means: None (delivered), or the error to raise."""
    code = error_code(body)
    said = f"Slack webhook: HTTP {status}" + (f" {code}" if code else "")
    if status == 200:
        if (body or "").lstrip().startswith("<"):  # a proxy's or captive portal's page: nothing posted
            return NotDeliveredError("Slack webhook: HTTP 200 (not Slack's answer)")
        try:
            document = json.loads(body or "")
        except ValueError:
            return None  # "ok", Slack's answer to a message it took
        if isinstance(document, dict) and document.get("ok") is False:
            return RefusedDeliveryError(said)
        return None
    if status == 429:
        return ThrottledError(said, retry_after(headers))
    if code in PERMANENT_CODES:
        return RefusedDeliveryError(said)
    if status >= 500 or status == 408:  # 408: the request timed out on the way, as a lost connection
        return NotDeliveredError(said)
    return RefusedDeliveryError(said)


class SlackWebhook:
    def __init__(self, url: str) -> None:
        self._client = WebhookClient(
            url=checked_url(url),
            timeout=TIMEOUT_SECONDS,
            logger=_sdk_log,
            retry_handlers=[],  # one attempt: the notifier decides on every wait
        )

    def post(self, payload: dict[str, Any]) -> None:
        """Post one message, once. Raises RefusedDeliveryError (for good), ThrottledError (429) or
        NotDeliveredError (a 5xx, no answer)."""
        try:
            response = self._client.send_dict(payload)
        except Exception as exc:  # no answer: its type only (the URL stays out)
            raise NotDeliveredError(f"Slack webhook: {type(exc).__name__}") from None
        error = translate(response.status_code, response.body, response.headers or {})
        if error is not None:
            raise error
