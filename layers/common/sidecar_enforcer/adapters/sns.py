"""Amazon SNS: one JSON message per finding, with message attributes for filter policies; and the
notifier's chat notifications (Amazon Q Developer in chat applications' custom format) to the chat
topic.

IAM action used: ``PERMISSIONS``, on the status topic (router, worker) and the chat topic (notifier).
"""

from __future__ import annotations

import json
from typing import Any

from ..models.findings import Message
from .aws import call

PERMISSIONS = ("sns:Publish",)


class StatusPublisher:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, finding: Message) -> str:
        attributes = {
            k: {"DataType": "String", "StringValue": v} for k, v in finding.message_attributes().items()
        }
        response = call(
            "Publish",
            self._client.publish,
            TopicArn=self._topic_arn,
            Subject=finding.subject(),
            Message=json.dumps(finding.to_message(), sort_keys=True),
            MessageAttributes=attributes,
        )
        return str(response["MessageId"])


class ChatPublisher:
    """Publishes rendered custom notifications (``domain.messages.chat_message``) to the chat topic that
    Amazon Q Developer in chat applications subscribes its channels to."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, notification: dict[str, Any], attributes: dict[str, str]) -> str:
        response = call(
            "Publish",
            self._client.publish,
            TopicArn=self._topic_arn,
            Message=json.dumps(notification, ensure_ascii=False),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v
            },
        )
        return str(response["MessageId"])


class Unpublished:
    """No status topic (STATUS_TOPIC_ARN unset: the CLI offline): findings are logged and returned,
    published nowhere."""

    def publish(self, finding: Message) -> str:
        return ""
