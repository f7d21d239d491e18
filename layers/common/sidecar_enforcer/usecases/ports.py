"""The ports: what the use cases, the Enforcer and the Router ask of the world outside, as Protocols.

The adapters (``adapters/``) satisfy them on AWS, the test fakes on dicts; mypy checks both against
these declarations, and an import contract (pyproject.toml) keeps the use cases from importing an
adapter. ``wiring`` is where an adapter is chosen for each port. The state table's port (``Table``)
is the ledger's, beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ..domain.ecs.snapshots import ServiceSnapshot, TaskState
from ..domain.ecs.taskdef import TaskDefinitionDocument
from ..models.findings import Message
from ..models.work import WorkItem


class Ecs(Protocol):
    """One account's ECS in one Region (adapters.ecs.EcsGateway)."""

    def describe_services(self, cluster: str, services: list[str]) -> list[ServiceSnapshot]: ...

    def describe_service(self, cluster: str, service: str) -> ServiceSnapshot | None: ...

    def list_services(self, cluster: str) -> Iterator[str]: ...

    def cluster_tags(self, cluster: str, *, fresh: bool = False) -> dict[str, str]: ...

    def deploy(self, cluster: str, service: str, task_definition_arn: str) -> str | None:
        """The new deployment's id, when ECS names it."""
        ...

    def deployment_tasks(self, cluster: str, deployment_id: str) -> list[TaskState]: ...

    def describe_task_definition(
        self, task_definition: str, *, fresh: bool = False
    ) -> TaskDefinitionDocument: ...

    def register(self, request: dict[str, Any]) -> str:
        """The registered revision's ARN."""
        ...

    def task_definition_status(self, task_definition_arn: str) -> str | None: ...

    def find_registered(self, source_arn: str, profile_label: str) -> str | None:
        """A revision registered earlier for ``source_arn`` with this profile, found by its tags."""
        ...


class Survey(Protocol):
    """A fleet's clusters and services in one account and Region (adapters.survey.EcsSurvey)."""

    def clusters(self) -> Iterable[str]:
        """Every cluster's ARN."""
        ...

    def clusters_tags(self, clusters: list[str]) -> dict[str, dict[str, str]]:
        """The tags of each cluster, by cluster name."""
        ...

    def services(self, cluster: str) -> Iterable[str]:
        """The ARNs of a cluster's services."""
        ...


class WorkQueue(Protocol):
    """Where work items go: the stack's work queue (adapters.sqs.WorkQueue), or a list in memory."""

    def send(self, items: Sequence[WorkItem]) -> int:
        """How many items were sent."""
        ...


class TaskRoles(Protocol):
    """One account's IAM policy simulator (adapters.iam.TaskRoleChecker)."""

    def missing(self, role_arn: str, permissions: Sequence[tuple[str, str]]) -> list[str]:
        """'action on resource (decision)' for every permission the role does not grant."""
        ...


class Identity(Protocol):
    """Who the enforcer is (adapters.identity.Identity): its ARN, account and partition, and
    whether a CloudTrail record's caller is itself."""

    @property
    def arn(self) -> str: ...

    @property
    def account(self) -> str: ...

    @property
    def partition(self) -> str: ...

    def made(self, caller_arn: str | None, caller_role_arn: str | None) -> bool: ...


class Publisher(Protocol):
    """The status topic (adapters.sns.StatusPublisher): a message's id once published."""

    def publish(self, finding: Message) -> str: ...


class DeadLetters(Protocol):
    """The dead-letter queue of statuses SNS refused for good (adapters.sqs.DeadLetterQueue)."""

    def send(self, message: dict[str, Any], reason: str) -> None: ...


class Reports(Protocol):
    """The report bucket (adapters.s3.ReportStore): a run's report stored under ``key``."""

    def put(self, key: str, body: str, content_type: str) -> str: ...


class PlanMemo(Protocol):
    """Plans remembered by revision (domain.planning.plan_memo): a fleet run plans a revision it has seen
    before without describing it."""

    def get(self, context: str, arn: str) -> dict[str, Any] | None: ...

    def put(self, context: str, arn: str, memo: dict[str, Any]) -> None: ...


class SwitchReader(Protocol):
    """The stop switch and the rollout policy (adapters.switches.Switches): value and version by name."""

    def read(self, names: list[str]) -> dict[str, tuple[str, int]]: ...


class Tree(Protocol):
    """The organisation's tree (adapters.org_units.OrgUnits): an account's path, a target's existence."""

    def path(self, account: str) -> list[str]: ...

    def exists(self, target: str, kind: str) -> bool: ...


# -- the notifier's (usecases/notify.py) ------------------------------------------------------------


class Poster(Protocol):
    """Slack's incoming webhook (adapters.slack.SlackWebhook)."""

    def post(self, payload: dict[str, Any]) -> None: ...


class ChatSink(Protocol):
    """The chat topic (adapters.sns.ChatPublisher): Amazon Q Developer's custom notifications."""

    def publish(self, notification: dict[str, Any], attributes: dict[str, str]) -> str: ...


class Deadline(Protocol):
    """The invocation's clock: the seconds left (Lambda's context), and a wait."""

    def remaining(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class Queues(Protocol):
    """The notifier's own queues (adapters.notifier_queues.NotifierQueues)."""

    def retry_after(self, queue_arn: str, receipt_handle: str, seconds: float) -> None: ...

    def requeue(self, queue_arn: str, body: str, delivered: frozenset[str]) -> None: ...


class DeadLetterRecords(Protocol):
    """The notifier's dead-letter queue (adapters.sqs.DeadLetterQueue): a record's body as it came."""

    def send_body(
        self, body: str, reason: str, kind: str, attributes: dict[str, str] | None = None
    ) -> None: ...
