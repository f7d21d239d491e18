"""The safety rules for one service (domain.safety.service_rules), decided on plain data: a ServiceSnapshot
as ECS would show it, a Plan from ``plan()`` on a small task definition, and a ServiceRecord as the
state table would hold it. No AWS, no clock, no state table."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sidecar_enforcer.domain.ecs.snapshots import DeploymentState, ServiceSnapshot
from sidecar_enforcer.domain.planning.plan import Decision, Plan, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.domain.safety.records import Deployment, Revert, RevertPolicy, ServiceRecord
from sidecar_enforcer.domain.safety.service_rules import (
    ServiceFacts,
    Verdict,
    controller_reason,
    controller_verdict,
    decide,
    needs_record,
)
from sidecar_enforcer.domain.status import Status

from ._factories import ACCOUNT, JAEGER, REGION, SOURCE_ARN, fargate

SOURCE = SOURCE_ARN  # the service's own revision, without the sidecar
OURS = SOURCE_ARN.replace(":7", ":8")  # the compliant revision the enforcer registered and deployed
RELEASE_KEY = "tracing-sidecar-release"
WHY = "service tag tracing-sidecar=required requires the default profile"
POLICY = RevertPolicy(max_reverts=2, window_seconds=600)
NOW = 10_000.0
PIPELINE = "arn:aws:sts::123456789012:assumed-role/deploy-pipeline/run-1"
TERRAFORM = "arn:aws:sts::123456789012:assumed-role/terraform/run-9"


# -- plans -----------------------------------------------------------------------------------------


def _compliant_task() -> tuple[dict[str, Any], list[dict[str, str]]]:
    request = copy.deepcopy(plan(fargate(), [], JAEGER).register_input)
    assert request is not None
    tags = request.pop("tags")
    return {**request, "taskDefinitionArn": OURS}, tags


def _drifted_task() -> dict[str, Any]:
    task, _ = _compliant_task()
    sidecar = next(c for c in task["containerDefinitions"] if c["name"] == JAEGER.container_name)
    sidecar["image"] = "jaegertracing/all-in-one:1.0"
    return {**task, "taskDefinitionArn": SOURCE}


MISSING = plan(fargate(), [], JAEGER)
COMPLIANT = plan(*_compliant_task(), JAEGER)
DRIFTED = plan(_drifted_task(), [], JAEGER)  # upgrades off: reported, nothing planned
UPGRADE = plan(_drifted_task(), [], JAEGER, Policy(upgrade_drifted=True))  # upgrades on: a change
REFUSED = plan({"family": "shop-api", "containerDefinitions": []}, [], JAEGER)
CHANGE_PLANS = (MISSING, UPGRADE)
NO_CHANGE_PLANS = (COMPLIANT, DRIFTED, REFUSED)


def test_the_plans_are_what_the_tests_take_them_for() -> None:
    assert (MISSING.decision, MISSING.register_input is not None) == (Decision.MISSING, True)
    assert (UPGRADE.decision, UPGRADE.register_input is not None) == (Decision.DRIFTED, True)
    assert (COMPLIANT.decision, COMPLIANT.register_input) == (Decision.COMPLIANT, None)
    assert (DRIFTED.decision, DRIFTED.register_input) == (Decision.DRIFTED, None)
    assert (REFUSED.decision, REFUSED.register_input) == (Decision.REFUSED, None)


# -- services and records --------------------------------------------------------------------------


def primary(task_definition: str, id: str = "ecs-svc/0", rollout: str = "COMPLETED") -> DeploymentState:
    return DeploymentState(id, "PRIMARY", task_definition, rollout)


def service(
    task_definition: str = SOURCE,
    *,
    controller: str = "ECS",
    tags: dict[str, str] | None = None,
    deployments: tuple[DeploymentState, ...] | None = None,
) -> ServiceSnapshot:
    return ServiceSnapshot(
        arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/shop/api",
        name="api",
        cluster_arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/shop",
        status="ACTIVE",
        task_definition=task_definition,
        deployment_controller=controller,
        tags={"tracing-sidecar": "required", **(tags or {})},
        deployments=(primary(task_definition),) if deployments is None else deployments,
    )


def ours(deployment_id: str | None = "ecs-svc/1", outcome: str | None = None) -> Deployment:
    return Deployment(OURS, deployment_id, 100.0, "jaeger", "jaeger", outcome)


def deployed(**kw: Any) -> ServiceRecord:
    """The enforcer deployed its compliant revision to the service."""
    return ServiceRecord(deployment=ours(**kw))


def quarantined(status: str = "FLAPPING") -> ServiceRecord:
    reverts = (Revert(50.0, PIPELINE, SOURCE, "ecs-svc/0"),)
    record = dataclasses.replace(deployed(), reverts=reverts)
    return records.quarantine(record, status, "the sidecar was taken away 3 times", now=500.0)


def token(record: ServiceRecord) -> str:
    assert record.quarantine is not None
    return record.quarantine.token


def facts(
    plan: Plan = MISSING,
    snapshot: ServiceSnapshot | None = None,
    record: ServiceRecord | None = None,
    *,
    audit: bool = False,
    caller: str | None = PIPELINE,
    now: float = NOW,
    policy: RevertPolicy = POLICY,
) -> ServiceFacts:
    return ServiceFacts(
        service=snapshot or service(),
        plan=plan,
        why=WHY,
        audit=audit,
        release_tag_key=RELEASE_KEY,
        revert_policy=policy,
        now=now,
        caller=caller,
        record=record,
    )


def applies_nothing(verdict: Verdict) -> bool:
    return not verdict.register and verdict.record is None and verdict.released is None


# -- needs_record: when deciding needs the state table ----------------------------------------------


@pytest.mark.parametrize(
    ("decided", "controller", "tags", "needed"),
    [
        pytest.param(MISSING, "ECS", {}, True, id="missing-ecs"),
        pytest.param(UPGRADE, "ECS", {}, True, id="upgrade-ecs"),
        pytest.param(MISSING, "CODE_DEPLOY", {}, False, id="missing-codedeploy"),
        pytest.param(MISSING, "EXTERNAL", {}, False, id="missing-external"),
        pytest.param(COMPLIANT, "ECS", {}, False, id="compliant"),
        pytest.param(DRIFTED, "ECS", {}, False, id="drifted-upgrades-off"),
        pytest.param(REFUSED, "ECS", {}, False, id="refused"),
        pytest.param(COMPLIANT, "ECS", {RELEASE_KEY: "abc"}, True, id="compliant-release-tag"),
        pytest.param(MISSING, "CODE_DEPLOY", {RELEASE_KEY: "abc"}, False, id="codedeploy-release-tag"),
        pytest.param(COMPLIANT, "ECS", {"tracing-sidecar-other": "x"}, False, id="other-tag"),
    ],
)
def test_needs_record_only_for_a_change_ecs_can_make_or_a_release_tag(
    decided: Plan, controller: str, tags: dict[str, str], needed: bool
) -> None:
    assert needs_record(service(controller=controller, tags=tags), decided, RELEASE_KEY) is needed


# -- 1. another deployment controller ----------------------------------------------------------------


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
@pytest.mark.parametrize("decided", [*CHANGE_PLANS, *NO_CHANGE_PLANS])
@pytest.mark.parametrize("record", [None, deployed(), quarantined()], ids=["none", "deployed", "quarantined"])
@pytest.mark.parametrize("audit", [False, True], ids=["enforce", "audit"])
def test_another_deployment_controller_is_skipped_whatever_the_plan_and_the_record(
    controller: str, decided: Plan, record: ServiceRecord | None, audit: bool
) -> None:
    verdict = decide(facts(decided, service(controller=controller), record, audit=audit))

    assert verdict == controller_verdict(service(controller=controller))
    assert verdict.status is Status.SKIPPED
    assert verdict.reasons == (controller_reason(controller),)
    assert f"the {controller} deployment controller" in verdict.reasons[0]
    assert applies_nothing(verdict)
    assert verdict.release is None


def test_the_controller_rule_needs_no_plan_and_lets_ecs_through() -> None:
    assert controller_verdict(service(controller="ECS")) is None
    assert controller_verdict(service(controller="CODE_DEPLOY")) is not None


def test_the_controller_reasons_say_where_to_add_the_sidecar() -> None:
    code_deploy = controller_reason("CODE_DEPLOY")
    external = controller_reason("EXTERNAL")

    assert "CodeDeploy deployment registers" in code_deploy
    assert "CreateTaskSet" in external
    assert all("sidecar-enforcer plan" in r for r in (code_deploy, external))


# -- 2. nothing to change ----------------------------------------------------------------------------


@pytest.mark.parametrize("decided", NO_CHANGE_PLANS, ids=["compliant", "drifted", "refused"])
@pytest.mark.parametrize(
    "record",
    [None, ServiceRecord(), deployed(), quarantined(), quarantined("DEPLOYMENT_FAILED")],
    ids=["unread", "empty", "deployed", "flapping", "deployment-failed"],
)
@pytest.mark.parametrize("audit", [False, True], ids=["enforce", "audit"])
def test_nothing_to_change_is_said_as_planned_without_a_record_even_when_quarantined(
    decided: Plan, record: ServiceRecord | None, audit: bool
) -> None:
    verdict = decide(facts(decided, record=record, audit=audit))

    assert verdict.status.value == decided.decision.value
    assert verdict.reasons == tuple(decided.reasons)
    assert verdict.changes == ()
    assert applies_nothing(verdict)
    assert verdict.release is None


def test_a_release_tag_that_does_not_match_with_nothing_to_change_is_as_planned() -> None:
    snapshot = service(OURS, tags={RELEASE_KEY: "not-the-token"})

    verdict = decide(facts(COMPLIANT, snapshot, quarantined()))

    assert verdict.status is Status.COMPLIANT
    assert applies_nothing(verdict)


def test_the_matching_release_tag_releases_a_compliant_service_too() -> None:
    record = quarantined()
    snapshot = service(OURS, tags={RELEASE_KEY: token(record)})

    verdict = decide(facts(COMPLIANT, snapshot, record))

    assert verdict.status is Status.COMPLIANT
    assert verdict.released is not None
    assert verdict.record == records.released(record)
    assert not verdict.register


# -- 3. quarantine and its release -------------------------------------------------------------------


@pytest.mark.parametrize("status", ["FLAPPING", "DEPLOYMENT_FAILED"])
@pytest.mark.parametrize("decided", CHANGE_PLANS, ids=["missing", "upgrade"])
def test_a_quarantined_service_with_a_change_planned_is_left_alone_with_release_instructions(
    status: str, decided: Plan
) -> None:
    record = quarantined(status)

    verdict = decide(facts(decided, record=record))

    assert verdict.status is Status.QUARANTINED
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith(f"quarantined since 1970-01-01T00:08:20+00:00 ({status}): ")
    assert "taken away 3 times" in verdict.reasons[0]
    assert verdict.release is not None
    assert "sidecar-enforcer release --cluster shop --service api" in verdict.release
    assert f"{RELEASE_KEY}={token(record)}" in verdict.release
    assert applies_nothing(verdict)


def test_the_release_tag_with_the_quarantines_token_releases_and_the_rules_go_on() -> None:
    record = quarantined()
    snapshot = service(tags={RELEASE_KEY: token(record)})

    verdict = decide(facts(MISSING, snapshot, record))

    assert verdict.released == (
        f"released by the tag {RELEASE_KEY}={token(record)} from FLAPPING "
        "(the sidecar was taken away 3 times)"
    )
    assert verdict.record == ServiceRecord(lease=None, deployment=None, reverts=(), quarantine=None)
    # the service left our revision (it runs SOURCE), but the release forgot the deployment:
    # no revert is counted, the enforcer starts again from here
    assert verdict.status is Status.REMEDIATED
    assert verdict.register
    assert verdict.reasons == (WHY, *MISSING.reasons)
    assert verdict.release is None


def test_a_release_keeps_the_lease_of_the_record() -> None:
    lease = records.Lease("me", NOW + 100)
    record = quarantined().with_lease(lease)
    snapshot = service(tags={RELEASE_KEY: token(record)})

    verdict = decide(facts(MISSING, snapshot, record))

    assert verdict.record is not None
    assert verdict.record.lease == lease
    assert verdict.record.quarantine is None


@pytest.mark.parametrize(
    "tag",
    [{RELEASE_KEY: "0123456789ab"}, {RELEASE_KEY: ""}, {"tracing-sidecar-releasex": "x"}, {}],
    ids=["wrong-token", "empty", "other-key", "no-tag"],
)
def test_a_release_tag_without_this_quarantines_token_releases_nothing(tag: dict[str, str]) -> None:
    verdict = decide(facts(MISSING, service(tags=tag), quarantined()))

    assert verdict.status is Status.QUARANTINED
    assert applies_nothing(verdict)


def test_an_earlier_quarantines_token_does_not_release_a_later_one() -> None:
    first = quarantined()
    later = records.quarantine(records.released(first), "DEPLOYMENT_FAILED", "rolled back", now=900.0)
    assert token(first) != token(later)

    verdict = decide(facts(MISSING, service(tags={RELEASE_KEY: token(first)}), later))

    assert verdict.status is Status.QUARANTINED


def test_audit_mode_never_releases_even_with_the_right_token() -> None:
    record = quarantined()

    verdict = decide(facts(MISSING, service(tags={RELEASE_KEY: token(record)}), record, audit=True))

    assert verdict.status is Status.QUARANTINED
    assert verdict.release is not None
    assert applies_nothing(verdict)


# -- 4. audit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decided", "status"),
    [(MISSING, Status.NONCOMPLIANT), (UPGRADE, Status.DRIFTED)],
    ids=["missing", "drifted-upgrade"],
)
@pytest.mark.parametrize(
    "record",
    [None, ServiceRecord(), deployed()],
    ids=["unread", "empty", "reverted-and-rolled-back"],
)
def test_audit_reports_the_planned_changes_and_applies_nothing(
    decided: Plan, status: Status, record: ServiceRecord | None
) -> None:
    failed = (DeploymentState("ecs-svc/1", "ACTIVE", OURS, "FAILED"), primary(SOURCE))
    verdict = decide(facts(decided, service(deployments=failed), record, audit=True))

    assert verdict.status is status
    assert verdict.reasons == (WHY, *decided.reasons)
    assert verdict.changes == tuple(decided.changes)
    assert verdict.changes  # the plan says what would change
    assert applies_nothing(verdict)
    assert verdict.failed is None


# -- 5. the enforcer's deployment failed (rolled back before its FAILED event arrived) ----------------


def rolled_back(rollout: str = "FAILED") -> ServiceSnapshot:
    """The circuit breaker rolls our deployment back: the service is on SOURCE again."""
    return service(
        deployments=(
            primary(SOURCE, "ecs-svc/2", "IN_PROGRESS"),
            dataclasses.replace(primary(OURS, "ecs-svc/1", rollout), status="ACTIVE"),
        )
    )


def test_a_failed_rollout_of_the_enforcers_deployment_quarantines_never_a_second_try() -> None:
    record = deployed()

    verdict = decide(facts(MISSING, rolled_back(), record))

    assert verdict.status is Status.DEPLOYMENT_FAILED
    assert verdict.reasons == (f"deployment ecs-svc/1 of {OURS} shows rolloutState FAILED",)
    assert verdict.failed == record.deployment
    assert not verdict.register
    assert verdict.record is not None
    assert verdict.record.deployment == ours(outcome="DEPLOYMENT_FAILED")
    assert verdict.record.quarantine is not None
    assert verdict.record.quarantine.status == "DEPLOYMENT_FAILED"
    assert verdict.record.quarantine.since == NOW
    assert verdict.record.reverts == ()  # a rollback is not a revert
    assert verdict.release is not None
    assert f"{RELEASE_KEY}={verdict.record.quarantine.token}" in verdict.release


@pytest.mark.parametrize(
    ("record", "snapshot"),
    [
        pytest.param(deployed(outcome="VERIFIED"), rolled_back(), id="concluded-verified"),
        pytest.param(deployed(outcome="DEPLOYMENT_FAILED"), rolled_back(), id="concluded-failed"),
        pytest.param(deployed(deployment_id=None), rolled_back(), id="no-deployment-id"),
        pytest.param(deployed(deployment_id="ecs-svc/other"), rolled_back(), id="another-deployment"),
        pytest.param(deployed(), rolled_back("IN_PROGRESS"), id="still-in-progress"),
        pytest.param(deployed(), rolled_back("COMPLETED"), id="completed"),
    ],
)
def test_anything_else_is_no_failed_rollout(record: ServiceRecord, snapshot: ServiceSnapshot) -> None:
    verdict = decide(facts(MISSING, snapshot, record))

    # the service runs SOURCE again: a revert, counted, and the compliant revision deployed again
    assert verdict.status is Status.REMEDIATED
    assert verdict.failed is None
    assert verdict.register
    assert verdict.record is not None
    assert verdict.record.quarantine is None
    assert len(verdict.record.reverts) == 1


# -- 6. reverts --------------------------------------------------------------------------------------


def test_the_first_revert_is_counted_and_remediated() -> None:
    verdict = decide(facts(MISSING, service(SOURCE), deployed()))

    assert verdict.status is Status.REMEDIATED
    assert verdict.register
    assert verdict.reasons[:-1] == (WHY, *MISSING.reasons)
    assert verdict.reasons[-1] == (
        f"the service had left the enforcer's revision for {SOURCE}, by {PIPELINE}: "
        "revert 1 of at most 2 within 600 s"
    )
    assert verdict.record is not None
    assert verdict.record.reverts == (Revert(NOW, PIPELINE, SOURCE, "ecs-svc/1"),)
    assert verdict.record.deployment == ours()  # kept: the revert is matched against it
    assert verdict.record.quarantine is None


def test_a_revert_by_an_unknown_caller_says_so() -> None:
    verdict = decide(facts(MISSING, service(SOURCE), deployed(), caller=None))

    assert records.UNKNOWN_CALLER in verdict.reasons[-1]
    assert verdict.record is not None
    assert verdict.record.reverts[0].caller == records.UNKNOWN_CALLER


def test_the_same_revert_seen_again_is_not_counted_again() -> None:
    first = decide(facts(MISSING, service(SOURCE), deployed()))
    assert first.record is not None

    again = decide(facts(MISSING, service(SOURCE), first.record, now=NOW + 5))

    assert again.status is Status.REMEDIATED
    assert again.register
    assert again.record is None  # nothing to write
    assert "revert 1 of at most 2" in again.reasons[-1]


def test_a_revert_to_another_revision_is_another_revert() -> None:
    first = decide(facts(MISSING, service(SOURCE), deployed()))
    assert first.record is not None
    elsewhere = SOURCE.replace(":7", ":6")

    again = decide(facts(MISSING, service(elsewhere), first.record, now=NOW + 5))

    assert again.record is not None
    assert [r.task_definition for r in again.record.reverts] == [SOURCE, elsewhere]
    assert "revert 2 of at most 2" in again.reasons[-1]


def test_more_reverts_than_allowed_within_the_window_is_flapping_naming_who_most_often_first() -> None:
    earlier = (
        Revert(NOW - 300, TERRAFORM, SOURCE, "ecs-svc/a"),
        Revert(NOW - 200, PIPELINE, SOURCE, "ecs-svc/b"),
    )
    record = dataclasses.replace(deployed(), reverts=earlier)

    verdict = decide(facts(MISSING, service(SOURCE), record, caller=PIPELINE))

    assert verdict.status is Status.FLAPPING
    assert verdict.reverted_by == (PIPELINE, TERRAFORM)
    assert not verdict.register
    assert verdict.record is not None
    assert len(verdict.record.reverts) == 3
    assert verdict.record.quarantine is not None
    assert verdict.record.quarantine.status == "FLAPPING"
    assert verdict.reasons == (verdict.record.quarantine.reason,)
    assert "3 times within 600 s (more than 2)" in verdict.reasons[0]
    assert f"{PIPELINE} (2x), {TERRAFORM} (1x)" in verdict.reasons[0]
    assert verdict.release is not None
    assert f"{RELEASE_KEY}={verdict.record.quarantine.token}" in verdict.release


def test_reverts_older_than_the_window_are_forgotten() -> None:
    old = (
        Revert(NOW - 700, TERRAFORM, SOURCE, "ecs-svc/a"),
        Revert(NOW - 601, TERRAFORM, SOURCE, "ecs-svc/b"),
    )
    record = dataclasses.replace(deployed(), reverts=old)

    verdict = decide(facts(MISSING, service(SOURCE), record))

    assert verdict.status is Status.REMEDIATED
    assert verdict.record is not None
    assert verdict.record.reverts == (Revert(NOW, PIPELINE, SOURCE, "ecs-svc/1"),)
    assert "revert 1 of at most 2" in verdict.reasons[-1]


def test_max_reverts_zero_makes_the_first_revert_flapping() -> None:
    verdict = decide(facts(MISSING, service(SOURCE), deployed(), policy=RevertPolicy(0, 600)))

    assert verdict.status is Status.FLAPPING
    assert verdict.reverted_by == (PIPELINE,)


@pytest.mark.parametrize(
    "snapshot",
    [
        pytest.param(service(OURS), id="runs-ours"),
        pytest.param(
            service(SOURCE, deployments=(primary(OURS, "ecs-svc/1", "IN_PROGRESS"),)), id="rolls-ours-out"
        ),
    ],
)
def test_a_service_on_the_enforcers_revision_is_no_revert(snapshot: ServiceSnapshot) -> None:
    verdict = decide(facts(MISSING, snapshot, deployed()))

    assert verdict.status is Status.REMEDIATED
    assert verdict.register
    assert verdict.record is None
    assert verdict.reasons == (WHY, *MISSING.reasons)


def test_a_service_the_enforcer_never_deployed_is_remediated_without_a_record() -> None:
    for record in (None, ServiceRecord()):
        verdict = decide(facts(MISSING, service(SOURCE), record))

        assert verdict.status is Status.REMEDIATED
        assert verdict.register
        assert verdict.record is None
        assert verdict.reasons == (WHY, *MISSING.reasons)


# -- an intent: the deployment recorded before UpdateService, its id not (yet) ------------------------


def intended() -> ServiceRecord:
    return ServiceRecord(intent=records.intent(OURS, at=100.0, profile="jaeger", sidecar="jaeger"))


def test_an_intent_whose_deployment_failed_is_deployment_failed_as_one_whose_id_was_recorded() -> None:
    rolled_back = (primary(SOURCE, "ecs-svc/rollback", "IN_PROGRESS"),)
    failed = DeploymentState("ecs-svc/1", "ACTIVE", OURS, "FAILED")
    snapshot = service(SOURCE, deployments=(*rolled_back, failed))

    verdict = decide(facts(MISSING, snapshot, intended()))

    assert verdict == decide(facts(MISSING, snapshot, deployed()))
    assert verdict.status is Status.DEPLOYMENT_FAILED
    assert verdict.failed is not None
    assert verdict.failed.deployment_id == "ecs-svc/1"


def test_an_intent_the_service_left_is_a_revert_counted_against_its_deployment() -> None:
    theirs = primary(SOURCE, "ecs-svc/9", "IN_PROGRESS")
    snapshot = service(
        SOURCE, deployments=(theirs, DeploymentState("ecs-svc/1", "ACTIVE", OURS, "IN_PROGRESS"))
    )

    verdict = decide(facts(MISSING, snapshot, intended()))

    assert verdict == decide(facts(MISSING, snapshot, deployed()))
    assert verdict.record is not None
    assert [(r.left, r.task_definition) for r in verdict.record.reverts] == [("ecs-svc/1", SOURCE)]


def test_an_intent_no_deployment_of_the_service_shows_is_no_revert() -> None:
    """Its UpdateService may never have reached ECS: remediated again, nothing counted."""
    verdict = decide(facts(MISSING, service(SOURCE), intended()))

    assert verdict.status is Status.REMEDIATED
    assert verdict.register
    assert verdict.record is None


def test_adopt_takes_the_id_of_the_services_deployment_of_the_intents_revision() -> None:
    record = intended()
    draining = DeploymentState("ecs-svc/1", "ACTIVE", OURS, "IN_PROGRESS")

    assert records.adopt(record, (primary(SOURCE),)) == record
    adopted = records.adopt(record, (primary(SOURCE, "ecs-svc/9"), draining))
    assert adopted == deployed()  # as if UpdateService's answer had been recorded
    assert records.adopt(deployed(), (primary(OURS, "ecs-svc/2"),)) == deployed()  # an id recorded stays
    assert records.not_ours(record, "ecs-svc/1") is None  # may be ours: the service's deployments tell
    assert records.not_ours(record, "ecs-svc/1", (draining,)) is None
    assert records.not_ours(record, "ecs-svc/9", (primary(SOURCE, "ecs-svc/9"),)) == (
        "deployment ecs-svc/9 was not started by the enforcer"
    )


def test_a_release_forgets_an_intent_too() -> None:
    record = records.quarantine(intended(), "FLAPPING", "x", now=1.0)

    assert records.released(record) == ServiceRecord()


def test_an_intent_that_never_reached_ecs_keeps_the_last_deployment_to_count_reverts_against() -> None:
    record = dataclasses.replace(
        deployed(), intent=records.intent(OURS, at=200.0, profile="jaeger", sidecar="jaeger")
    )
    snapshot = service(SOURCE, deployments=(primary(SOURCE, "ecs-svc/9"),))  # the pipeline's revert

    verdict = decide(facts(MISSING, snapshot, record))

    assert verdict.status is Status.REMEDIATED
    assert verdict.record is not None
    assert [r.left for r in verdict.record.reverts] == ["ecs-svc/1"]


# -- properties ----------------------------------------------------------------------------------------

PLANS = st.sampled_from([MISSING, UPGRADE, COMPLIANT, DRIFTED, REFUSED])
CALLERS = st.sampled_from([PIPELINE, TERRAFORM, None])
REVISIONS = st.sampled_from([SOURCE, OURS, SOURCE.replace(":7", ":6")])
IDS = st.sampled_from(["ecs-svc/0", "ecs-svc/1", "ecs-svc/2"])


OUR_DEPLOYMENTS = st.none() | st.builds(
    Deployment,
    task_definition=REVISIONS,
    deployment_id=st.none() | IDS,
    at=st.floats(0, NOW),
    profile=st.just("jaeger"),
    sidecar=st.just("jaeger"),
    outcome=st.sampled_from([None, "VERIFIED", "DEPLOYMENT_FAILED"]),
)
REVERTS = st.lists(
    st.builds(
        Revert,
        at=st.floats(NOW - 1200, NOW),
        caller=st.sampled_from([PIPELINE, TERRAFORM]),
        task_definition=REVISIONS,
        left=st.none() | IDS,
    ),
    max_size=4,
)
QUARANTINES = st.sampled_from([None, "FLAPPING", "DEPLOYMENT_FAILED"])
ECS_DEPLOYMENTS = st.lists(
    st.builds(
        DeploymentState,
        id=IDS,
        status=st.sampled_from(["PRIMARY", "ACTIVE"]),
        task_definition=REVISIONS,
        rollout_state=st.sampled_from([None, "IN_PROGRESS", "COMPLETED", "FAILED"]),
    ),
    max_size=3,
)
CONTROLLERS = st.sampled_from(["ECS", "CODE_DEPLOY", "EXTERNAL"])
RELEASE_TAGS = st.sampled_from(["none", "wrong", "token"])


@st.composite
def all_facts(draw: st.DrawFn) -> ServiceFacts:
    record: ServiceRecord | None = None
    if draw(st.booleans()):
        record = ServiceRecord(deployment=draw(OUR_DEPLOYMENTS), reverts=tuple(draw(REVERTS)))
        status = draw(QUARANTINES)
        if status is not None:
            record = records.quarantine(record, status, "x", now=1.0)
    tags: dict[str, str] = {}
    release = draw(RELEASE_TAGS)
    if release == "wrong":
        tags[RELEASE_KEY] = "not-a-token"
    elif release == "token" and record is not None and record.quarantine is not None:
        tags[RELEASE_KEY] = record.quarantine.token
    snapshot = service(
        draw(REVISIONS), controller=draw(CONTROLLERS), tags=tags, deployments=tuple(draw(ECS_DEPLOYMENTS))
    )
    policy = RevertPolicy(draw(st.integers(0, 4)), draw(st.integers(60, 3600)))
    return facts(
        draw(PLANS), snapshot, record, audit=draw(st.booleans()), caller=draw(CALLERS), policy=policy
    )


def matching_release(f: ServiceFacts) -> bool:
    quarantine = f.record.quarantine if f.record else None
    return quarantine is not None and f.service.tags.get(RELEASE_KEY) == quarantine.token


@settings(max_examples=200, deadline=None)
@given(all_facts())
def test_decide_keeps_the_safety_rules_whatever_the_facts(f: ServiceFacts) -> None:
    verdict = decide(f)
    planned = f.plan.register_input is not None

    if f.audit:  # audit changes nothing, not even the record
        assert applies_nothing(verdict)
    if f.service.deployment_controller != "ECS":
        assert verdict.status is Status.SKIPPED
        assert applies_nothing(verdict)
    if verdict.register:
        assert planned
        assert not f.audit
        assert f.service.deployment_controller == "ECS"
        assert verdict.status is Status.REMEDIATED
    if f.record is not None and f.record.quarantine is not None and not matching_release(f):
        assert not verdict.register
        assert verdict.record is None
        assert verdict.status.value in {"QUARANTINED", "SKIPPED", f.plan.decision.value}
    if verdict.released is not None:
        assert matching_release(f)
        assert not f.audit
        assert verdict.record is not None
        assert verdict.record.quarantine is None
    if verdict.status in {Status.FLAPPING, Status.DEPLOYMENT_FAILED}:
        assert verdict.record is not None
        assert verdict.record.quarantine is not None
        assert verdict.release is not None
        assert verdict.record.quarantine.token in verdict.release
    if verdict.record is not None:
        assert f.record is not None  # a record is written only when one was read


def without_release_tag(f: ServiceFacts) -> ServiceFacts:
    tags = {k: v for k, v in f.service.tags.items() if k != RELEASE_KEY}
    return dataclasses.replace(f, service=dataclasses.replace(f.service, tags=tags))


@settings(max_examples=200, deadline=None)
@given(all_facts().map(without_release_tag))
def test_without_needs_record_the_record_changes_nothing(f: ServiceFacts) -> None:
    """The cheap path is safe: when needs_record says no, the use case decides without reading the
    record, and the verdict is the one the record would have given."""
    assume(not needs_record(f.service, f.plan, RELEASE_KEY))
    assert decide(f) == decide(dataclasses.replace(f, record=None))
