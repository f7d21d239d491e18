"""EnforceService (usecases/enforce_service.py) on fakes: what a path costs (which ECS calls, which
state-table reads and writes) is asserted exactly."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest
from sidecar_enforcer.config import Mode, Settings
from sidecar_enforcer.domain.ecs.taskdef import TaskDefinitionDocument
from sidecar_enforcer.domain.planning.plan import MARKER_MANAGED_BY
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.domain.safety.service_rules import controller_reason
from sidecar_enforcer.errors import (
    AccessDeniedError,
    AwsError,
    NotFoundError,
    RejectedError,
)
from sidecar_enforcer.models.findings import Status

from ._factories import ACCOUNT, JAEGER, REGION, app
from ._world import (
    CLUSTER_ARN,
    COMPLIANT,
    MEMBER,
    OPT_IN,
    PIPELINE,
    RELEASE_KEY,
    SOURCE,
    World,
    compliant_document,
    member_trigger,
    member_world,
    snapshot,
    source_document,
)


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


class _DictMemo:
    """Plans by (context, revision), as a fleet run's memo keeps them."""

    def __init__(self) -> None:
        self.plans: dict[tuple[str, str], dict[str, Any]] = {}
        self.puts = 0

    def get(self, context: str, arn: str) -> dict[str, Any] | None:
        return self.plans.get((context, arn))

    def put(self, context: str, arn: str, memo: dict[str, Any]) -> None:
        self.puts += 1
        self.plans[(context, arn)] = memo


def test_services_of_one_revision_decided_side_by_side_plan_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fleet run's threads decide services at once: the first to reach a revision describes and
    plans it, the others wait and take its plan (no second describe, no second plan)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from sidecar_enforcer.profiles import builtin_catalog
    from sidecar_enforcer.usecases import enforce_service as module
    from sidecar_enforcer.usecases.enforce_service import EnforceService

    names = [f"svc-{i}" for i in range(8)]
    world = World(*(snapshot(name) for name in names))
    memo = _DictMemo()
    enforce = EnforceService(
        world.settings, builtin_catalog, world.revisions, world.ledger, world.report, memo
    )
    planned: list[str] = []
    real_plan, gate = module.plan, threading.Barrier(len(names), timeout=0.2)  # type: ignore[attr-defined]

    def slow_plan(*args: Any, **kwargs: Any) -> Any:
        planned.append(str(kwargs.get("source_arn")))
        time.sleep(0.05)  # the others arrive meanwhile
        return real_plan(*args, **kwargs)

    def decide(name: str) -> Status:
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()  # all at once
        return enforce(world.ecs, snapshot(name), world.scope(mode=Mode.AUDIT)).status

    monkeypatch.setattr(module, "plan", slow_plan)
    with ThreadPoolExecutor(len(names)) as pool:
        statuses = list(pool.map(decide, names))

    assert set(statuses) == {Status.NONCOMPLIANT}
    assert planned == [SOURCE]
    assert world.ecs.args("describe_task_definition") == [(SOURCE,)]
    assert memo.puts == 1


def test_a_plan_made_afresh_under_the_lease_is_remembered_in_its_profile_s_context() -> None:
    """A change is planned afresh from the revision read under the lease; the plan it makes is kept
    under the same context (profile and policy) as every other, never under none."""
    from sidecar_enforcer.profiles import builtin_catalog
    from sidecar_enforcer.usecases.enforce_service import EnforceService

    world = World(snapshot())
    memo = _DictMemo()
    enforce = EnforceService(
        world.settings, builtin_catalog, world.revisions, world.ledger, world.report, memo
    )

    finding = enforce(world.ecs, snapshot(), world.scope())

    assert finding.status is Status.REMEDIATED
    assert memo.puts == 2  # deciding, then afresh under the lease
    (context,) = {c for c, _ in memo.plans}
    assert context
