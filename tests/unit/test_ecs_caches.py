"""What the ECS adapter keeps between events on a warm container, and when it reads again."""

from __future__ import annotations

from typing import Any

from sidecar_enforcer.adapters.ecs import CLUSTER_TAGS_SECONDS, EcsGateway

from ._fakes import Clock
from ._world import CLUSTER_ARN, OPT_IN

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


# -- EcsGateway.cluster_tags: kept for a minute ----------------------------------------------------------


class DescribeClustersClient:
    """Just enough of a boto3 ECS client for cluster_tags: counts DescribeClusters."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.asked: list[dict[str, Any]] = []

    def describe_clusters(self, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs)
        arn = kwargs["clusters"][0]
        return {
            "clusters": [{"clusterArn": arn, "tags": [{"key": k, "value": v} for k, v in self.tags.items()]}]
        }


def test_a_clusters_tags_are_kept_for_a_minute_and_read_again_when_fresh_is_asked() -> None:
    client = DescribeClustersClient(OPT_IN)
    clock = Clock(0.0)
    ecs = EcsGateway(client, clock=clock)

    assert ecs.cluster_tags("shop") == OPT_IN
    clock.advance(CLUSTER_TAGS_SECONDS - 1)
    assert ecs.cluster_tags("shop") == OPT_IN
    assert client.asked == [{"clusters": ["shop"], "include": ["TAGS"]}]

    client.tags = {"tracing-sidecar": "off"}
    assert ecs.cluster_tags("shop", fresh=True) == {"tracing-sidecar": "off"}
    assert len(client.asked) == 2
    clock.advance(CLUSTER_TAGS_SECONDS - 1)  # kept from the fresh read on
    assert ecs.cluster_tags("shop") == {"tracing-sidecar": "off"}
    assert len(client.asked) == 2

    clock.advance(1)
    client.tags = {}
    assert ecs.cluster_tags("shop") == {}
    assert len(client.asked) == 3


def test_cluster_tags_are_kept_per_cluster_and_handed_out_as_copies() -> None:
    client = DescribeClustersClient(OPT_IN)
    ecs = EcsGateway(client, clock=Clock(0.0))

    ecs.cluster_tags("shop")["tracing-sidecar"] = "off"  # a caller's change stays its own
    assert ecs.cluster_tags("shop") == OPT_IN
    ecs.cluster_tags("billing")
    assert [a["clusters"] for a in client.asked] == [["shop"], ["billing"]]


def test_a_fresh_read_by_the_clusters_name_is_what_its_services_see_by_its_arn() -> None:
    # The cluster's TagResource event reads its tags afresh by name (ClusterTarget); a service event
    # a moment later asks by the service's clusterArn: it must not get the tags from before.
    client = DescribeClustersClient(OPT_IN)
    ecs = EcsGateway(client, clock=Clock(0.0))
    assert ecs.cluster_tags(CLUSTER_ARN) == OPT_IN  # a service event: kept

    client.tags = {"tracing-sidecar": "off"}  # the cluster opts out
    assert ecs.cluster_tags("shop", fresh=True) == {"tracing-sidecar": "off"}

    assert ecs.cluster_tags(CLUSTER_ARN) == {"tracing-sidecar": "off"}
    assert len(client.asked) == 2
