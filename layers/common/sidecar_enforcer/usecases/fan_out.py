"""A cluster's opt-in tag changed: queue one work item per service of the cluster, each in its
service's message group (ordered with that service's other items) and carrying the cluster's tags as
read now, so no invocation's work grows with the size of a cluster and no service is decided on
tags a warm container kept from before the change."""

from __future__ import annotations

from collections.abc import Callable

from ..domain.ecs.arns import parse_arn, service_ref
from ..models.events import ClusterTarget, ServiceTarget
from ..models.work import WorkItem
from .ports import Ecs, WorkQueue


class FanOutCluster:
    def __init__(self, queue: Callable[[], WorkQueue]) -> None:
        self._queue = queue

    def __call__(self, ecs: Ecs, item: WorkItem) -> int | None:
        """How many service items were queued. ``ecs`` is the item's account's and region's (a
        member account's through its member role); None when ECS names services of another account
        than the item's, which queues nothing (the caller reports the item as it is). A cluster that
        does not exist raises NotFoundError."""
        target = item.target
        assert isinstance(target, ClusterTarget)
        services = list(ecs.list_services(target.cluster))
        accounts = {arn.account if (arn := parse_arn(name)) else "" for name in services}
        if accounts - {item.trigger.account}:
            return None
        tags = ecs.cluster_tags(target.cluster, fresh=True)
        children = [
            item.child(ServiceTarget(*service_ref(arn, target.cluster), cluster_tags=tags))
            for arn in services
        ]
        self._queue().send(children)
        return len(children)
