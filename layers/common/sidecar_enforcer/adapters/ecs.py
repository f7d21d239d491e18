"""Amazon ECS, as the enforcer needs it.

IAM actions used: ``PERMISSIONS`` (ecs:TagResource for RegisterTaskDefinition with tags, iam:PassRole
for its task and execution roles).

API limits respected: DescribeServices takes at most 10 services per call, DescribeTasks at most
100 tasks; ListServices, ListTasks and ListTaskDefinitions page (100 per page at most). Task
definition revisions are immutable, so a revision described by its full ARN is cached; a cluster's
tags are kept for a minute.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from ..domain.ecs.arns import task_definition_family, task_definition_revision
from ..domain.ecs.snapshots import DeploymentState, ServiceSnapshot, TaskState
from ..domain.ecs.taskdef import TaskDefinitionDocument, unwrap
from ..domain.planning.markers import registered_for
from ..errors import NotFoundError, RejectedError
from .aws import answer, call, pages

__all__ = ["DeploymentState", "EcsGateway", "ServiceSnapshot", "TaskState"]

PERMISSIONS = (
    "ecs:DescribeServices",
    "ecs:DescribeClusters",
    "ecs:ListServices",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:TagResource",
    "ecs:UpdateService",
    "ecs:ListTasks",
    "ecs:DescribeTasks",
    "iam:PassRole",
)

DESCRIBE_SERVICES_MAX = 10  # DescribeServices: up to 10 services per call
DESCRIBE_TASKS_MAX = 100  # DescribeTasks: up to 100 tasks per call
NEWER_REVISIONS_CHECKED = 10  # how many revisions after the source to look through for ours
LIST_PAGE_SIZE = 100  # ListTaskDefinitions: up to 100 per page
_CACHE_SIZE = 256
# A cluster's opt-in tag changes rarely, and its own TagResource event reads it afresh: a service
# event may decide on tags up to this old.
CLUSTER_TAGS_SECONDS = 60.0


class EcsGateway:
    def __init__(
        self, client: Any, clock: Callable[[], float] = time.monotonic, *, cache_size: int = _CACHE_SIZE
    ) -> None:
        """``cache_size``: revisions kept (a backfill keeps every revision of its run: each is
        described at most once). The caches are shared by a backfill's threads: one lock."""
        self._client = client
        self._clock = clock
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._describing: dict[str, threading.Event] = {}  # revisions being described now
        self._revisions: OrderedDict[str, TaskDefinitionDocument] = OrderedDict()
        self._cluster_tags: OrderedDict[str, tuple[float, dict[str, str]]] = OrderedDict()

    # -- services ---------------------------------------------------------------------------------

    def describe_services(self, cluster: str, services: list[str]) -> list[ServiceSnapshot]:
        found: list[ServiceSnapshot] = []
        for start in range(0, len(services), DESCRIBE_SERVICES_MAX):
            batch = services[start : start + DESCRIBE_SERVICES_MAX]
            response = call(
                "DescribeServices",
                self._client.describe_services,
                cluster=cluster,
                services=batch,
                include=["TAGS"],
            )
            found.extend(
                ServiceSnapshot.from_api(s) for s in answer("DescribeServices", response, "services")
            )
        return found

    def describe_service(self, cluster: str, service: str) -> ServiceSnapshot | None:
        found = self.describe_services(cluster, [service])
        return found[0] if found else None

    def list_services(self, cluster: str) -> Iterator[str]:
        for page in pages(
            "ListServices", self._client, "list_services", cluster=cluster, PaginationConfig={"PageSize": 100}
        ):
            yield from page.get("serviceArns", [])

    def cluster_tags(self, cluster: str, *, fresh: bool = False) -> dict[str, str]:
        """A cluster's tags, kept for CLUSTER_TAGS_SECONDS: every untagged service of a cluster asks
        for them. ``fresh``: read them now (the cluster's own tag just changed). Kept by the
        cluster's name: a service names its cluster by ARN, the cluster's own event by name, and
        the fresh read must be what the services see next."""
        now = self._clock()
        key = cluster.rsplit("/", 1)[-1]
        with self._lock:
            kept = self._cluster_tags.get(key)
        if kept is not None and not fresh and now - kept[0] < CLUSTER_TAGS_SECONDS:
            return dict(kept[1])
        response = call(
            "DescribeClusters", self._client.describe_clusters, clusters=[cluster], include=["TAGS"]
        )
        clusters = answer("DescribeClusters", response, "clusters")
        tags = {t["key"]: t.get("value", "") for t in clusters[0].get("tags") or []} if clusters else {}
        with self._lock:
            self._cluster_tags[key] = (now, tags)
            if len(self._cluster_tags) > self._cache_size:
                self._cluster_tags.popitem(last=False)
        return dict(tags)

    def deploy(self, cluster: str, service: str, task_definition_arn: str) -> str | None:
        """UpdateService to the revision; the id of the deployment it started (the PRIMARY one in
        the response), which "ECS Deployment State Change" events name."""
        response = call(
            "UpdateService",
            self._client.update_service,
            cluster=cluster,
            service=service,
            taskDefinition=task_definition_arn,
            forceNewDeployment=True,
        )
        state = ServiceSnapshot.from_api(answer("UpdateService", response, "service"))
        primary = [d.id for d in state.deployments if d.status == "PRIMARY" and d.id]
        return primary[0] if primary else None

    def deployment_tasks(self, cluster: str, deployment_id: str) -> list[TaskState]:
        """The running tasks a deployment started: ECS sets a service task's startedBy to the
        deployment's id. ListTasks: "When you specify startedBy as the filter, it must be the only
        filter that you use"; desiredStatus defaults to RUNNING."""
        arns: list[str] = []
        for page in pages(
            "ListTasks",
            self._client,
            "list_tasks",
            cluster=cluster,
            startedBy=deployment_id,
        ):
            arns.extend(page.get("taskArns", []))
        tasks: list[TaskState] = []
        for start in range(0, len(arns), DESCRIBE_TASKS_MAX):
            response = call(
                "DescribeTasks",
                self._client.describe_tasks,
                cluster=cluster,
                tasks=arns[start : start + DESCRIBE_TASKS_MAX],
            )
            tasks.extend(
                TaskState(
                    arn=t["taskArn"],
                    task_definition=t.get("taskDefinitionArn", ""),
                    last_status=t.get("lastStatus", ""),
                    containers={c["name"]: c.get("lastStatus", "") for c in t.get("containers", [])},
                    stopped_reason=t.get("stoppedReason"),
                )
                for t in answer("DescribeTasks", response, "tasks")
            )
        return tasks

    # -- task definitions -------------------------------------------------------------------------

    def describe_task_definition(
        self, task_definition: str, *, fresh: bool = False
    ) -> TaskDefinitionDocument:
        """A revision (or a family's newest). The content of a revision never changes, its tags
        can: ``fresh`` reads it again when its tags decide (a TagResource on the revision). Threads
        asking for one revision at once make one call: the others wait for its answer."""
        if fresh:
            return self._describe_task_definition(task_definition)
        while True:
            with self._lock:
                cached = self._revisions.get(task_definition)
                if cached is not None:
                    self._revisions.move_to_end(task_definition)
                    return cached
                waiting = self._describing.get(task_definition)
                if waiting is None:
                    self._describing[task_definition] = threading.Event()
                    break
            waiting.wait()  # then the cache has it (or the call failed: this thread tries itself)
        try:
            return self._describe_task_definition(task_definition)
        finally:
            with self._lock:
                self._describing.pop(task_definition).set()

    def _describe_task_definition(self, task_definition: str) -> TaskDefinitionDocument:
        try:
            response = call(
                "DescribeTaskDefinition",
                self._client.describe_task_definition,
                taskDefinition=task_definition,
                include=["TAGS"],
            )
        except RejectedError as exc:
            # ECS answers a family or revision that does not exist with ClientException "Unable to
            # describe task definition.", not a NotFound code (seen from the API; moto does the same).
            if "Unable to describe task definition" in str(exc):
                raise NotFoundError(f"task definition {task_definition} does not exist") from None
            raise
        described = answer("DescribeTaskDefinition", response, "taskDefinition")
        document = unwrap({"taskDefinition": described, "tags": response.get("tags") or []}, owned=True)
        arn = document.arn
        if arn and task_definition_revision(arn) is not None:  # immutable: safe to keep
            with self._lock:
                self._revisions[arn] = document
                if len(self._revisions) > self._cache_size:
                    self._revisions.popitem(last=False)
        return document

    def register(self, request: dict[str, Any]) -> str:
        response = call("RegisterTaskDefinition", self._client.register_task_definition, **request)
        return str(answer("RegisterTaskDefinition", response, "taskDefinition")["taskDefinitionArn"])

    def task_definition_status(self, task_definition_arn: str) -> str | None:
        """A revision's status now (ACTIVE, INACTIVE, DELETE_IN_PROGRESS), or None when ECS no
        longer describes it. Read live, never from the cache: unlike the content, the status of a
        revision changes (DeregisterTaskDefinition, DeleteTaskDefinitions)."""
        try:
            response = call(
                "DescribeTaskDefinition",
                self._client.describe_task_definition,
                taskDefinition=task_definition_arn,
            )
        except (NotFoundError, RejectedError):  # ECS: "ClientException: Unable to describe task definition"
            return None
        return str(answer("DescribeTaskDefinition", response, "taskDefinition").get("status", "ACTIVE"))

    def find_registered(self, source_arn: str, profile_label: str) -> str | None:
        """A compliant revision the enforcer already registered for this source and profile version
        (its marker tags say so), among the newest revisions registered after the source.

        ListTaskDefinitions with sort DESC lists the families the prefix also matches (longer names
        sort after it) first, then the family's own revisions newest first: the listing stops at the
        page that reaches the source revision, so a family with thousands of older revisions costs
        one page. Within a page the order is not relied on."""
        family = task_definition_family(source_arn)
        source_revision = task_definition_revision(source_arn) or 0
        newer: list[tuple[int, str]] = []
        for page in pages(
            "ListTaskDefinitions",
            self._client,
            "list_task_definitions",
            familyPrefix=family,
            status="ACTIVE",
            sort="DESC",
            PaginationConfig={"PageSize": LIST_PAGE_SIZE},
        ):
            listed = [
                (task_definition_revision(arn) or 0, arn)
                for arn in page.get("taskDefinitionArns", [])
                if task_definition_family(arn) == family  # not another family starting with this name
            ]
            newer.extend((revision, arn) for revision, arn in listed if revision > source_revision)
            if len(newer) >= NEWER_REVISIONS_CHECKED or any(r <= source_revision for r, _ in listed):
                break  # the pages after this one hold older revisions only
        for _, arn in sorted(newer, reverse=True)[:NEWER_REVISIONS_CHECKED]:
            if registered_for(self.describe_task_definition(arn).tags, source_arn, profile_label):
                return arn
        return None
