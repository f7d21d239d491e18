"""ECS's request token buckets, for the bench's proxy to enforce and for the lower bound they put on
a run's time.

Source: "Request throttling for the Amazon ECS API", section "Request Token Bucket Sizes and Refill
Rates" (Amazon ECS API Reference and Developer Guide,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html): per account and
Region, the actions of a category share one bucket; each request takes a token; a bucket of
``capacity`` tokens (the burst rate) refills at ``refill`` tokens a second (the sustained rate). A
request that finds the bucket empty fails with ``ThrottlingException`` ("Rate exceeded", HTTP 400).

The page says a set number of tokens comes back every second; the bench's bucket refills
continuously at the same rate (the same sustained rate, a smoother burst edge).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    capacity: int  # bucket maximum capacity: the burst rate
    refill: float  # tokens a second: the sustained rate
    actions: tuple[str, ...]


# The ECS developer guide's table (see the module's doc), row by row: category, capacity, refill, actions.
ECS_CATEGORIES: tuple[Category, ...] = (
    Category(
        "Cluster modify actions",
        20,
        1,
        (
            "CreateCluster",
            "DeleteCluster",
            "PutClusterCapacityProviders",
            "UpdateCluster",
            "UpdateClusterSettings",
        ),
    ),
    Category("Cluster read actions", 50, 20, ("DescribeClusters", "ListClusters")),
    Category("Task definition modify actions", 20, 1, ("DeregisterTaskDefinition", "RegisterTaskDefinition")),
    Category(
        "Task definition read actions",
        50,
        20,
        ("DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"),
    ),
    Category("Task definition deletion actions", 5, 1, ("DeleteTaskDefinitions",)),
    Category(
        "Capacity provider modify actions",
        10,
        1,
        ("CreateCapacityProvider", "DeleteCapacityProvider", "UpdateCapacityProvider"),
    ),
    Category("Capacity provider read actions", 50, 20, ("DescribeCapacityProviders",)),
    Category("Tag modify actions", 20, 10, ("TagResource", "UntagResource")),
    Category("Tag read actions", 50, 20, ("ListTagsForResource",)),
    Category(
        "Setting modify actions",
        10,
        1,
        ("DeleteAccountSetting", "PutAccountSetting", "PutAccountSettingDefault"),
    ),
    Category("Setting read actions", 50, 20, ("ListAccountSettings",)),
    Category(
        "Cluster resource modify actions",
        100,
        40,
        (
            "DeleteAttributes",
            "DeregisterContainerInstance",
            "ExecuteCommand",
            "PutAttributes",
            "RunTask",
            "StartTask",
            "StopTask",
            "UpdateContainerAgent",
            "UpdateContainerInstancesState",
        ),
    ),
    Category(
        "Cluster resource read actions",
        100,
        20,
        (
            "DescribeContainerInstances",
            "DescribeTasks",
            "ListAttributes",
            "ListContainerInstances",
            "ListTasks",
        ),
    ),
    Category(
        "Agent modify actions",
        200,
        120,
        (
            "RegisterContainerInstance",
            "SubmitAttachmentStateChanges",
            "SubmitContainerStateChange",
            "SubmitTaskStateChange",
        ),
    ),
    Category("Service modify actions", 50, 5, ("CreateService", "DeleteService", "UpdateService")),
    Category("Service read actions", 100, 20, ("DescribeServices", "ListServices")),
    Category("Service deployment actions", 50, 20, ("DescribeServiceDeployments", "ListServiceDeployments")),
    Category("Service revision actions", 50, 20, ("DescribeServiceRevisions",)),
    Category("Task protection actions", 200, 80, ("UpdateTaskProtection", "GetTaskProtection")),
    Category("Cluster service resource read actions", 10, 1, ("ListServicesByNamespace",)),
)

# action -> its category (its bucket)
ECS_BUCKET_OF: dict[str, Category] = {action: c for c in ECS_CATEGORIES for action in c.actions}

THROTTLED_STATUS = 400
# ECS speaks awsJson1.1: the error's code in __type, its message in "message" (the error the guide quotes:
# "Status Code: 400; Error Code: ThrottlingException", "Rate exceeded"). ECS's model does not declare
# ThrottlingException (aws/aws-sdk#821); botocore's retry handler knows the code as throttling.
THROTTLED_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
THROTTLED_CONTENT_TYPE = "application/x-amz-json-1.1"


class TokenBucket:
    """Starts full; ``take`` spends a token when there is one."""

    def __init__(self, capacity: int, refill: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.refill = refill
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._at) * self.refill)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Throttle:
    """One bucket per category, shared by its actions (one account and Region: the bench's)."""

    def __init__(
        self,
        categories: tuple[Category, ...] = ECS_CATEGORIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._buckets = {c.name: TokenBucket(c.capacity, c.refill, clock) for c in categories}
        self._of = {action: c.name for c in categories for action in c.actions}

    def admit(self, service: str, action: str) -> bool:
        """False: answer ThrottlingException. Calls to other services, or to an ECS action no bucket
        lists, always pass."""
        name = self._of.get(action) if service == "ecs" else None
        if name is None:
            return True
        with self._lock:
            return self._buckets[name].take()


def lower_bound(requests: Mapping[str, int], categories: tuple[Category, ...] = ECS_CATEGORIES) -> float:
    """The fewest seconds in which the buckets let these ECS requests (action -> count, the ones that
    succeeded) through from full buckets: the slowest category's (n - capacity) / refill."""
    of = {action: c for c in categories for action in c.actions}
    per: dict[str, int] = {}
    for action, n in requests.items():
        category = of.get(action)
        if category is not None:
            per[category.name] = per.get(category.name, 0) + n
    seconds = 0.0
    for c in categories:
        over = per.get(c.name, 0) - c.capacity
        if over > 0:
            seconds = max(seconds, over / c.refill)
    return seconds


def category_counts(
    requests: Mapping[str, int], categories: tuple[Category, ...] = ECS_CATEGORIES
) -> dict[str, int]:
    """ECS requests per bucket (categories with none left out)."""
    of = {action: c.name for c in categories for action in c.actions}
    out: dict[str, int] = {}
    for action, n in requests.items():
        name = of.get(action)
        if name is not None and n:
            out[name] = out.get(name, 0) + n
    return out


def ceil_div(n: int, d: int) -> int:
    return math.ceil(n / d) if n > 0 else 0
