"""Amazon SQS: a status SNS refused for good goes to the stack's dead-letter queue, intact.

IAM action used: ``PERMISSIONS``, on the dead-letter queue.
"""

from __future__ import annotations

import json
from typing import Any

from .aws import call

PERMISSIONS = ("sqs:SendMessage",)

REASON_CHARS = 256  # the why, as a message attribute


class DeadLetterQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, message: dict[str, Any], reason: str) -> None:
        """The status message as its body (the JSON SNS would have carried); why, as attributes."""
        call(
            "SendMessage",
            self._client.send_message,
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(message, sort_keys=True),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "sidecar-enforcer status"},
                "reason": {"DataType": "String", "StringValue": reason[:REASON_CHARS] or "refused"},
            },
        )
