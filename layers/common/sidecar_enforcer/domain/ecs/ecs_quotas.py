"""ECS's request token buckets ("Request throttling for the Amazon ECS API", section "Request
Token Bucket Sizes and Refill Rates": Amazon ECS API Reference and Developer Guide,
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html): per account and
Region, the actions of a category share one bucket; each request takes a token; a bucket of
``capacity`` tokens (the burst rate) refills at ``refill`` tokens a second (the sustained rate). A
request that finds the bucket empty fails with ``ThrottlingException`` ("Rate exceeded", HTTP 400).

Data only: the fleet run paces itself by it (adapters.pacing), the benchmark's proxy enforces it.
"""

from __future__ import annotations

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
