"""The backfill function (functions/backfill) on moto: a run queues one item per service on the work
queue, the workers decide each in audit mode and keep it in the run, and the last one writes the
report to the report bucket and publishes one digest instead of a status per service."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from sidecar_enforcer.adapters.dynamodb import StateTable
from sidecar_enforcer.errors import MalformedEventError
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.cli import main
from sidecar_enforcer_dev.local import Pipeline, lambda_context

from .conftest import ACCOUNT, BUCKET, DIGEST_SCHEMA, Aws, Functions, Inbox, stored_report


def families(aws: Aws) -> list[str]:
    return sorted(aws.ecs.list_task_definitions()["taskDefinitionArns"])


def test_a_run_audits_every_service_through_the_workers_and_ends_in_one_digest_and_a_report(
    aws: Aws,
    seeded: fleet.Fleet,
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = families(aws)

    answer = backfill.lambda_handler({"mode": "audit", "runId": "bf-test-1"}, lambda_context("backfill"))
    drained = pipeline.drain()

    assert answer == {"runId": "bf-test-1", "mode": "audit", "queued": 6, "placesFailed": 0}
    assert drained.delivered == 6
    assert families(aws) == before  # audit: nothing registered
    messages = inbox.messages_raw()
    assert len(messages) == 1  # one digest, no status per service
    digest = json.loads(messages[0]["Body"])
    jsonschema.validate(digest, DIGEST_SCHEMA)
    assert messages[0]["attributes"]["status"] == "DIGEST"
    assert digest["runId"] == "bf-test-1"
    assert digest["totals"] == {
        "SKIPPED": 1,
        "NONCOMPLIANT": 2,
        "DRIFTED": 1,
        "COMPLIANT": 1,
        "NOT_OPTED_IN": 1,
    }
    assert digest["byAccountRegion"] == {f"{ACCOUNT}/us-east-1": digest["totals"]}
    assert [w["service"] for w in digest["worst"]][:2] == ["checkout-web", "nexus-ai-api-prod"]
    assert digest["report"]["json"] == f"s3://{BUCKET}/backfill/bf-test-1/report.json"
    report = stored_report(bucket, "bf-test-1")
    assert report["services"] == 6
    assert {r["service"] for r in report["results"]} == set(seeded.services)
    page = bucket.get_object(Bucket=BUCKET, Key="backfill/bf-test-1/report.html")
    assert page["ContentType"].startswith("text/html")
    assert fleet.CANARY not in json.dumps(report) + json.dumps(digest) + capsys.readouterr().err

    assert main(["backfill-status", "bf-test-1", "--state-table", table]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "DONE"
    assert (status["done"], status["expected"], status["percent"]) == (6, 6, 100.0)


def test_a_retried_item_is_counted_once_and_the_run_still_finishes_once(
    aws: Aws,
    seeded: fleet.Fleet,
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    app: Functions,
    work_queue: str,
) -> None:
    backfill.lambda_handler({"mode": "audit", "runId": "bf-test-2"}, lambda_context("backfill"))
    received = aws.sqs.receive_message(QueueUrl=work_queue, MaxNumberOfMessages=10, AttributeNames=["All"])
    records = [
        {"messageId": m["MessageId"], "body": m["Body"], "attributes": m["Attributes"]}
        for m in received["Messages"]
    ]
    assert len(records) == 6

    app.worker.process(records[:1])
    app.worker.process(records[:1])  # delivered again (a timeout after the work was done)
    app.worker.process(records[1:5])
    assert inbox.messages_raw() == []  # 5 of 6: not finished
    app.worker.process(records[5:])
    app.worker.process(records[5:])  # the last one again: still one digest

    assert len(inbox.messages_raw()) == 1
    run = Ledger(StateTable(aws.dynamodb, table)).run("bf-test-2")
    assert run is not None
    assert (run.done, run.expected, run.status) == (6, 6, "DONE")


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "mode: Field required"),
        ({"mode": "fix-everything"}, "mode: Input should be 'audit' or 'enforce'"),
        ({"mode": "audit", "accounts": ["12345"]}, "accounts: '12345' is not a 12-digit account id"),
        ({"mode": "audit", "regions": ["mars-1"]}, "regions: 'mars-1' is not a region"),
        ({"mode": "audit", "surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"mode": "enforce", "largest": 101}, "largest: Input should be less than or equal to 100"),
        ({"mode": "enforce", "first": 6, "largest": 5}, "waves: first >= 1, largest >= first"),
        ({"mode": "enforce", "failureShare": 1}, "failureShare: Input should be less than 1"),
        ({"mode": "enforce", "verifySeconds": 0}, "verifySeconds: Input should be greater than 0"),
    ],
)
def test_a_payload_it_cannot_run_is_refused_in_one_line_and_queues_nothing(
    aws: Aws,
    seeded: fleet.Fleet,
    table: str,
    work_queue: str,
    backfill: Any,
    payload: dict[str, Any],
    problem: str,
) -> None:
    with pytest.raises(MalformedEventError) as raised:
        backfill.start(payload)

    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=work_queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_run_of_an_empty_place_finishes_at_once(
    aws: Aws, table: str, inbox: Inbox, bucket: Any, work_queue: str, backfill: Any
) -> None:
    answer = backfill.start({"mode": "audit", "regions": ["eu-west-1"], "runId": "bf-empty"})

    assert answer["queued"] == 0
    (message,) = inbox.messages_raw()
    assert json.loads(message["Body"])["services"] == 0


def test_a_profile_s_run_reports_only_the_services_that_ask_for_it_as_the_command_line_does(
    aws: Aws, seeded: fleet.Fleet, table: str, inbox: Inbox, bucket: Any, backfill: Any, pipeline: Pipeline
) -> None:
    backfill.lambda_handler(
        {"mode": "audit", "runId": "bf-adot", "profile": "adot"}, lambda_context("backfill")
    )
    pipeline.drain()

    report = stored_report(bucket, "bf-adot")
    rows = Ledger(StateTable(aws.dynamodb, table)).run_rows("bf-adot")
    asked = {r["service"]: r.get("profile") for r in rows.values()}
    assert set(asked) == set(seeded.services)  # every service was decided and kept in the run
    assert {r["service"] for r in report["results"]} == {s for s, p in asked.items() if p in (None, "adot")}
    assert "jaeger" in asked.values()  # and those asking for another profile were left out
    assert report["services"] == len(report["results"]) < len(seeded.services)
