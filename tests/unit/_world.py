"""The use cases wired as wiring.build_enforcer wires them, on fakes (``World``), and what their
tests share: the services, task definitions, triggers and accounts they are asked about."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sidecar_enforcer.adapters.identity import Identity
from sidecar_enforcer.config import MEMBER_SESSION_NAME, Mode, Settings
from sidecar_enforcer.domain.ecs.snapshots import DeploymentState, ServiceSnapshot, TaskState
from sidecar_enforcer.domain.ecs.taskdef import TaskDefinitionDocument
from sidecar_enforcer.domain.planning.plan import plan
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.enforcer import Enforcer
from sidecar_enforcer.errors import (
    AwsError,
)
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    Trigger,
)
from sidecar_enforcer.models.findings import Finding
from sidecar_enforcer.models.work import WorkItem, items_of
from sidecar_enforcer.profiles import builtin_catalog
from sidecar_enforcer.router import Router
from sidecar_enforcer.usecases.enforce_service import EnforceService
from sidecar_enforcer.usecases.enforce_task_definition import EnforceTaskDefinition
from sidecar_enforcer.usecases.fan_out import FanOutCluster
from sidecar_enforcer.usecases.outbox import DrainOutbox
from sidecar_enforcer.usecases.release import Release
from sidecar_enforcer.usecases.revisions import Revisions
from sidecar_enforcer.usecases.run_waves import RunKeeper
from sidecar_enforcer.usecases.runs import FinishRun
from sidecar_enforcer.usecases.scope import Reporter, Scope
from sidecar_enforcer.usecases.triage import Triage
from sidecar_enforcer.usecases.verify_deployment import VerifyDeployment

from ._factories import ACCOUNT, JAEGER, REGION, SOURCE_ARN, fargate
from ._fakes import Clock, CountingTable, FakeEcs, FakeTaskRoles, RecordingPublisher, task_definition_arn

SOURCE = SOURCE_ARN  # shop-api:7, without the sidecar
COMPLIANT = task_definition_arn("shop-api", 8)  # what the enforcer registers for it
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/shop"
PIPELINE = "arn:aws:sts::123456789012:assumed-role/deploy-pipeline/run-1"
ENFORCER = "arn:aws:sts::123456789012:assumed-role/sidecar-enforcer-fn/sidecar-enforcer-fn"
OPT_IN = {"tracing-sidecar": "required"}
RELEASE_KEY = "tracing-sidecar-release"


def service_arn(name: str = "api") -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/{name}"


def snapshot(
    name: str = "api",
    task_definition: str = SOURCE,
    tags: dict[str, str] | None = None,
    **extra: Any,
) -> ServiceSnapshot:
    fields: dict[str, Any] = {
        "arn": service_arn(name),
        "name": name,
        "cluster_arn": CLUSTER_ARN,
        "status": "ACTIVE",
        "task_definition": task_definition,
        "deployment_controller": "ECS",
        "tags": OPT_IN if tags is None else tags,
        "deployments": (DeploymentState("ecs-svc/0000", "PRIMARY", task_definition, "COMPLETED"),),
    }
    return ServiceSnapshot(**(fields | extra))


def source_document(
    tags: dict[str, str] | None = None, revision: int = 7, arn: str | None = None, **extra: Any
) -> TaskDefinitionDocument:
    arn = arn or task_definition_arn("shop-api", revision)
    task = fargate(taskDefinitionArn=arn, revision=revision, **extra)
    return TaskDefinitionDocument(task, [{"key": k, "value": v} for k, v in (tags or {}).items()])


def compliant_document(revision: int = 8, source: str = SOURCE) -> TaskDefinitionDocument:
    """What the enforcer registers for ``source`` (marker tags included)."""
    request = plan(fargate(taskDefinitionArn=source), [], JAEGER).register_input
    assert request is not None
    arn = task_definition_arn("shop-api", revision)
    body = {k: v for k, v in request.items() if k != "tags"}
    body |= {"taskDefinitionArn": arn, "revision": revision, "status": "ACTIVE"}
    return TaskDefinitionDocument(body, request["tags"])


class World:
    """The use cases wired as wiring.build_enforcer wires them, on fakes."""

    def __init__(
        self,
        *services: ServiceSnapshot,
        documents: tuple[TaskDefinitionDocument, ...] | None = None,
        cluster_tags: dict[str, str] | None = None,
        durable: bool = True,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock = Clock()
        self.table = CountingTable(durable=durable)
        self.ledger = Ledger(self.table, clock=self.clock, sleep=self.clock.advance)
        self.publisher = RecordingPublisher()
        self.task_roles = FakeTaskRoles()
        self.ecs = FakeEcs(
            services,
            (source_document(),) if documents is None else documents,
            {"shop": cluster_tags} if cluster_tags is not None else None,
        )
        self.identity_asked = 0
        self.drain = DrainOutbox(self.ledger, self.publisher, None)
        self.report = Reporter(self.publisher, self.ledger, self.drain)
        catalog = builtin_catalog
        self.revisions = Revisions(self.ledger, self.roles_in)
        self.roles_asked: list[str] = []
        self.enforce_service = EnforceService(
            self.settings, catalog, self.revisions, self.ledger, self.report
        )
        self.enforce_task_definition = EnforceTaskDefinition(self.settings, catalog, self.revisions)
        self.verify = VerifyDeployment(self.settings, self.ledger)
        self.release = Release(self.ledger)
        self.queued: list[WorkItem] = []
        self.fan_out = FanOutCluster(lambda: self)
        self.triage = Triage(self.settings, self.identity, self.ledger)
        # Member accounts' gateways (their ECS through the member role), by account; an account in
        # ``unreachable`` raises its error instead, as a member role that cannot be assumed does.
        self.members: dict[str, FakeEcs] = {}
        self.unreachable: dict[str, AwsError] = {}
        self.ecs_asked: list[tuple[str, str]] = []
        # Backfill runs: the work queue is this world's (``queued``), no report bucket.
        self.runs = RunKeeper(
            self.ledger,
            FinishRun(self.ledger, None, self.publisher),
            lambda: self,
            visibility_seconds=720,
        )
        self.enforcer = Enforcer(
            self.settings,
            self.ecs_for,
            self.identity,
            enforce_service=self.enforce_service,
            enforce_task_definition=self.enforce_task_definition,
            verify_deployment=self.verify,
            release=self.release,
            fan_out=self.fan_out,
            report=self.report,
            runs=lambda: self.runs,
        )
        self.router = Router(
            self.settings, self.triage, self.drain, self.report, self.ledger, lambda: self.runs
        )

    def ecs_for(self, account: str, region: str) -> FakeEcs:
        """wiring.build_enforcer's ecs_for: the enforcer's own account's gateway, or a member's."""
        self.ecs_asked.append((account, region))
        if account in self.unreachable:
            raise self.unreachable[account]
        return self.ecs if account == ACCOUNT else self.members[account]

    def roles_in(self, account: str) -> FakeTaskRoles:
        self.roles_asked.append(account)
        return self.task_roles

    def send(self, items: Sequence[WorkItem]) -> int:
        """The work queue (the WorkQueue port), as the fan-out and the runs see it."""
        self.queued.extend(items)
        return len(items)

    def identity(self) -> Identity:
        self.identity_asked += 1
        return Identity(ENFORCER, ACCOUNT, self.settings.member_role_name, MEMBER_SESSION_NAME)

    def scope(self, mode: Mode = Mode.ENFORCE, caller: str | None = PIPELINE) -> Scope:
        return Scope(ACCOUNT, REGION, "UpdateService", "event-1", mode, caller)

    def enforce(self, name: str = "api", **kw: Any) -> Finding:
        return self.enforce_service.named(self.ecs, "shop", name, self.scope(**kw))

    def record(self, name: str = "api") -> records.ServiceRecord:
        return self.ledger.service(service_arn(name))

    def quarantine(self, name: str = "api", status: str = "FLAPPING") -> str:
        """Quarantine the service (after a deployment of the compliant revision); its token."""
        deployment = records.Deployment(COMPLIANT, "ecs-svc/0001", 1.0, "jaeger", "jaeger")
        record = self.ledger.update_service(
            service_arn(name),
            lambda r: records.quarantine(
                dataclasses.replace(r, deployment=deployment), status, "taken away 4 times", now=2.0
            ),
        )
        assert record.quarantine is not None
        self.table.ops.clear()
        return record.quarantine.token


def cluster_item(account: str = ACCOUNT) -> WorkItem:
    trigger = Trigger("event-7", account, REGION, "TagResource", targets=(ClusterTarget("shop"),))
    (item,) = items_of(trigger)
    return item


# -- Member accounts: the event's account and region --------------------------------------------------

MEMBER = "222222222222"
MEMBER_REGION = "us-east-1"
MEMBER_CLUSTER = f"arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:cluster/shop"
MEMBER_SOURCE = task_definition_arn("shop-api", 7, MEMBER, MEMBER_REGION)


def member_world(
    *names: str,
    cluster_tags: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    settings: Settings | None = None,
    **document: Any,
) -> World:
    """A hub World (its own account holds the same-named service) with MEMBER's ECS beside it."""
    world = World(snapshot(), settings=settings)
    services = [
        snapshot(
            name,
            tags=tags,
            task_definition=MEMBER_SOURCE,
            arn=f"arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/{name}",
            cluster_arn=MEMBER_CLUSTER,
        )
        for name in names or ("api",)
    ]
    world.members[MEMBER] = FakeEcs(
        tuple(services),
        (source_document(arn=MEMBER_SOURCE, **document),),
        {"shop": cluster_tags} if cluster_tags is not None else None,
        account=MEMBER,
        region=MEMBER_REGION,
    )
    return world


