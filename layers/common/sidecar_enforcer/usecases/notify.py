"""Notify: one status from the notifier's queue, rendered once, delivered to each configured sink.

A record's body is what SNS delivered to the queue: the SNS envelope (raw message delivery off:
``Type``, ``MessageId``, ``TopicArn``, ``Message`` = the status JSON, ``MessageAttributes``), or the
status itself when a subscription has raw delivery on. The status is read as a plain JSON object
(``domain.notice``), so a newer 1.x status (a field added, e.g. ``remedy``) renders as well.

Sinks, each only when configured: a Slack incoming webhook (Block Kit, ``domain.slack_message``)
and the chat topic of Amazon Q Developer in chat applications (``domain.chat_message``). The
record's queue picks the route: the second Slack channel's queue goes to its webhook only; every
other record to the first webhook and the chat topic.

Delivery is at least once. Slack is posted first, then the chat topic: a record whose Slack post
failed is retried whole, and one whose (rarer) SNS publish failed after Slack took it may post to
Slack twice. A record that holds no status is malformed: retrying cannot fix it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..domain import chat_message, slack_message
from ..domain.notice import read
from ..errors import MalformedEventError

SCHEMA_MAJOR = "1"


class Poster(Protocol):
    def post(self, payload: dict[str, Any]) -> None: ...


class ChatSink(Protocol):
    def publish(self, notification: dict[str, Any], attributes: dict[str, str]) -> str: ...


@dataclass(frozen=True)
class Delivery:
    """One status to notify about, with where it came from."""

    status: dict[str, Any]
    message_id: str | None = None  # the SNS message's id
    attributes: dict[str, str] = field(default_factory=dict)  # SNS message attributes
    queue_arn: str | None = None  # the queue the record came from (the route)


@dataclass(frozen=True)
class Route:
    slack: Callable[[], Poster] | None = None  # built on first use: reads the webhook's secret
    chat: ChatSink | None = None


def parse_delivery(body: str | None, queue_arn: str | None = None) -> Delivery:
    """The status in a record's body; MalformedEventError (one line, no content) when there is none."""
    try:
        document = json.loads(body or "")
    except ValueError:
        raise MalformedEventError("notifier record: the body is not JSON") from None
    if not isinstance(document, dict):
        raise MalformedEventError("notifier record: the body is not a JSON object")
    message_id, attributes = None, {}
    if document.get("Type") == "Notification" and "Message" in document:
        message_id = document.get("MessageId") if isinstance(document.get("MessageId"), str) else None
        raw_attributes = document.get("MessageAttributes")
        if isinstance(raw_attributes, dict):
            attributes = {
                str(k): str(v.get("Value"))
                for k, v in raw_attributes.items()
                if isinstance(v, dict) and isinstance(v.get("Value"), str)
            }
        try:
            document = json.loads(document["Message"])
        except (TypeError, ValueError):
            raise MalformedEventError("notifier record: the SNS message is not JSON") from None
        if not isinstance(document, dict):
            raise MalformedEventError("notifier record: the SNS message is not a JSON object")
    status, version = document.get("status"), document.get("schemaVersion")
    if not isinstance(status, str) or not status:
        raise MalformedEventError("notifier record: no status in the message")
    if not isinstance(version, str) or version.split(".", 1)[0] != SCHEMA_MAJOR:
        raise MalformedEventError(
            f"notifier record: schemaVersion {str(version)[:20]!r} is not 1.x (schemas/status-v1.json)"
        )
    return Delivery(document, message_id, attributes, queue_arn)


@dataclass
class Outcome:
    slack: dict[str, Any] | None = None  # the payload posted
    chat: dict[str, Any] | None = None  # the notification published


class Notify:
    def __init__(self, routes: dict[str | None, Route]) -> None:
        """``routes`` by queue ARN; the key None is the route of every other queue."""
        self._routes = routes

    def __call__(self, delivery: Delivery) -> Outcome:
        """Render and deliver; raises NotDeliveredError or AwsError (the record is retried)."""
        route = self._routes.get(delivery.queue_arn) or self._routes.get(None) or Route()
        notice = read(delivery.status)
        outcome = Outcome()
        if route.slack is not None:
            payload = slack_message.render(notice)
            route.slack().post(payload)
            outcome.slack = payload
        if route.chat is not None:
            notification = chat_message.render(notice, delivery.message_id)
            attributes = {k: v for k, v in delivery.attributes.items() if k in CHAT_ATTRIBUTES}
            route.chat.publish(notification, attributes)
            outcome.chat = notification
        return outcome


# The status topic's message attributes passed on to the chat topic, so Amazon Q Developer's
# channels can filter their subscriptions the same way (models.findings.message_attributes).
CHAT_ATTRIBUTES = frozenset({"status", "account", "region", "cluster", "profile", "mode"})
