"""What the ECS adapter keeps between events on a warm container, and when it reads again."""

from __future__ import annotations

from typing import Any

from sidecar_enforcer.adapters.ecs import EcsGateway

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/orders:3"


class Client:
    """Answers DescribeTaskDefinition with the tags it holds now, counting the calls."""

    def __init__(self) -> None:
        self.tags: list[dict[str, str]] = []
        self.calls = 0

    def describe_task_definition(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        document = {"taskDefinitionArn": ARN, "family": "orders", "revision": 3, "containerDefinitions": []}
        return {"taskDefinition": document, "tags": list(self.tags)}


def test_a_revision_is_described_once_but_read_again_when_its_tags_decide() -> None:
    client = Client()
    ecs = EcsGateway(client)

    assert ecs.describe_task_definition(ARN).tags == []
    assert ecs.describe_task_definition(ARN).tags == []  # immutable content: kept
    assert client.calls == 1

    client.tags = [{"key": "tracing-sidecar", "value": "jaeger"}]  # TagResource on the revision
    assert ecs.describe_task_definition(ARN).tags == []  # the kept copy does not know
    assert ecs.describe_task_definition(ARN, fresh=True).tags == client.tags
    assert client.calls == 2
    assert ecs.describe_task_definition(ARN).tags == client.tags  # and the fresh copy is kept
