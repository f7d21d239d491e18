"""Each use case (usecases/) on fakes: a fake ECS gateway that records its calls, a Ledger on an
in-memory state table with a fake clock, a recording publisher. No moto, no boto3 client: what a
path costs (which ECS calls, which state-table reads and writes) is asserted exactly."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sidecar_enforcer.adapters.ecs import CLUSTER_TAGS_SECONDS, EcsGateway
from sidecar_enforcer.adapters.identity import Identity
from sidecar_enforcer.adapters.memory import MemoryTable
from sidecar_enforcer.config import MEMBER_SESSION_NAME, Mode, Settings
from sidecar_enforcer.domain import records
from sidecar_enforcer.domain.plan import MARKER_MANAGED_BY, plan
from sidecar_enforcer.domain.policy import Policy
from sidecar_enforcer.domain.service_rules import controller_reason
from sidecar_enforcer.domain.snapshots import DeploymentState, ServiceSnapshot, TaskState
from sidecar_enforcer.domain.taskdef import TaskDefinitionDocument
from sidecar_enforcer.errors import (
    AccessDeniedError,
    AwsError,
    ConfigurationError,
    MisconfiguredError,
    NotFoundError,
    RejectedError,
)
from sidecar_enforcer.gate import Gate
from sidecar_enforcer.ledger import OUTBOX, Ledger
from sidecar_enforcer.models.events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    TaskDefinitionTarget,
    Trigger,
)
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.models.work import RunTag, WorkItem, items_of, parse_item
from sidecar_enforcer.profiles import builtin_catalog
from sidecar_enforcer.service import Enforcer
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

from ._factories import ACCOUNT, JAEGER, REGION, SOURCE_ARN, app, fargate
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
        self.queued: list[Any] = []
        self.fan_out = FanOutCluster(lambda: self)  # type: ignore[arg-type,return-value]
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
            lambda: self,  # type: ignore[arg-type,return-value]
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
        self.gate = Gate(self.settings, self.triage, self.drain, self.report, self.ledger, lambda: self.runs)

    def ecs_for(self, account: str, region: str) -> FakeEcs:
        """wiring.build_enforcer's ecs_for: the enforcer's own account's gateway, or a member's."""
        self.ecs_asked.append((account, region))
        if account in self.unreachable:
            raise self.unreachable[account]
        return self.ecs if account == ACCOUNT else self.members[account]

    def roles_in(self, account: str) -> FakeTaskRoles:
        self.roles_asked.append(account)
        return self.task_roles

    def send(self, items: list[Any]) -> None:
        """The work queue, as the fan-out sees it."""
        self.queued.extend(items)

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


# -- EnforceService ------------------------------------------------------------------------------------


def test_a_compliant_service_costs_describe_service_and_describe_task_definition_and_no_state_table() -> None:
    world = World(snapshot(task_definition=COMPLIANT), documents=(compliant_document(),))

    finding = world.enforce()

    assert finding.status is Status.COMPLIANT
    assert world.ecs.names == ["describe_service", "describe_task_definition"]
    assert world.ecs.args("describe_task_definition") == [(COMPLIANT,)]
    assert world.table.ops == []  # no read, no lease, no document written
    assert world.table.stored() == set()
    assert world.publisher.published == []  # the caller (Enforcer) reports the final finding


def test_an_untagged_service_reads_its_clusters_tags_once() -> None:
    world = World(
        snapshot(task_definition=COMPLIANT, tags={}), documents=(compliant_document(),), cluster_tags=OPT_IN
    )

    finding = world.enforce()

    assert finding.status is Status.COMPLIANT
    assert world.ecs.names == ["describe_service", "cluster_tags", "describe_task_definition"]
    assert world.ecs.args("cluster_tags") == [(CLUSTER_ARN, False)]


def test_an_untagged_service_to_remediate_reads_its_clusters_tags_once_too() -> None:
    world = World(snapshot(tags={}), cluster_tags=OPT_IN)

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert world.ecs.names.count("cluster_tags") == 1
    assert "cluster tag tracing-sidecar=required" in finding.reasons[0]


def test_cluster_tags_handed_in_by_the_cluster_sweep_are_not_read_again() -> None:
    world = World(snapshot(task_definition=COMPLIANT, tags={}), documents=(compliant_document(),))

    finding = world.enforce_service(world.ecs, world.ecs.services["api"], world.scope(), cluster_tags=OPT_IN)

    assert finding.status is Status.COMPLIANT
    assert "cluster_tags" not in world.ecs.names


def cluster_item(account: str = ACCOUNT) -> WorkItem:
    trigger = Trigger("event-7", account, REGION, "TagResource", targets=(ClusterTarget("shop"),))
    (item,) = items_of(trigger)
    return item


def test_a_cluster_item_queues_one_service_item_each_with_the_clusters_tags_read_afresh() -> None:
    world = World(snapshot("api"), snapshot("web", tags={}), cluster_tags=OPT_IN)

    queued = world.enforcer.fan_out(cluster_item())

    assert queued == 2
    assert world.ecs.args("cluster_tags") == [("shop", True)]  # once, afresh, for every service
    targets = [item.target for item in world.queued]
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


def test_a_member_accounts_event_is_enforced_in_that_account_and_region_not_in_the_hub() -> None:
    world = member_world()

    (finding,) = world.enforcer.handle(member_trigger())

    assert finding.status is Status.REMEDIATED
    assert (finding.account, finding.region) == (MEMBER, MEMBER_REGION)
    assert world.ecs_asked == [(MEMBER, MEMBER_REGION)]
    member = world.members[MEMBER]
    compliant = task_definition_arn("shop-api", 8, MEMBER, MEMBER_REGION)
    assert member.args("deploy") == [(MEMBER_CLUSTER, "api", compliant)]
    assert finding.new_task_definition_arn == compliant
    assert world.ecs.calls == []  # the hub's own service of the same name is not touched
    # The state table (the hub's) keys the member's records by the member's ARNs
    service_key = f"service#arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/api"
    assert (service_key, "state") in world.table.stored()
    assert (f"source#{MEMBER_SOURCE}", JAEGER.label) in world.table.stored()
    assert world.publisher.published == [finding]


def test_a_hub_event_stays_in_the_hub_account() -> None:
    world = member_world()

    (finding,) = world.enforcer.handle(trigger(account=ACCOUNT))

    assert finding.status is Status.REMEDIATED
    assert world.ecs_asked == [(ACCOUNT, REGION)]
    assert world.members[MEMBER].calls == []


def test_a_member_whose_role_cannot_be_assumed_fails_every_target_naming_the_account() -> None:
    world = member_world()
    reason = (
        f"account {MEMBER}: the enforcer may not assume arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member "
        "(...): the member stack is missing in that account, or its role does not trust this enforcer"
    )
    world.unreachable[MEMBER] = MisconfiguredError(reason)

    findings = world.enforcer.handle(
        member_trigger(ServiceTarget("shop", "api"), ServiceTarget("shop", "web"))
    )

    assert [(f.status, f.account, f.region, f.service) for f in findings] == [
        (Status.FAILED, MEMBER, MEMBER_REGION, "api"),
        (Status.FAILED, MEMBER, MEMBER_REGION, "web"),
    ]
    assert findings[0].reasons == [reason]
    assert world.publisher.published == findings  # visible, and the worker fails the item: retried
    assert world.ecs.calls == []


def test_a_member_accounts_cluster_is_fanned_out_in_that_account() -> None:
    world = member_world("api", "web", cluster_tags=OPT_IN)
    (item,) = items_of(member_trigger(ClusterTarget("shop"), name="TagResource"))

    queued = world.enforcer.fan_out(item)

    assert queued == 2
    assert world.ecs_asked == [(MEMBER, MEMBER_REGION)]
    assert world.members[MEMBER].args("cluster_tags") == [("shop", True)]
    assert world.ecs.calls == []
    assert [(i.trigger.account, i.trigger.region) for i in world.queued] == [(MEMBER, MEMBER_REGION)] * 2
    assert [i.group for i in world.queued] == [
        f"arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/api",
        f"arn:aws:ecs:{MEMBER_REGION}:{MEMBER}:service/shop/web",
    ]


def test_a_cluster_whose_listed_services_are_another_accounts_queues_nothing() -> None:
    """A guard: what ECS lists in the item's account must be that account's."""
    world = World()
    world.members[MEMBER] = FakeEcs((snapshot("api"),), cluster_tags={"shop": OPT_IN})  # the hub's ARNs

    assert world.enforcer.fan_out(cluster_item(account=MEMBER)) is None
    assert world.queued == []


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
@pytest.mark.parametrize(
    "documents",
    [(source_document(),), (compliant_document(),), ()],
    ids=["missing-sidecar", "compliant", "task-definition-gone"],
)
def test_another_deployment_controller_is_answered_before_any_task_definition_read(
    controller: str, documents: tuple[TaskDefinitionDocument, ...]
) -> None:
    running = str(documents[0].arn) if documents else SOURCE
    world = World(snapshot(task_definition=running, deployment_controller=controller), documents=documents)

    finding = world.enforce()

    assert finding.status is Status.SKIPPED
    assert finding.reasons == [controller_reason(controller)]
    assert f"the {controller} deployment controller" in finding.reasons[0]
    assert world.ecs.names == ["describe_service"]  # 0 DescribeTaskDefinition, no change
    assert (finding.family, finding.source_task_definition_arn) == ("shop-api", running)
    assert finding.profile == "jaeger"
    assert world.table.ops == []


def test_a_service_neither_it_nor_its_cluster_opts_in_is_not_opted_in_without_more_calls() -> None:
    world = World(snapshot(tags={}), cluster_tags={"team": "payments"})

    finding = world.enforce()

    assert finding.status is Status.NOT_OPTED_IN
    assert world.ecs.names == ["describe_service", "cluster_tags"]
    assert world.table.ops == []


def test_a_missing_sidecar_is_remediated_registered_once_deployed_and_the_deployment_recorded() -> None:
    world = World(snapshot())

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert finding.new_task_definition_arn == COMPLIANT
    assert finding.source_task_definition_arn == SOURCE
    assert finding.changes[0] == "RegisterTaskDefinition"
    assert finding.changes[-1] == "service: UpdateService with forceNewDeployment"
    assert world.ecs.args("register") == [("shop-api",)]
    assert world.ecs.args("deploy") == [(CLUSTER_ARN, "api", COMPLIANT)]
    assert finding.deployment_id == "ecs-svc/0001"
    record = world.record()
    assert record.deployment == records.Deployment(
        task_definition=COMPLIANT,
        deployment_id="ecs-svc/0001",
        at=world.clock.now,
        profile="jaeger",
        sidecar="jaeger",
    )
    assert record.lease is None  # released
    assert record.reverts == ()
    assert record.quarantine is None
    # the registered revision carries the sidecar and the markers
    registered = world.ecs.documents[COMPLIANT]
    assert any(c["name"] == "jaeger" for c in registered.task_definition["containerDefinitions"])
    assert {"key": MARKER_MANAGED_BY, "value": "sidecar-enforcer"} in registered.tags


def test_the_service_is_read_again_under_its_lease_before_acting() -> None:
    world = World(snapshot())

    world.enforce()

    assert world.ecs.names[:4] == [
        "describe_service",
        "describe_task_definition",
        "describe_service",  # under the lease: what it runs now
        "describe_task_definition",
    ]


def test_a_second_service_of_the_same_source_reuses_the_registration() -> None:
    world = World(snapshot("api"), snapshot("worker"))

    first = world.enforce("api")
    second = world.enforce("worker")

    assert (first.status, second.status) == (Status.REMEDIATED, Status.REMEDIATED)
    assert len(world.ecs.args("register")) == 1
    assert second.new_task_definition_arn == first.new_task_definition_arn == COMPLIANT
    assert second.changes[0] == f"reuse {COMPLIANT}, registered earlier for this source and profile version"
    assert world.ecs.args("deploy") == [(CLUSTER_ARN, "api", COMPLIANT), (CLUSTER_ARN, "worker", COMPLIANT)]


def test_a_service_already_rolling_out_the_compliant_revision_is_not_deployed_twice() -> None:
    world = World(snapshot())
    world.enforce()
    # the event of that rollout describes the service on its old revision, the new one rolling out
    rolling = world.ecs.services["api"]
    world.ecs.services["api"] = dataclasses.replace(rolling, task_definition=SOURCE)

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert len(world.ecs.args("deploy")) == 1
    assert len(world.ecs.args("register")) == 1
    assert finding.deployment_id is None
    assert finding.changes[-1] == f"service: already runs or deploys {COMPLIANT}; no second deployment"
    assert world.record().reverts == ()  # rolling out ours is no revert


def test_a_revert_by_a_pipeline_is_counted_and_remediated_again() -> None:
    world = World(snapshot())
    world.enforce()
    world.ecs.services["api"] = snapshot()  # the pipeline put the service back on its own revision
    world.clock.advance(60)

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert finding.reasons[-1].endswith(f"by {PIPELINE}: revert 1 of at most 3 within 3600 s")
    assert len(world.ecs.args("deploy")) == 2
    assert len(world.ecs.args("register")) == 1
    record = world.record()
    assert [(r.caller, r.task_definition, r.left) for r in record.reverts] == [
        (PIPELINE, SOURCE, "ecs-svc/0001")
    ]
    assert record.deployment is not None
    assert record.deployment.deployment_id == "ecs-svc/0002"


def test_a_quarantined_service_with_a_change_planned_is_left_alone() -> None:
    world = World(snapshot())
    token = world.quarantine()
    before = world.record()

    finding = world.enforce()

    assert finding.status is Status.QUARANTINED
    assert finding.release is not None
    assert f"{RELEASE_KEY}={token}" in finding.release
    assert "register" not in world.ecs.names
    assert "deploy" not in world.ecs.names
    assert world.record() == before  # the lease came and went; nothing else changed


def test_a_quarantined_service_in_audit_mode_is_told_without_a_lease() -> None:
    world = World(snapshot(tags={"tracing-sidecar": "audit"}))
    world.quarantine()

    finding = world.enforce()

    assert finding.status is Status.QUARANTINED
    assert world.table.writes() == []  # audit: one read of the record, nothing written


def test_the_release_tag_reports_released_first_then_remediates() -> None:
    world = World(snapshot())
    token = world.quarantine()
    world.ecs.services["api"] = snapshot(tags=OPT_IN | {RELEASE_KEY: token})

    finding = world.enforcer.enforce_service(REGION, "shop", "api")

    assert world.publisher.statuses == ["RELEASED", "REMEDIATED"]
    released = world.publisher.published[0]
    assert released.reasons == [
        f"released by the tag {RELEASE_KEY}={token} from FLAPPING (taken away 4 times)"
    ]
    assert (released.cluster, released.service) == ("shop", "api")
    assert finding.status is Status.REMEDIATED
    record = world.record()
    assert record.quarantine is None
    assert record.reverts == ()
    assert record.deployment is not None
    assert record.deployment.deployment_id == "ecs-svc/0001"
    assert world.ecs.args("deploy") == [(CLUSTER_ARN, "api", COMPLIANT)]


def test_a_release_tag_with_another_token_releases_nothing() -> None:
    world = World(snapshot())
    world.quarantine()
    world.ecs.services["api"] = snapshot(tags=OPT_IN | {RELEASE_KEY: "0123456789ab"})

    finding = world.enforcer.enforce_service(REGION, "shop", "api")

    assert world.publisher.statuses == ["QUARANTINED"]
    assert finding.status is Status.QUARANTINED
    assert world.record().quarantine is not None


@pytest.mark.parametrize(
    ("method", "error", "status"),
    [
        ("register", AwsError("RegisterTaskDefinition: ThrottlingException"), Status.FAILED),
        ("register", AccessDeniedError("RegisterTaskDefinition: iam:PassRole denied"), Status.FAILED),
        ("deploy", RejectedError("UpdateService: InvalidParameterException"), Status.FAILED),
        (
            "describe_task_definition",
            NotFoundError("task definition shop-api:7 does not exist"),
            Status.SKIPPED,
        ),
        ("cluster_tags", AwsError("DescribeClusters: ServiceUnavailable"), Status.FAILED),
    ],
)
def test_an_aws_error_is_a_failed_finding_and_not_found_a_skipped_one(
    method: str, error: AwsError, status: Status
) -> None:
    world = World(snapshot(tags={} if method == "cluster_tags" else None), cluster_tags=OPT_IN)
    world.ecs.errors[method] = error

    finding = world.enforce()

    assert finding.status is status
    assert finding.reasons == [str(error)]
    assert (finding.cluster, finding.service) == ("shop", "api")
    assert world.record().lease is None  # the lease is given back whatever failed


def test_after_a_failed_registration_the_next_attempt_registers_at_once() -> None:
    world = World(snapshot())
    world.ecs.errors["register"] = AwsError("RegisterTaskDefinition: ThrottlingException")
    world.enforce()
    del world.ecs.errors["register"]

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert len(world.ecs.args("register")) == 2  # the failed call and this one, no wait on a lease
    assert finding.changes[0] == "RegisterTaskDefinition"


def test_after_a_failed_deployment_call_the_next_attempt_reuses_the_registration() -> None:
    world = World(snapshot())
    world.ecs.errors["deploy"] = AwsError("UpdateService: ServiceUnavailable")
    assert world.enforce().status is Status.FAILED
    del world.ecs.errors["deploy"]

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert len(world.ecs.args("register")) == 1
    assert finding.changes[0].startswith(f"reuse {COMPLIANT}")
    assert world.record().deployment is not None


def test_an_inactive_service_is_skipped_without_a_call() -> None:
    world = World(snapshot(status="DRAINING"))

    finding = world.enforce_service(world.ecs, world.ecs.services["api"], world.scope())

    assert finding.status is Status.SKIPPED
    assert finding.reasons == ["the service is DRAINING"]
    assert world.ecs.calls == []


def test_a_service_deleted_before_its_lease_was_taken_is_skipped() -> None:
    world = World(snapshot())
    seen = world.ecs.services.pop("api")

    finding = world.enforce_service(world.ecs, seen, world.scope())

    assert finding.status is Status.SKIPPED
    assert finding.reasons == ["the service was deleted meanwhile"]
    assert "register" not in world.ecs.names


def test_a_service_that_does_not_exist_is_skipped() -> None:
    world = World()

    finding = world.enforce("gone")

    assert finding.status is Status.SKIPPED
    assert world.ecs.names == ["describe_service"]


def test_audit_reports_what_would_change_and_changes_nothing() -> None:
    world = World(snapshot(tags={"tracing-sidecar": "audit"}))

    finding = world.enforce()

    assert finding.status is Status.NONCOMPLIANT
    assert finding.mode == "audit"
    assert finding.changes
    assert finding.changes[0].startswith("add container 'jaeger'")
    assert "register" not in world.ecs.names
    assert "deploy" not in world.ecs.names
    assert world.table.writes() == []


def test_a_service_whose_own_tag_asks_for_audit_says_so_whatever_the_runs_mode() -> None:
    # A backfill's survey decides every service in audit: the finding tells the service that asks for
    # audit itself (its waves leave it out) from one the survey only audits.
    tagged = World(snapshot(tags={"tracing-sidecar": "jaeger:audit"}))
    opted_in = World(snapshot(tags={"tracing-sidecar": "jaeger"}))

    assert tagged.enforce().audit_only is True
    assert tagged.enforce(mode=Mode.AUDIT).audit_only is True
    assert opted_in.enforce(mode=Mode.AUDIT).audit_only is None
    assert opted_in.enforce(mode=Mode.AUDIT).to_message().get("auditOnly") is None
    assert tagged.enforce(mode=Mode.AUDIT).to_message()["auditOnly"] is True


def test_audit_tells_what_to_add_and_a_remediation_needs_no_remedy() -> None:
    audited = World(snapshot(tags={"tracing-sidecar": "audit"})).enforce()
    remediated = World(snapshot()).enforce()

    assert audited.remedy is not None
    assert audited.remedy.container_definitions == [dict(JAEGER.container)]
    assert audited.remedy.app_containers is not None
    assert [a.name for a in audited.remedy.app_containers] == ["app"]
    assert remediated.status is Status.REMEDIATED
    assert remediated.remedy is None


def test_a_service_refused_only_by_the_policy_is_told_what_to_add_and_one_refused_for_good_is_not() -> None:
    small = source_document(cpu="256", memory="512", containerDefinitions=[app(cpu=256, memory=512)])
    taken = source_document(containerDefinitions=[app(portMappings=[{"containerPort": 4317}])])
    no_growth = Settings(policy=Policy(grow_task_size=False))

    curable = World(snapshot(), documents=(small,), settings=no_growth).enforce()
    for_good = World(snapshot(), documents=(taken,)).enforce()

    assert curable.status is Status.REFUSED
    assert curable.remedy is not None
    assert (
        "grow the task size from 256 CPU units / 512 MiB to 512 CPU units / 1024 MiB: the containers need it"
        in (curable.remedy.steps)
    )
    assert for_good.status is Status.REFUSED
    assert for_good.remedy is None


ADOT_POLICY = Policy(
    parameters={
        "adot": {
            "AWS_PROMETHEUS_ENDPOINT": "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
        }
    }
)


def adot_world() -> World:
    """A service asking for the adot profile, whose sidecar needs its task role to allow X-Ray and AMP."""
    return World(
        snapshot(tags={"tracing-sidecar": "adot"}),
        documents=(source_document(taskRoleArn="app-role"),),
        settings=Settings(policy=ADOT_POLICY),
    )


def test_what_the_task_role_lacks_is_a_warning_not_a_reason_to_stop() -> None:
    world = adot_world()
    world.task_roles.denied = ["aps:RemoteWrite on * (implicitDeny)"]

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    role = f"arn:aws:iam::{ACCOUNT}:role/app-role"  # the role's name, made an ARN in the scope's partition
    assert finding.warnings == [
        f"task role {role} lacks aps:RemoteWrite on * (implicitDeny): the adot sidecar cannot export"
    ]
    assert {asked[0] for asked in world.task_roles.asked} == {role}
    assert ("aps:RemoteWrite", "*") in world.task_roles.asked[0][1]


def test_a_member_services_task_role_is_checked_in_the_member_account() -> None:
    world = member_world(
        tags={"tracing-sidecar": "adot"}, settings=Settings(policy=ADOT_POLICY), taskRoleArn="app-role"
    )

    (finding,) = world.enforcer.handle(member_trigger())

    assert finding.status is Status.REMEDIATED
    assert world.roles_asked == [MEMBER]  # IAM's policy simulator in the member account
    assert {asked[0] for asked in world.task_roles.asked} == {f"arn:aws:iam::{MEMBER}:role/app-role"}


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::999999999999:role/app-role",  # another account
        "arn:aws-cn:iam::123456789012:role/app-role",  # another partition
    ],
)
def test_a_task_role_in_another_account_is_reported_never_simulated_there(role: str) -> None:
    world = World(
        snapshot(tags={"tracing-sidecar": "adot"}),
        documents=(source_document(taskRoleArn=role),),
        settings=Settings(policy=ADOT_POLICY),
    )

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert world.roles_asked == []  # no simulator, in any account
    assert world.task_roles.asked == []
    (warning,) = finding.warnings
    assert warning.startswith(f"task role {role} is in ")
    assert f"not the task's {'account ' + ACCOUNT if ':aws:' in role else 'partition aws'}" in warning
    assert "not checked" in warning


def test_the_use_case_itself_never_simulates_a_role_outside_the_scope_s_account() -> None:
    # A task definition whose ARN names another account than the scope's: the plan finds the role
    # in the task definition's own account, the use case still asks nothing of another account.
    other = "999999999999"
    role = f"arn:aws:iam::{other}:role/app-role"
    arn = f"arn:aws:ecs:{REGION}:{other}:task-definition/shop-api:7"
    world = World(
        snapshot(task_definition=arn, tags={"tracing-sidecar": "adot"}),
        documents=(
            source_document(
                arn=arn, taskRoleArn=role, executionRoleArn=f"arn:aws:iam::{other}:role/ecsTaskExecutionRole"
            ),
        ),
        settings=Settings(policy=ADOT_POLICY),
    )

    finding = world.enforce()

    assert world.roles_asked == []
    assert world.task_roles.asked == []
    assert finding.warnings == [
        f"task role {role} is in account {other}, not the task's account {ACCOUNT}: the enforcer checks "
        "and assumes a task's roles only in the task's own account; what the adot sidecar needs of it "
        "is not checked"
    ]


def test_an_execution_role_in_another_account_is_reported() -> None:
    role = "arn:aws:iam::999999999999:role/ecsTaskExecutionRole"
    world = World(
        snapshot(tags={"tracing-sidecar": "jaeger"}), documents=(source_document(executionRoleArn=role),)
    )

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert finding.warnings == [
        f"execution role {role} is in account 999999999999, not the task's account {ACCOUNT}: the "
        "enforcer checks and assumes a task's roles only in the task's own account"
    ]


def test_a_task_role_check_that_fails_is_a_warning_too() -> None:
    world = adot_world()
    world.task_roles.error = AccessDeniedError("SimulatePrincipalPolicy: AccessDenied")

    finding = world.enforce()

    assert finding.status is Status.REMEDIATED
    assert finding.warnings == [
        "could not check the task role's permissions: SimulatePrincipalPolicy: AccessDenied"
    ]
    assert len(world.ecs.args("deploy")) == 1


# -- EnforceTaskDefinition ---------------------------------------------------------------------------


def test_a_task_definition_is_registered_once() -> None:
    world = World(documents=(source_document(OPT_IN),))
    target = TaskDefinitionTarget(SOURCE)

    first = world.enforce_task_definition(world.ecs, target, world.scope())
    again = world.enforce_task_definition(world.ecs, target, world.scope())

    assert first.status is Status.REMEDIATED
    assert first.new_task_definition_arn == COMPLIANT
    assert first.changes[0] == "RegisterTaskDefinition"
    # the event again (a retry): the family's newest revision is now the enforcer's copy of it
    assert again.status is Status.COMPLIANT
    assert "the enforcer's compliant copy of it" in again.reasons[0]
    assert len(world.ecs.args("register")) == 1
    assert "deploy" not in world.ecs.names  # services are enforced by their own events


def test_a_task_definition_named_by_family_reads_the_opt_in_from_the_request() -> None:
    world = World(documents=(source_document(),))

    finding = world.enforce_task_definition(
        world.ecs, TaskDefinitionTarget("shop-api", OPT_IN), world.scope()
    )

    assert finding.status is Status.REMEDIATED
    assert len(world.ecs.args("register")) == 1


def test_a_task_definition_in_audit_reports_noncompliant_and_registers_nothing() -> None:
    world = World(documents=(source_document({"tracing-sidecar": "audit"}),))

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget("shop-api"), world.scope())

    assert finding.status is Status.NONCOMPLIANT
    assert finding.changes
    assert finding.changes[0].startswith("add container 'jaeger'")
    assert "register" not in world.ecs.names
    assert world.table.ops == []


def test_a_task_definition_in_audit_or_refused_by_the_policy_is_told_what_to_add() -> None:
    audited = World(documents=(source_document({"tracing-sidecar": "audit"}),))
    small = source_document(OPT_IN, cpu="256", memory="512", containerDefinitions=[app(cpu=256, memory=512)])
    refused = World(documents=(small,), settings=Settings(policy=Policy(grow_task_size=False)))

    noncompliant = audited.enforce_task_definition(
        audited.ecs, TaskDefinitionTarget("shop-api"), audited.scope()
    )
    curable = refused.enforce_task_definition(refused.ecs, TaskDefinitionTarget("shop-api"), refused.scope())

    assert noncompliant.status is Status.NONCOMPLIANT
    assert noncompliant.remedy is not None
    assert noncompliant.remedy.container_definitions == [dict(JAEGER.container)]
    assert curable.status is Status.REFUSED
    assert curable.remedy is not None
    assert curable.remedy.terraform is not None
    assert 'name              = "jaeger"' in curable.remedy.terraform


def test_the_enforcers_own_revision_is_compliant() -> None:
    world = World(documents=(source_document(OPT_IN), compliant_document()))

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget("shop-api"), world.scope())

    assert finding.status is Status.COMPLIANT
    assert finding.reasons == ["registered by the enforcer"]
    assert "register" not in world.ecs.names


def test_an_older_revision_is_not_enforced() -> None:
    world = World(documents=(source_document(OPT_IN, revision=6), source_document(OPT_IN, revision=7)))
    older = task_definition_arn("shop-api", 6)

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget(older), world.scope())

    assert finding.status is Status.SKIPPED
    assert "not the family's newest ACTIVE revision" in finding.reasons[0]
    assert "register" not in world.ecs.names


def test_an_older_revision_whose_newest_is_the_enforcers_copy_is_compliant() -> None:
    world = World(documents=(source_document(OPT_IN), compliant_document()))

    finding = world.enforce_task_definition(world.ecs, TaskDefinitionTarget(SOURCE), world.scope())

    assert finding.status is Status.COMPLIANT
    assert "the enforcer's compliant copy of it" in finding.reasons[0]
    assert "register" not in world.ecs.names


# -- VerifyDeployment ----------------------------------------------------------------------------------


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


def test_a_completed_deployment_whose_tasks_run_the_sidecar_is_verified() -> None:
    world = deployed_world()

    finding = world.verify(world.ecs, outcome(), world.scope())

    assert finding.status is Status.VERIFIED
    assert finding.reasons == ["the jaeger container is RUNNING in all 1 task(s)"]
    assert world.ecs.args("deployment_tasks") == [(CLUSTER_ARN, "ecs-svc/0001")]
    record = world.record()
    assert record.deployment is not None
    assert record.deployment.outcome == "VERIFIED"
    assert record.quarantine is None


def test_a_completed_deployment_whose_sidecar_stopped_failed_and_quarantines() -> None:
    world = deployed_world(sidecar="STOPPED")

    finding = world.verify(world.ecs, outcome(), world.scope())

    assert finding.status is Status.DEPLOYMENT_FAILED
    assert finding.reasons == ["the jaeger container is STOPPED in task t1 (Essential container exited)"]
    record = world.record()
    assert record.quarantine is not None
    assert record.quarantine.status == "DEPLOYMENT_FAILED"
    assert finding.release is not None
    assert record.quarantine.token in finding.release


def test_a_failed_deployment_quarantines_the_service() -> None:
    world = deployed_world()

    finding = world.verify(world.ecs, outcome(completed=False, reason="circuit breaker"), world.scope())

    assert finding.status is Status.DEPLOYMENT_FAILED
    assert finding.reasons == ["the deployment failed: circuit breaker"]
    assert "deployment_tasks" not in world.ecs.names
    record = world.record()
    assert record.deployment is not None
    assert record.deployment.outcome == "DEPLOYMENT_FAILED"
    assert record.quarantine is not None
    assert record.quarantine.status == "DEPLOYMENT_FAILED"
    # rolled back to its own revision, the service is left alone by its next event
    world.ecs.services["api"] = snapshot()
    assert world.enforce().status is Status.QUARANTINED
    assert len(world.ecs.args("deploy")) == 0


@pytest.mark.parametrize(
    "target",
    [outcome("ecs-svc/someone-elses"), outcome(completed=False, reason="x")],
    ids=["not-ours", "already-concluded"],
)
def test_a_deployment_that_is_not_ours_to_verify_is_ignored(target: DeploymentOutcome) -> None:
    world = deployed_world()
    if target.deployment_id == "ecs-svc/0001":  # concluded once already
        world.verify(world.ecs, outcome(), world.scope())
        world.ecs.calls.clear()
    before = world.record()

    finding = world.verify(world.ecs, target, world.scope())

    assert finding.status is Status.IGNORED
    assert "deployment_tasks" not in world.ecs.names
    assert world.record() == before


@pytest.mark.parametrize("sidecar", ["RUNNING", "STOPPED"])
def test_a_run_s_concluded_deployment_delivered_again_gives_its_verdict_to_the_run_again(
    sidecar: str,
) -> None:
    # Keeping the first verdict in the run failed after the record was concluded: the event comes again.
    world = deployed_world(sidecar)
    world.ledger.update_service(
        service_arn(),
        lambda r: dataclasses.replace(
            r, deployment=dataclasses.replace(r.deployment, run="bf-1", wave=2) if r.deployment else None
        ),
    )
    first, run = world.verify.verdict(world.ecs, outcome(), world.scope())
    before = world.record()

    again, run_again = world.verify.verdict(world.ecs, outcome(), world.scope())

    assert run == run_again == RunTag("bf-1", "enforce", 2)
    assert (again.status, again.deployment_id) == (first.status, "ecs-svc/0001")
    assert again.status is (Status.VERIFIED if sidecar == "RUNNING" else Status.DEPLOYMENT_FAILED)
    assert again.reasons == [
        f"deployment ecs-svc/0001 already ended {first.status.value} (its verdict, given again)"
    ]
    assert again.release == first.release
    assert world.record() == before


def test_a_completed_deployment_without_tasks_is_unchecked() -> None:
    world = deployed_world()
    world.ecs.tasks.clear()

    finding = world.verify(world.ecs, outcome(), world.scope())

    assert finding.status is Status.SKIPPED
    record = world.record()
    assert record.deployment is not None
    assert record.deployment.outcome == "UNCHECKED"
    assert record.quarantine is None


# -- Release --------------------------------------------------------------------------------------------


def test_release_lifts_the_quarantine_and_forgets_the_reverts_and_deployment() -> None:
    world = World(snapshot())
    world.quarantine()

    finding = world.release(
        world.ecs, "shop", "api", world.scope(caller="arn:aws:iam::123456789012:user/alice")
    )

    assert finding.status is Status.RELEASED
    assert finding.reasons == [
        "released by arn:aws:iam::123456789012:user/alice from FLAPPING (taken away 4 times)"
    ]
    assert world.record() == records.ServiceRecord()


def test_release_of_a_service_not_quarantined_is_skipped_and_changes_nothing() -> None:
    world = World(snapshot())
    world.enforce()
    before = world.record()

    finding = world.release(world.ecs, "shop", "api", world.scope())

    assert finding.status is Status.SKIPPED
    assert finding.reasons == ["the service is not quarantined: nothing to release"]
    assert world.record() == before


def test_release_of_a_service_that_does_not_exist_is_skipped() -> None:
    world = World()

    finding = world.release(world.ecs, "shop", "gone", world.scope())

    assert finding.status is Status.SKIPPED


def test_release_without_a_durable_state_table_is_a_configuration_error() -> None:
    world = World(snapshot())
    ledger = Ledger(MemoryTable(), clock=world.clock)

    with pytest.raises(ConfigurationError, match="STATE_TABLE_NAME"):
        Release(ledger)(world.ecs, "shop", "api", world.scope())
    assert world.ecs.calls == []


# -- Triage ---------------------------------------------------------------------------------------------


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


def test_the_enforcers_own_call_is_ignored_without_an_aws_call() -> None:
    world = World(snapshot())
    own = trigger(
        caller_arn="arn:aws:sts::123456789012:assumed-role/sidecar-enforcer-fn/other-session",
        caller_role_arn="arn:aws:iam::123456789012:role/sidecar-enforcer-fn",
    )

    finding = world.triage(own)

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert finding.reasons == ["the enforcer's own call (CloudTrail hands it back): nothing to do"]
    assert world.ecs.calls == []
    assert world.table.ops == []


MEMBER_ROLE_SESSION = f"arn:aws:sts::{MEMBER}:assumed-role/sidecar-enforcer-member/sidecar-enforcer"
MEMBER_ROLE = f"arn:aws:iam::{MEMBER}:role/sidecar-enforcer-member"


def test_the_enforcers_own_call_in_a_member_account_is_ignored_without_an_aws_call() -> None:
    """CloudTrail in the member account records the enforcer's calls as its member role's session."""
    world = member_world()

    finding = world.gate.ignored(
        Trigger(
            "event-9",
            MEMBER,
            MEMBER_REGION,
            "UpdateService",
            (ServiceTarget("shop", "api"),),
            caller_arn=MEMBER_ROLE_SESSION,
            caller_role_arn=MEMBER_ROLE,
        )
    )

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert finding.reasons == ["the enforcer's own call (CloudTrail hands it back): nothing to do"]
    assert (finding.account, finding.region) == (MEMBER, MEMBER_REGION)
    assert world.ecs_asked == []  # no gateway, no AssumeRole
    assert world.members[MEMBER].calls == []
    assert world.table.ops == []
    assert world.publisher.published == []


@pytest.mark.parametrize(
    ("caller", "issuer"),
    [
        # another role of the member account (its pipeline)
        (
            f"arn:aws:sts::{MEMBER}:assumed-role/deploy-pipeline/run-9",
            f"arn:aws:iam::{MEMBER}:role/deploy-pipeline",
        ),
        # the member role's name, another session name: not the enforcer's session
        (f"arn:aws:sts::{MEMBER}:assumed-role/sidecar-enforcer-member/alice", MEMBER_ROLE),
        # the enforcer's session name on a role that is not the member role
        (f"arn:aws:sts::{MEMBER}:assumed-role/admin/sidecar-enforcer", f"arn:aws:iam::{MEMBER}:role/admin"),
        # the session matches, but the issuer is a same-named role on another path
        (MEMBER_ROLE_SESSION, f"arn:aws:iam::{MEMBER}:role/other/sidecar-enforcer-member"),
        # the session matches, but the issuer is in another account
        (MEMBER_ROLE_SESSION, "arn:aws:iam::333333333333:role/sidecar-enforcer-member"),
        # a user of the member account
        (f"arn:aws:iam::{MEMBER}:user/sidecar-enforcer", None),
    ],
)
def test_other_callers_in_a_member_account_are_not_ignored(caller: str, issuer: str | None) -> None:
    world = member_world()

    assert world.triage(trigger(account=MEMBER, caller_arn=caller, caller_role_arn=issuer)) is None


def test_the_member_roles_path_is_part_of_its_issuer() -> None:
    world = member_world(settings=Settings(member_role_name="/platform/sidecar-enforcer-member"))
    own = trigger(
        account=MEMBER,
        caller_arn=MEMBER_ROLE_SESSION,  # an assumed-role ARN carries no path
        caller_role_arn=f"arn:aws:iam::{MEMBER}:role/platform/sidecar-enforcer-member",
    )
    unpathed = trigger(account=MEMBER, caller_arn=MEMBER_ROLE_SESSION, caller_role_arn=MEMBER_ROLE)

    assert world.triage(own) is not None
    assert world.triage(unpathed) is None


def test_someone_elses_call_is_not_ignored() -> None:
    world = World(snapshot())

    assert world.triage(trigger()) is None
    assert world.ecs.calls == []
    assert world.table.ops == []


@pytest.mark.parametrize(
    ("keys", "ignored"),
    [
        (frozenset({"team", "cost-center"}), True),
        (frozenset(), True),
        (frozenset({"team", "tracing-sidecar"}), False),
        (frozenset({RELEASE_KEY}), False),
    ],
)
def test_a_tag_resource_call_matters_only_for_the_opt_in_or_release_key(
    keys: frozenset[str], ignored: bool
) -> None:
    world = World(snapshot())

    finding = world.triage(trigger(name="TagResource", tag_keys=keys))

    assert (finding is not None) is ignored
    if finding is not None:
        assert finding.status is Status.IGNORED
        assert "other than tracing-sidecar and tracing-sidecar-release" in finding.reasons[0]
    assert world.ecs.calls == []
    assert world.table.ops == []


def test_an_ended_deployment_not_ours_is_ignored_after_one_ledger_read() -> None:
    world = World(snapshot())
    ended = trigger(
        name="SERVICE_DEPLOYMENT_COMPLETED", caller_arn=None, targets=(outcome("ecs-svc/theirs"),)
    )

    finding = world.triage(ended)

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert finding.reasons == ["deployment ecs-svc/theirs was not started by the enforcer"]
    assert finding.deployment_id == "ecs-svc/theirs"
    assert world.table.ops == [("get", f"service#{service_arn()}", "state")]
    assert world.ecs.calls == []
    assert world.identity_asked == 0


def test_an_ended_deployment_of_ours_is_not_ignored() -> None:
    world = deployed_world()
    world.table.ops.clear()
    ended = trigger(name="SERVICE_DEPLOYMENT_COMPLETED", caller_arn=None, targets=(outcome(),))

    assert world.triage(ended) is None
    assert [op[0] for op in world.table.ops] == ["get"]


def test_an_ignored_trigger_through_the_gate_is_logged_not_published() -> None:
    world = World(snapshot())

    finding = world.gate.ignored(trigger(ignored="DeleteService needs no enforcement"))

    assert finding is not None
    assert finding.status is Status.IGNORED
    assert world.publisher.published == []
    assert world.ecs.calls == []
    assert world.table.ops == []


# -- Reporter (scope.py) and the outbox --------------------------------------------------------------


def finding(status: Status = Status.REMEDIATED) -> Finding:
    return Scope(ACCOUNT, REGION, "UpdateService", "event-1", Mode.ENFORCE).finding(
        status, cluster="shop", service="api"
    )


def test_the_reporter_publishes_changes_and_problems_not_routine_outcomes() -> None:
    world = World()

    for status in Status:
        world.report(finding(status))

    assert world.publisher.statuses == [
        s.value for s in Status if s not in (Status.IGNORED, Status.COMPLIANT, Status.NOT_OPTED_IN)
    ]
    assert world.ledger.outbox() == []


def test_asked_for_everything_the_reporter_publishes_routine_outcomes_too_but_never_ignored() -> None:
    world = World()
    loud = Reporter(world.publisher, world.ledger, world.drain, publish_routine=True)

    for status in (Status.IGNORED, Status.COMPLIANT, Status.NOT_OPTED_IN, Status.FAILED):
        loud(finding(status))

    assert world.publisher.statuses == ["COMPLIANT", "NOT_OPTED_IN", "FAILED"]


def test_a_status_sns_did_not_take_is_kept_and_published_after_the_next_success() -> None:
    world = World()
    world.publisher.failures.append(AwsError("Publish: ServiceUnavailable"))

    kept = world.report(finding(Status.REMEDIATED))

    assert kept.status is Status.REMEDIATED  # never undone or blocked
    assert world.publisher.published == []
    (stored,) = world.ledger.outbox()
    assert stored.doc["message"] == kept.to_message()
    assert stored.doc["attempts"] == 0

    world.report(finding(Status.VERIFIED))

    assert world.publisher.statuses == ["VERIFIED", "REMEDIATED"]
    assert world.ledger.outbox() == []


def test_a_status_sns_refused_counts_its_first_attempt() -> None:
    world = World()
    world.publisher.failures.append(RejectedError("Publish: InvalidParameter"))

    world.report(finding())

    (stored,) = world.ledger.outbox()
    assert stored.doc["attempts"] == 1


def test_the_scheduled_tick_drains_the_outbox() -> None:
    world = World()
    world.publisher.failures.append(AwsError("Publish: ServiceUnavailable"))
    world.report(finding())

    tick = world.gate.tick(trigger(name="Scheduled Event", targets=(), caller_arn=None))

    assert tick.status is Status.IGNORED
    assert tick.reasons == ["published 1 status(es) kept while SNS refused them"]
    assert world.publisher.statuses == ["REMEDIATED"]
    assert OUTBOX not in {pk for pk, _ in world.table.stored()}


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