def member_trigger(*targets: Any, name: str = "UpdateService") -> Trigger:
    return Trigger(
        "event-9",
        MEMBER,
        MEMBER_REGION,
        name,
        targets=targets or (ServiceTarget("shop", "api"),),
        caller_arn=f"arn:aws:sts::{MEMBER}:assumed-role/deploy-pipeline/run-9",
    )


def deployed_world(sidecar: str = "RUNNING") -> World:
    """The enforcer deployed the compliant revision to api (ecs-svc/0001); its task runs."""
    world = World(snapshot())
    world.enforce()
    world.ecs.tasks["ecs-svc/0001"] = [
        TaskState(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/shop/t1",
            COMPLIANT,
            "RUNNING",
            {"app": "RUNNING", "jaeger": sidecar},
            "Essential container exited" if sidecar == "STOPPED" else None,
        )
    ]
    world.ecs.calls.clear()
    return world


def outcome(
    deployment_id: str = "ecs-svc/0001", completed: bool = True, reason: str | None = None
) -> DeploymentOutcome:
    return DeploymentOutcome("shop", "api", deployment_id, completed, reason, service_arn())


def trigger(**kw: Any) -> Trigger:
    fields: dict[str, Any] = {
        "event_id": "event-1",
        "account": ACCOUNT,
        "region": REGION,
        "name": "UpdateService",
        "targets": (ServiceTarget("shop", "api"),),
        "caller_arn": PIPELINE,
    }
    return Trigger(**(fields | kw))
