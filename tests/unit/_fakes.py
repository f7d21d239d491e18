"""Fakes for the use cases' unit tests, each satisfying its port (usecases/ports.py, ledger.Table;
checked by mypy): an ECS gateway holding services and task definitions in dicts, a state table that
counts its reads and writes, a clock, a publisher, a task role checker.
Each records what it was asked, so a test can say which calls a path costs. No moto, no boto3."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from sidecar_enforcer.adapters.memory import MemoryTable
from sidecar_enforcer.domain.ecs.arns import task_definition_family, task_definition_revision
from sidecar_enforcer.domain.ecs.snapshots import DeploymentState, ServiceSnapshot, TaskState
from sidecar_enforcer.domain.ecs.taskdef import TaskDefinitionDocument
from sidecar_enforcer.domain.planning.plan import MARKER_PROFILE, MARKER_SOURCE, source_marker
from sidecar_enforcer.domain.safety.records import Versioned
from sidecar_enforcer.errors import AwsError, NotFoundError
from sidecar_enforcer.models.findings import Finding, Message

from ..conftest import assert_status_message
from ._factories import ACCOUNT, REGION


def task_definition_arn(family: str, revision: int, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:ecs:{region}:{account}:task-definition/{family}:{revision}"


class Clock:
    """Seconds since the epoch, moved on by hand (and by the ledger's pauses)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingTable(MemoryTable):
    """MemoryTable (the same conditional writes as the DynamoDB adapter), recording each access.

    ``fail_put(n, stored=...)``: the n-th put from now (0: the next) raises an AwsError, once; with
    ``stored`` it raises after the write took effect (its answer lost), else instead of it."""

    def __init__(self, *, durable: bool = True) -> None:
        super().__init__()
        self.durable = durable
        self.ops: list[tuple[str, str, str]] = []
        self._fault: tuple[int, bool] | None = None

    def fail_put(self, n: int, *, stored: bool) -> None:
        self._fault = (n, stored)

    def get(self, pk: str, sk: str) -> Versioned | None:
        self.ops.append(("get", pk, sk))
        return super().get(pk, sk)

    def put(
        self, pk: str, sk: str, doc: dict[str, Any], expected: int | None, *, expires: float | None = None
    ) -> bool:
        self.ops.append(("put", pk, sk))
        fault, self._fault = self._fault, None
        if fault is not None and fault[0] > 0:
            self._fault = (fault[0] - 1, fault[1])
        elif fault is not None:
            written = super().put(pk, sk, doc, expected, expires=expires) if fault[1] else False
            raise AwsError(f"PutItem: {'no answer' if written else 'failed'} (a fault injected by the test)")
        return super().put(pk, sk, doc, expected, expires=expires)

    def delete(self, pk: str, sk: str, expected: int) -> bool:
        self.ops.append(("delete", pk, sk))
        return super().delete(pk, sk, expected)

    def query(self, pk: str, limit: int) -> list[tuple[str, Versioned]]:
        self.ops.append(("query", pk, ""))
        return super().query(pk, limit)

    def writes(self) -> list[tuple[str, str, str]]:
        return [op for op in self.ops if op[0] in ("put", "delete")]

    def stored(self) -> set[tuple[str, str]]:
        return {(pk, sk) for pk, sk in self._items}


class FakeEcs:
    """The Ecs port (what the use cases ask of adapters.ecs.EcsGateway), on services and task
    definitions kept in dicts.

    ``calls`` lists (method, args) in order; ``errors`` maps a method to the AwsError it raises;
    ``once`` to one it raises on its next call only; ``lost`` names the calls that change something
    (register, deploy) whose next answer is lost: the change is made, then an AwsError raised.
    UpdateService behaves as ECS does: the service's taskDefinition becomes the new revision, a new
    PRIMARY deployment rolls it out and the former PRIMARY drains (ACTIVE)."""

    def __init__(
        self,
        services: tuple[ServiceSnapshot, ...] = (),
        documents: tuple[TaskDefinitionDocument, ...] = (),
        cluster_tags: dict[str, dict[str, str]] | None = None,
        *,
        account: str = ACCOUNT,  # where it registers task definitions
        region: str = REGION,
    ) -> None:
        self.account, self.region = account, region
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.errors: dict[str, AwsError] = {}
        self.once: dict[str, AwsError] = {}
        self.lost: set[str] = set()
        self.services = {s.name: s for s in services}
        self.documents = {str(d.arn): d for d in documents}
        self.clusters = cluster_tags or {}
        self.tasks: dict[str, list[TaskState]] = {}
        self._deployments = 0

    def _called(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        error = self.errors.get(method) or self.once.pop(method, None)
        if error is not None:
            raise error

    def _answer(self, method: str) -> None:
        """The change is made: its answer is lost if the test said so."""
        if method in self.lost:
            self.lost.discard(method)
            raise AwsError(f"{method}: Unknown: no answer (a fault injected by the test)")

    @property
    def names(self) -> list[str]:
        return [method for method, _ in self.calls]

    def args(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]

    # -- services ----------------------------------------------------------------------------------

    def describe_services(self, cluster: str, services: list[str]) -> list[ServiceSnapshot]:
        self._called("describe_services", cluster, tuple(services))
        names = (s.rsplit("/", 1)[-1] for s in services)
        return [self.services[n] for n in names if n in self.services]

    def describe_service(self, cluster: str, service: str) -> ServiceSnapshot | None:
        self._called("describe_service", cluster, service)
        return self.services.get(service.rsplit("/", 1)[-1])

    def list_services(self, cluster: str) -> Iterator[str]:
        self._called("list_services", cluster)
        yield from (s.arn for s in self.services.values() if s.cluster == cluster.rsplit("/", 1)[-1])

    def cluster_tags(self, cluster: str, *, fresh: bool = False) -> dict[str, str]:
        self._called("cluster_tags", cluster, fresh)
        return dict(self.clusters.get(cluster.rsplit("/", 1)[-1], {}))

    def deploy(self, cluster: str, service: str, task_definition_arn: str) -> str | None:
        self._called("deploy", cluster, service, task_definition_arn)
        self._deployments += 1
        deployment_id = f"ecs-svc/{self._deployments:04d}"
        old = self.services[service]
        draining = tuple(dataclasses.replace(d, status="ACTIVE") for d in old.deployments)
        rolling = DeploymentState(deployment_id, "PRIMARY", task_definition_arn, "IN_PROGRESS")
        self.services[service] = dataclasses.replace(
            old, task_definition=task_definition_arn, deployments=(rolling, *draining)
        )
        self._answer("deploy")
        return deployment_id

    def deployment_tasks(self, cluster: str, deployment_id: str) -> list[TaskState]:
        self._called("deployment_tasks", cluster, deployment_id)
        return self.tasks.get(deployment_id, [])

    # -- task definitions --------------------------------------------------------------------------

    def describe_task_definition(
        self, task_definition: str, *, fresh: bool = False
    ) -> TaskDefinitionDocument:
        self._called("describe_task_definition", task_definition)
        if task_definition in self.documents:
            return self.documents[task_definition]
        if task_definition_revision(task_definition) is None:  # a family: its newest ACTIVE revision
            family = task_definition_family(task_definition)
            newest = sorted(
                (task_definition_revision(arn) or 0, arn)
                for arn, d in self.documents.items()
                if task_definition_family(arn) == family and d.task_definition.get("status") == "ACTIVE"
            )
            if newest:
                return self.documents[newest[-1][1]]
        raise NotFoundError(f"task definition {task_definition} does not exist")

    def register(self, request: dict[str, Any]) -> str:
        self._called("register", request["family"])
        family = request["family"]
        revisions = [
            task_definition_revision(a) or 0 for a in self.documents if task_definition_family(a) == family
        ]
        arn = task_definition_arn(family, max(revisions, default=0) + 1, self.account, self.region)
        body = {k: v for k, v in request.items() if k != "tags"}
        body |= {"taskDefinitionArn": arn, "revision": task_definition_revision(arn), "status": "ACTIVE"}
        self.documents[arn] = TaskDefinitionDocument(body, list(request.get("tags") or []))
        self._answer("register")
        return arn

    def find_registered(self, source_arn: str, profile_label: str) -> str | None:
        self._called("find_registered", source_arn, profile_label)
        for arn, document in self.documents.items():
            tags = {t["key"]: t["value"] for t in document.tags}
            if (
                tags.get(MARKER_SOURCE) == source_marker(source_arn)
                and tags.get(MARKER_PROFILE) == profile_label
            ):
                return arn
        return None

    def task_definition_status(self, task_definition_arn: str) -> str | None:
        self._called("task_definition_status", task_definition_arn)
        document = self.documents.get(task_definition_arn)
        return str(document.task_definition.get("status", "ACTIVE")) if document else None


class RecordingPublisher:
    """Publishes statuses into a list (the Publisher port); raises the queued errors first, one per
    publish."""

    def __init__(self) -> None:
        self.published: list[Finding] = []
        self.failures: list[AwsError] = []

    def publish(self, finding: Message) -> str:
        if self.failures:
            raise self.failures.pop(0)
        assert isinstance(finding, Finding), f"a status, not {type(finding).__name__}"
        assert_status_message(finding.to_message())
        self.published.append(finding)
        return f"message-{len(self.published)}"

    @property
    def statuses(self) -> list[str]:
        return [f.status.value for f in self.published]


class FakeTaskRoles:
    """The TaskRoles port: the permissions a role lacks, as configured."""

    def __init__(self, denied: list[str] | None = None) -> None:
        self.denied = denied or []
        self.error: AwsError | None = None
        self.asked: list[tuple[str, list[tuple[str, str]]]] = []

    def missing(self, role_arn: str, permissions: Sequence[tuple[str, str]]) -> list[str]:
        self.asked.append((role_arn, list(permissions)))
        if self.error is not None:
            raise self.error
        return list(self.denied)
