"""A notifier queue record's body read as one status to deliver. The body is what SNS delivered to
the queue: the SNS envelope (raw message delivery off: ``Type``, ``MessageId``, ``TopicArn``,
``Message`` = the status JSON, ``MessageAttributes``), or the status itself when a subscription has
raw delivery on. The status stays a plain JSON object (``domain.messages.notice`` reads it), so a newer 1.x
status (a field added, e.g. ``remedy``) renders as well."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import MalformedEventError

SCHEMA_MAJOR = "1"


@dataclass(frozen=True)
class Delivery:
    """One status to notify about, with where it came from."""

    status: dict[str, Any]
    message_id: str | None = None  # the SNS message's id
    attributes: dict[str, str] = field(default_factory=dict)  # SNS message attributes
    queue_arn: str | None = None  # the queue the record came from (the route)


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
