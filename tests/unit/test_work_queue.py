"""The work queue adapter: SendMessageBatch ten at a time, each item with its group and dedup id,
and a batch SQS partly refuses is an error naming how many items were not queued."""

from __future__ import annotations

from typing import Any

import pytest
from sidecar_enforcer.adapters.sqs import WorkQueue
from sidecar_enforcer.errors import AwsError, RejectedError
from sidecar_enforcer.models.events import ServiceTarget, Trigger
from sidecar_enforcer.models.work import items_of

URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/work.fifo"


class FakeSqs:
    def __init__(self, refuse: dict[int, list[dict[str, Any]]] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse or {}

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        failed = self.refuse.get(len(self.calls), [])
        ids = {f["Id"] for f in failed}
        ok = [{"Id": e["Id"], "MessageId": f"m{e['Id']}"} for e in kwargs["Entries"] if e["Id"] not in ids]
        return {"Successful": ok, "Failed": failed}


def items(n: int) -> list[Any]:
    trigger = Trigger(
        event_id="e-1",
        account="123456789012",
        region="eu-west-1",
        name="TagResource",
        targets=tuple(ServiceTarget("shop", f"svc-{i}") for i in range(n)),
    )
    return items_of(trigger)


def test_items_go_ten_per_call_with_their_group_and_dedup_id() -> None:
    sqs = FakeSqs()
    queued = items(25)

    sent = WorkQueue(sqs, URL).send(queued)

    assert sent == 25
    assert [len(c["Entries"]) for c in sqs.calls] == [10, 10, 5]
    entries = [e for c in sqs.calls for e in c["Entries"]]
    assert [e["MessageGroupId"] for e in entries] == [i.group for i in queued]
    assert [e["MessageDeduplicationId"] for e in entries] == [i.dedup_id for i in queued]
    assert [e["MessageBody"] for e in entries] == [i.to_body() for i in queued]
    assert {c["QueueUrl"] for c in sqs.calls} == {URL}


def test_nothing_to_queue_makes_no_call() -> None:
    sqs = FakeSqs()

    assert WorkQueue(sqs, URL).send([]) == 0
    assert sqs.calls == []


def test_a_partly_refused_batch_raises_naming_how_many_were_not_queued() -> None:
    refused = [
        {"Id": "3", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
        {"Id": "4", "SenderFault": False, "Code": "InternalError", "Message": "try again"},
    ]
    sqs = FakeSqs(refuse={2: refused})

    with pytest.raises(AwsError) as caught:
        WorkQueue(sqs, URL).send(items(25))

    # two of the second batch, and the five of the third, never sent
    assert str(caught.value) == "SendMessageBatch: 7 of 25 work item(s) not queued: InternalError: try again"
    assert not isinstance(caught.value, RejectedError)
    assert len(sqs.calls) == 2


def test_a_batch_refused_for_the_sender_s_fault_is_not_retried() -> None:
    refused = [{"Id": "0", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "too long"}]

    with pytest.raises(RejectedError, match="1 of 1 work item"):
        WorkQueue(FakeSqs(refuse={1: refused}), URL).send(items(1))
