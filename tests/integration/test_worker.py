"""The worker on the SQS FIFO work queue (moto in process): a cluster item fans out into one service
item per service, each in its service's message group; a body that is no work item fails its record
and, after the redrive policy's receives, waits intact in the FIFO dead-letter queue; a failed item
holds back the later items of its own group only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sidecar_enforcer.models.events import ClusterTarget, ServiceTarget, Trigger
from sidecar_enforcer.models.work import items_of
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.local import Pipeline

from .conftest import ACCOUNT, Aws, Functions

REGION = "us-east-1"


def item(*targets: Any, event_id: str = "e-1") -> list[Any]:
    trigger = Trigger(event_id=event_id, account=ACCOUNT, region=REGION, name="TagResource", targets=targets)
    return items_of(trigger)


def send(aws: Aws, queue: str, body: str, group: str, dedup: str) -> None:
    aws.sqs.send_message(QueueUrl=queue, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup)


def dead_letters(aws: Aws, queue: str) -> list[dict[str, Any]]:
    policy = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]
    name = json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[-1]
    url = aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    found: list[dict[str, Any]] = aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", [])
    return found


def test_a_cluster_item_queues_one_service_item_per_service_and_each_is_worked_on(
    aws: Aws,
    app: Functions,
    pipeline: Pipeline,
    seeded: fleet.Fleet,
    table: str,
    work_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (cluster,) = item(ClusterTarget(fleet.CLUSTER))
    send(aws, work_queue, cluster.to_body(), cluster.group, cluster.dedup_id)
    services = aws.ecs.list_services(cluster=fleet.CLUSTER)["serviceArns"]
    groups: list[str] = []
    real_process = app.worker.process

    def process(records: list[dict[str, Any]]) -> Any:
        groups.extend(r["attributes"]["MessageGroupId"] for r in records)
        return real_process(records)

    monkeypatch.setattr(app.worker, "process", process)
    drained = pipeline.drain()

    assert drained.delivered == 1 + len(services)
    assert groups[0] == cluster.group
    assert sorted(groups[1:]) == sorted(
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{fleet.CLUSTER}/" + a.rsplit("/", 1)[-1] for a in services
    )
    assert sorted(f["service"] for f in drained.findings) == sorted(a.rsplit("/", 1)[-1] for a in services)
    assert drained.failed == []


def test_a_body_that_is_no_work_item_is_dead_lettered_intact_and_holds_back_its_group_only(
    aws: Aws, pipeline: Pipeline, seeded: fleet.Fleet, table: str, work_queue: str
) -> None:
    (later,) = item(ServiceTarget(fleet.CLUSTER, "billing-worker"))
    (other,) = item(ServiceTarget(fleet.CLUSTER, "search-gateway"), event_id="e-2")
    send(aws, work_queue, '{"v": 1, "hello": "world"}', later.group, "broken")
    send(aws, work_queue, later.to_body(), later.group, later.dedup_id)  # after it, in its group
    send(aws, work_queue, other.to_body(), other.group, other.dedup_id)  # another service's group

    drained = pipeline.drain()

    assert drained.failed[0].startswith("work item: origin: Field required")
    assert "\n" not in drained.failed[0]
    assert [f["service"] for f in drained.findings] == ["search-gateway"]  # the other group went on
    kept = dead_letters(aws, work_queue)
    assert [m["Body"] for m in kept] == ['{"v": 1, "hello": "world"}', later.to_body()]
    assert {m["Attributes"]["MessageGroupId"] for m in kept} == {later.group}
