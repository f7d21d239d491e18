"""Noise: an UpdateService that names no task definition and forces no new deployment (a
desiredCount change, above all Application Auto Scaling's) cannot change compliance. The CloudTrail
rules' pattern (template.yaml, and member.yaml's forwarding rule, equal to it) drops it, evaluated
with moto's EventBridge pattern matcher ($or, exists); the router ignores it too (models.events) for
a rule that would let it through. The corpus's real CloudTrail records are measured as well."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.models.events import NOISE, changes_compliance, parse_trigger
from sidecar_enforcer_dev.noise import envelope, matches, records, rule_pattern, summary

from ._factories import ROOT, SHARED_CORPUS

PATTERN = rule_pattern(ROOT / "template.yaml")
EVENTS = ROOT / "events"


def sample(name: str, **params: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    data["detail"]["requestParameters"] = {**data["detail"]["requestParameters"], **params}
    return data


def update(params: dict[str, Any]) -> dict[str, Any]:
    data = sample("cloudtrail-updateservice.json")
    data["detail"]["requestParameters"] = params
    return data


@pytest.mark.parametrize(
    ("params", "delivered"),
    [
        pytest.param({"service": "web", "desiredCount": 6}, False, id="desired-count-only"),
        pytest.param(
            {"service": "web", "forceNewDeployment": False, "desiredCount": 0}, False, id="not-forced"
        ),
        pytest.param({"service": "web", "taskDefinition": "web:3"}, True, id="task-definition"),
        pytest.param({"service": "web", "forceNewDeployment": True}, True, id="forced"),
        pytest.param(
            {"service": "web", "taskDefinition": "web:3", "forceNewDeployment": True}, True, id="both"
        ),
    ],
)
def test_the_rule_delivers_an_update_service_only_when_it_can_change_compliance(
    params: dict[str, Any], delivered: bool
) -> None:
    event = update(params)

    assert matches(PATTERN, event) is delivered
    assert changes_compliance(params) is delivered
    trigger = parse_trigger(event)  # the router, for a rule that lets it through
    assert (trigger.ignored is None) is delivered
    if not delivered:
        assert trigger.ignored == NOISE
        assert trigger.targets == ()


@pytest.mark.parametrize(
    "name",
    [
        "cloudtrail-createservice.json",
        "cloudtrail-registertaskdefinition.json",
        "cloudtrail-tagresource-service.json",
        "cloudtrail-updateservice.json",
        "cloudtrail-updateservice-codedeploy.json",
    ],
)
def test_the_rule_still_delivers_every_call_the_enforcer_acts_on(name: str) -> None:
    event = sample(name)

    assert matches(PATTERN, event)
    assert parse_trigger(event).targets


def test_the_rule_drops_a_failed_call_and_an_auto_scaling_change() -> None:
    failed = sample("cloudtrail-updateservice.json")
    failed["detail"]["errorCode"] = "AccessDenied"
    scaled = sample("cloudtrail-updateservice-autoscaling.json")

    assert not matches(PATTERN, failed)
    assert not matches(PATTERN, scaled)
    assert parse_trigger(scaled).ignored == NOISE


def test_the_member_forwarding_rule_filters_the_same() -> None:
    member = rule_pattern_of_member()
    scaled = sample("cloudtrail-updateservice-autoscaling.json")

    assert member == PATTERN
    assert not matches(member, scaled)
    assert matches(member, sample("cloudtrail-updateservice.json"))


def rule_pattern_of_member() -> dict[str, Any]:
    import yaml
    from sidecar_enforcer_dev.noise import CloudFormation

    doc = yaml.load((ROOT / "member.yaml").read_text(encoding="utf-8"), Loader=CloudFormation)  # noqa: S506
    pattern: dict[str, Any] = doc["Resources"]["ForwardCloudTrailEcsCalls"]["Properties"]["EventPattern"]
    return pattern


def test_the_matcher_can_refuse_what_the_pattern_excludes() -> None:
    """The matcher is no stub: a pattern without the $or filter delivers the desiredCount change."""
    loose = copy.deepcopy(PATTERN)
    loose["detail"].pop("$or")

    assert matches(loose, sample("cloudtrail-updateservice-autoscaling.json"))


# -- the corpus's real CloudTrail records ------------------------------------------------------------


@pytest.mark.skipif(
    not (SHARED_CORPUS / "events").is_dir(), reason="the shared corpus is not beside the repo"
)
def test_the_share_of_noise_in_the_corpus_cloudtrail_records(capsys: pytest.CaptureFixture[str]) -> None:
    found = records(SHARED_CORPUS / "events", PATTERN)
    text = summary(found)
    with capsys.disabled():
        print("\n" + text.splitlines()[-1])

    records_on_disk = [
        p
        for p in (SHARED_CORPUS / "events").glob("*.json")
        if '"eventSource"' in p.read_text(encoding="utf-8-sig")
    ]
    assert len(found) == len(records_on_disk)  # every CloudTrail record is counted, nothing else
    for record in found:
        path = SHARED_CORPUS / "events" / record.file
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        event = doc if "detail-type" in doc else envelope(doc)
        ecs_call = event["detail"].get("eventSource") == "ecs.amazonaws.com"
        queued = ecs_call and record.event_name in (
            "CreateService",
            "UpdateService",
            "TagResource",
            "RegisterTaskDefinition",
        )
        # delivered exactly when the enforcer acts on it, never for noise
        assert record.delivered is (queued and not record.noise), record.file
    assert f"{sum(r.noise for r in found)} of {len(found)} CloudTrail records" in text


def test_envelope_gives_a_raw_record_the_source_eventbridge_gives_it() -> None:
    record = {"eventSource": "ecs.amazonaws.com", "eventName": "CreateService"}

    assert envelope(record) == {
        "source": "aws.ecs",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": record,
    }


def test_records_ignores_what_is_no_cloudtrail_record(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"detail-type": "ECS Task State Change", "detail": {}}))
    (tmp_path / "b.json").write_text(json.dumps(update({"service": "web", "desiredCount": 2})))

    found = records(tmp_path, PATTERN)

    assert [(r.file, r.noise, r.delivered) for r in found] == [("b.json", True, False)]
    assert summary(found).endswith("0 delivered by CloudTrailEcsCalls")
    assert "1 of 1 CloudTrail records (100.0%)" in summary(found)
