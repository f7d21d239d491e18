"""The rollout on moto, through the real functions: the stop switch thrown and released mid-run (a
backfill run's next wave held, then resumed by the tick; an event decided in audit, saying
"stopped"), an OU switched from audit to enforce in the rollout policy (moto's Organizations), a
policy naming an OU the organisation does not know, and the reconciliation's digest published only
when its findings changed, its changes in the enforce scope going through the event path.

The switches are cached for 30 s per container: the tests move the containers' clock
(usecases.rollout.now) on rather than wait.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
import sidecar_enforcer.usecases.rollout as rollout_module
from sidecar_enforcer_dev.local import Pipeline, lambda_context

from .conftest import ACCOUNT, Aws, Inbox, event, ledger, play, running, start, wave_services
from .conftest import in_flight as deploying

STOP = "/sidecar-enforcer/stop"
POLICY = "/sidecar-enforcer/rollout"
SCHEDULED = {
    "version": "0",
    "id": "reconcile-1",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2026-12-07T03:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def expire(self) -> None:
        """Past every container's switch cache."""
        self.now += 31


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(rollout_module, "now", clock)
    return clock


@pytest.fixture
def ssm(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("STOP_SWITCH_PARAMETER", STOP)
    return boto3.client("ssm", region_name="us-east-1")


def switch(ssm: Any, clock: Clock, value: str) -> None:
    """The documented action: aws ssm put-parameter --name STOP --value on --overwrite."""
    ssm.put_parameter(Name=STOP, Value=value, Type="String", Overwrite=True)
    clock.expire()


def tick(pipeline: Pipeline, n: int = 1) -> dict[str, Any]:
    tick_event = {**json.loads(json.dumps(SCHEDULED)), "id": f"tick-{n}"}
    result: dict[str, Any] = pipeline.router.lambda_handler(tick_event, lambda_context("router"))
    pipeline.drain()
    return result


# -- the stop switch ----------------------------------------------------------------------------------


def test_the_stop_switch_holds_a_run_s_next_wave_and_releasing_it_resumes_the_run(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
    ssm: Any,
    clock: Clock,
) -> None:
    start(backfill, "bf-stop")
    pipeline.drain()  # the survey; wave 1 queued and deployed
    first = wave_services(aws, table, "bf-stop", 1)
    second = wave_services(aws, table, "bf-stop", 2)
    assert deploying(aws) == first

    # When the stop switch is thrown while wave 1 deploys, and wave 1's deployments end
    switch(ssm, clock, "on")
    play(aws, pipeline)

    # Then wave 2 is held: nothing more deploys, the tick keeps it held
    doc = ledger(aws, table).run("bf-stop")
    assert doc is not None
    assert (doc.wave, doc.held) == (2, 2)
    tick(pipeline)
    assert deploying(aws) == set()
    changed = {s for s, arn in running(aws).items() if arn != waves_fleet[s]}
    assert changed == first

    # When it is released: the next tick queues wave 2 again, and the run goes on to its end
    switch(ssm, clock, "off")
    tick(pipeline, 2)
    assert deploying(aws) == second
    while deploying(aws):
        play(aws, pipeline)
    digest = json.loads(inbox.messages_raw()[-1]["Body"])
    assert digest["totals"] == {"VERIFIED": len(waves_fleet)}
    assert ledger(aws, table).runs_open() == []


def test_an_event_while_stopped_is_decided_in_audit_and_says_stopped(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any, clock: Clock
) -> None:
    before = aws.ecs.list_task_definitions()["taskDefinitionArns"]
    switch(ssm, clock, "on")

    (stopped,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert stopped["status"] == "NONCOMPLIANT"
    assert stopped["mode"] == "audit"
    assert any(r.startswith("stopped") for r in stopped["reasons"])
    assert aws.ecs.list_task_definitions()["taskDefinitionArns"] == before
    assert [m["body"]["status"] for m in inbox.messages()] == ["NONCOMPLIANT"]  # reported

    switch(ssm, clock, "off")
    (released,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert released["status"] == "REMEDIATED"
    assert released["mode"] == "enforce"


# -- the rollout policy by OU -------------------------------------------------------------------------


@pytest.fixture
def organisation(aws: Aws, ssm: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """moto's organisation: this account (its management account) moved into OU "platform"."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    platform = org.create_organizational_unit(ParentId=root, Name="platform")["OrganizationalUnit"]["Id"]
    other = org.create_organizational_unit(ParentId=root, Name="other")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=ACCOUNT, SourceParentId=root, DestinationParentId=platform)
    monkeypatch.setenv("ROLLOUT_PARAMETER", POLICY)
    return {"root": root, "platform": platform, "other": other}


def policy(ssm: Any, clock: Clock, modes: dict[str, str]) -> None:
    ssm.put_parameter(Name=POLICY, Value=json.dumps({"modes": modes}), Type="String", Overwrite=True)
    clock.expire()


def test_an_ou_switched_from_audit_to_enforce(
    aws: Aws, invoke: Any, inbox: Inbox, ssm: Any, clock: Clock, organisation: dict[str, str]
) -> None:
    policy(ssm, clock, {organisation["root"]: "enforce", organisation["platform"]: "audit"})

    (audited,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert (audited["status"], audited["mode"]) == ("NONCOMPLIANT", "audit")
    assert any(organisation["platform"] in r for r in audited["reasons"])

    policy(ssm, clock, {organisation["root"]: "audit", organisation["platform"]: "enforce"})
    (enforced,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert (enforced["status"], enforced["mode"]) == ("REMEDIATED", "enforce")


def test_an_account_in_no_named_ou_is_audited(
    aws: Aws, invoke: Any, ssm: Any, clock: Clock, organisation: dict[str, str]
) -> None:
    policy(ssm, clock, {organisation["other"]: "enforce"})

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert (finding["status"], finding["mode"]) == ("NONCOMPLIANT", "audit")
    assert any("names neither account" in r for r in finding["reasons"])


def test_a_policy_naming_an_ou_the_organisation_does_not_know_is_refused(
    aws: Aws, invoke: Any, ssm: Any, clock: Clock, organisation: dict[str, str]
) -> None:
    unknown = organisation["platform"][:-8] + "00000000"
    policy(ssm, clock, {organisation["root"]: "enforce", unknown: "enforce"})

    (finding,) = invoke(event("cloudtrail-updateservice.json"))["findings"]

    assert (finding["status"], finding["mode"]) == ("NONCOMPLIANT", "audit")
    assert any(unknown in r and "does not know" in r for r in finding["reasons"])


# -- reconciliation -----------------------------------------------------------------------------------


def reconcile(backfill: Any, pipeline: Pipeline, n: int) -> dict[str, Any]:
    answer: dict[str, Any] = backfill.lambda_handler(
        {**SCHEDULED, "id": f"rc-{n}"}, lambda_context("backfill")
    )
    pipeline.drain()
    return answer


def digests(inbox: Inbox) -> list[dict[str, Any]]:
    return [b for b in (json.loads(m["Body"]) for m in inbox.messages_raw()) if "runId" in b]


def test_a_reconciliation_publishes_its_digest_only_when_something_changed(
    aws: Aws,
    invoke: Any,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENFORCEMENT_MODE", "audit")  # nothing it finds is changed

    first = reconcile(backfill, pipeline, 1)
    assert first["runId"].startswith("rc-")
    assert len(digests(inbox)) == 1
    reconcile(backfill, pipeline, 2)
    assert digests(inbox) == []  # the same findings: no digest

    aws.ecs.tag_resource(
        resourceArn=aws.ecs.describe_services(cluster="shop-prod", services=["billing-worker"])["services"][
            0
        ]["serviceArn"],
        tags=[{"key": "tracing-sidecar", "value": "jaeger"}],
    )
    reconcile(backfill, pipeline, 3)
    (changed,) = digests(inbox)
    assert changed["totals"] != {}


def test_a_reconciliation_s_changes_in_the_enforce_scope_go_through_the_event_path(
    aws: Aws,
    invoke: Any,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
) -> None:
    nexus = aws.ecs.describe_services(cluster="shop-prod", services=["nexus-ai-api-prod"])["services"][0]

    reconcile(backfill, pipeline, 1)

    statuses = [json.loads(m["Body"]) for m in inbox.messages_raw()]
    remediated = [s for s in statuses if s.get("status") == "REMEDIATED"]
    assert {(s["service"], s["trigger"]) for s in remediated} >= {("nexus-ai-api-prod", "reconcile")}
    after = aws.ecs.describe_services(cluster="shop-prod", services=["nexus-ai-api-prod"])["services"][0]
    assert after["taskDefinition"] != nexus["taskDefinition"]
    assert sum(1 for s in statuses if "runId" in s) == 1  # one digest, the statuses of the event path
