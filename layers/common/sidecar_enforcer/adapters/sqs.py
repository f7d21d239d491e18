"""Amazon SQS: the work queue the router fills and the worker's cluster items add to, and the
stack's dead-letter queue, where a status SNS refused for good goes intact.

IAM action used: ``PERMISSIONS``, on the work queue and the dead-letter queue (SendMessageBatch is
authorised by sqs:SendMessage: "Amazon SQS batch actions" in the SQS developer guide).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..errors import AwsError, RejectedError
from ..models.work import WorkItem
from .aws import call

PERMISSIONS = ("sqs:SendMessage",)

REASON_CHARS = 256  # the why, as a message attribute
BATCH_MAX = 10  # SendMessageBatch: at most 10 messages per call


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

    def send_body(self, body: str, reason: str, kind: str, attributes: dict[str, str] | None = None) -> None:
        """A message as it came (a notifier record: malformed, or refused for good by a sink), its
        body intact, with why (and ``attributes``, e.g. which sinks did take it)."""
        extra = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items() if v}
        call(
            "SendMessage",
            self._client.send_message,
            QueueUrl=self._queue_url,
            MessageBody=body or "(empty)",
            MessageAttributes={
                **extra,
                "kind": {"DataType": "String", "StringValue": kind},
                "reason": {"DataType": "String", "StringValue": reason[:REASON_CHARS] or "malformed"},
            },
        )


class WorkQueue:
    """The SQS FIFO work queue: one message per work item, its group and dedup id from the item."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def send(self, items: Sequence[WorkItem]) -> int:
        """Queue every item (SendMessageBatch, 10 per call); returns how many were sent. SQS answers
        a duplicate (a dedup id it saw within 5 minutes) as a success and does not deliver it, so
        the count says what was sent, not what will be delivered. A batch SQS partly refuses raises
        AwsError naming how many: nothing is dropped silently, and a retry of the whole send is
        safe (what did go through is deduplicated)."""
        sent = 0
        for start in range(0, len(items), BATCH_MAX):
            batch = items[start : start + BATCH_MAX]
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": item.to_body(),
                    "MessageGroupId": item.group,
                    "MessageDeduplicationId": item.dedup_id,
                }
                for n, item in enumerate(batch)
            ]
            response = call(
                "SendMessageBatch", self._client.send_message_batch, QueueUrl=self._queue_url, Entries=entries
            )
            failed = response.get("Failed") or []
            if failed:
                first = failed[0]
                unsent = len(failed) + len(items) - start - len(batch)  # this batch's, and the later ones
                message = (
                    (
                        f"SendMessageBatch: {unsent} of {len(items)} work item(s) not queued: "
                        f"{first.get('Code', 'Unknown')}: {first.get('Message', '')}"
                    )
                    .strip()
                    .rstrip(":")
                )
                sender = all(f.get("SenderFault") for f in failed)
                raise RejectedError(message) if sender else AwsError(message)
            sent += len(batch)
        return sent
