"""FanOutCluster (usecases/fan_out.py): a cluster's services onto the work queue, each with the
cluster's tags."""

from __future__ import annotations

from sidecar_enforcer.models.events import ServiceTarget
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.models.work import parse_item

from ._world import (
    OPT_IN,
    World,
    cluster_item,
    snapshot,
)


def test_a_cluster_item_queues_one_service_item_each_with_the_clusters_tags_read_afresh() -> None:
    world = World(snapshot("api"), snapshot("web", tags={}), cluster_tags=OPT_IN)

    queued = world.enforcer.fan_out(cluster_item())

    assert queued == 2
    assert world.ecs.args("cluster_tags") == [("shop", True)]  # once, afresh, for every service
    targets = [item.target for item in world.queued if isinstance(item.target, ServiceTarget)]
    assert len(targets) == len(world.queued)  # service items only
    assert [(t.cluster, t.service, t.cluster_tags) for t in targets] == [
        ("shop", "api", OPT_IN),
        ("shop", "web", OPT_IN),
    ]
    assert len({item.group for item in world.queued}) == 2  # each in its service's message group
    assert world.table.ops == []  # nothing enforced yet: each service's own item does that


def test_a_queued_service_item_is_decided_on_the_tags_it_carries_not_on_kept_ones() -> None:
    world = World(snapshot("web", tags={}), cluster_tags=OPT_IN)
    world.enforcer.fan_out(cluster_item())
    item = parse_item(world.queued[0].to_body())  # as the worker takes it off the queue
    world.ecs.clusters["shop"] = {}  # what a stale copy would say

    (finding,) = world.enforcer.handle(item.trigger)

    assert finding.status is Status.REMEDIATED
    assert world.ecs.names.count("cluster_tags") == 1  # the fan-out's read only
