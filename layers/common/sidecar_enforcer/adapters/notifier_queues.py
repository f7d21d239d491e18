"""The notifier's own queues (the SQS queues its event source mappings read): a record's return
put off to when Slack said to come back (ChangeMessageVisibility on the record's receipt handle),
and a record whose status one sink took while another failed put back as a new message that says
which sinks have it (attribute ``delivered``), so the retry does not deliver to them again.

The queue's URL comes from the record's ``eventSourceARN`` (GetQueueUrl with the queue's name and
owner, once per queue and container).

IAM actions used: ``PERMISSIONS``, on the notifier's queues (template.yaml, NotifierFunction).
"""

from __future__ import annotations

from typing import Any

from ..domain.ecs.arns import parse_arn
from ..errors import ConfigurationError
from .aws import call

PERMISSIONS = ("sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:SendMessage")

DELIVERED = "delivered"  # the message attribute: the sinks that have the record's status, comma-separated
MAX_VISIBILITY_SECONDS = 43_200  # ChangeMessageVisibility: 12 hours at most


class NotifierQueues:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._urls: dict[str, str] = {}

    def url(self, queue_arn: str) -> str:
        found = self._urls.get(queue_arn)
        if found is None:
            parsed = parse_arn(queue_arn)
            if parsed is None or parsed.service != "sqs":
                raise ConfigurationError(f"{queue_arn[:200]!r} is no SQS queue ARN")
            response = call(
                "GetQueueUrl",
                self._client.get_queue_url,
                QueueName=parsed.resource,
                QueueOwnerAWSAccountId=parsed.account,
            )
            found = self._urls[queue_arn] = str(response["QueueUrl"])
        return found

    def retry_after(self, queue_arn: str, receipt_handle: str, seconds: float) -> None:
        """The record comes back ``seconds`` from now (rounded up), not after the queue's timeout."""
        timeout = min(max(int(-(-seconds // 1)), 0), MAX_VISIBILITY_SECONDS)
        call(
            "ChangeMessageVisibility",
            self._client.change_message_visibility,
            QueueUrl=self.url(queue_arn),
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=timeout,
        )

    def requeue(self, queue_arn: str, body: str, delivered: frozenset[str]) -> None:
        """The record again, as a new message of its queue, saying which sinks have it."""
        call(
            "SendMessage",
            self._client.send_message,
            QueueUrl=self.url(queue_arn),
            MessageBody=body,
            MessageAttributes={DELIVERED: {"DataType": "String", "StringValue": ",".join(sorted(delivered))}},
        )
