"""An enforce run through the backfill function on moto: the survey (audit) through the workers, then
the services to change in waves, each next wave queued only once the previous one's deployments were
judged by their "ECS Deployment State Change" events (router -> worker -> VerifyDeployment); the fleet
circuit breaker; duplicates counted once; the router's scheduled tick ending what will not end.

moto leaves deployments IN_PROGRESS and sends no event: ``rollouts.settle`` plays ECS's rollout
(COMPLETED with a task whose containers run, or FAILED and rolled back), and each ended deployment's
event is built from what moto then shows, as EventBridge would deliver it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import jsonschema
import pytest
from sidecar_enforcer.errors import MalformedEventError
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer_dev import fleet, rollouts
from sidecar_enforcer_dev.cli import main
from sidecar_enforcer_dev.local import Pipeline, lambda_context

from .conftest import (
    ACCOUNT,
    DIGEST_SCHEMA,
    PER_CLUSTER,
    WAVES,
    Aws,
    Functions,
    Inbox,
    ended_event,
    event,
    in_flight,
    ledger,
    play,
    running,
    services,
    start,
    stored_report,
    wave_services,
    waves_of,
)


def deployed(aws: Aws) -> dict[str, list[str]]:
    """Each service's deployment ids."""
    return {name: sorted(d["id"] for d in svc["deployments"]) for name, svc in services(aws)}


def test_an_enforce_run_goes_out_in_waves_each_queued_once_the_last_was_verified(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = waves_fleet

    answer = start(backfill, "bf-waves")
    pipeline.drain()  # the survey, in audit; its last row plans the waves and queues wave 1

    assert answer["queued"] == 2 * PER_CLUSTER
    run = ledger(aws, table).run("bf-waves")
    assert run is not None
    waves = len(run.sizes)
    planned = [wave_services(aws, table, "bf-waves", n) for n in range(1, waves + 1)]
    assert len(planned[0]) == WAVES["first"]
    assert sorted(s for w in planned for s in w) == sorted(before)  # every service in exactly one wave
    for wave in planned:
        assert max(Counter(s.split("/")[0] for s in wave).values()) <= WAVES["perCluster"]
    seen: list[set[str]] = []
    for number, wave in enumerate(planned, start=1):
        # Given wave ``number`` deployed, and nothing of the later waves yet
        assert in_flight(aws) == wave
        changed = {s for s, arn in running(aws).items() if arn != before[s]}
        assert changed == set().union(*planned[:number])
        assert main(["backfill-status", "bf-waves", "--state-table", table]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["phase"].startswith(f"wave {number}/{waves}, 0 of {len(wave)} services ended")
        # When ECS ends them and their events come
        seen.append(set(play(aws, pipeline)))
        # Then they are judged, and only then is the next wave queued
        assert seen[-1] == wave
    assert in_flight(aws) == set()

    messages = inbox.messages_raw()
    assert len(messages) == 1  # the digest: no status per service, no verdict one by one
    digest = json.loads(messages[0]["Body"])
    jsonschema.validate(digest, DIGEST_SCHEMA)
    assert digest["totals"] == {"VERIFIED": 2 * PER_CLUSTER}
    assert digest.get("stopped") is None
    report = stored_report(bucket, "bf-waves")
    assert [(w["number"], w["size"], w["succeeded"]) for w in report["waves"]] == [
        (n, len(w), len(w)) for n, w in enumerate(planned, start=1)
    ]
    after = running(aws)
    for row in report["results"]:
        assert row["status"] == "VERIFIED"
        assert row["newTaskDefinitionArn"] == after[f"{row['cluster']}/{row['service']}"]
        assert row["changes"]  # the verdict keeps what its remediation changed
    assert main(["backfill-status", "bf-waves", "--state-table", table]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["status"], status["phase"]) == ("DONE", "done")
    assert ledger(aws, table).runs_open() == []
    assert fleet.CANARY not in json.dumps(report) + json.dumps(digest) + capsys.readouterr().err


def test_a_first_wave_whose_deployments_fail_trips_the_breaker_and_the_rest_is_untouched(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
) -> None:
    before = waves_fleet
    start(backfill, "bf-breaker")
    pipeline.drain()
    first = wave_services(aws, table, "bf-breaker", 1)
    run = ledger(aws, table).run("bf-breaker")
    assert run is not None

    play(aws, pipeline, fails=lambda name: True)

    (message,) = inbox.messages_raw()
    digest = json.loads(message["Body"])
    assert digest["stopped"].startswith(f"the run stopped after wave 1 of {len(run.sizes)}: ")
    assert digest["totals"] == {"DEPLOYMENT_FAILED": len(first), "NONCOMPLIANT": len(before) - len(first)}
    report = stored_report(bucket, "bf-breaker")
    assert report["stopped"] == digest["stopped"]
    assert [(w["failed"], w["tripped"]) for w in report["waves"]] == [(len(first), True)]
    named = report["waves"][0]["failedMembers"]
    assert {f"{m['cluster']}/{m['service']}" for m in named} == first
    for member in named:
        assert member["status"] == "DEPLOYMENT_FAILED"
        assert member["reason"].startswith("the deployment failed: ECS deployment circuit breaker")
    assert {f"{r['cluster']}/{r['service']}" for r in report["results"] if r.get("wave") == 1} == first
    after = running(aws)
    for row in report["results"]:
        name = f"{row['cluster']}/{row['service']}"
        assert after[name] == before[name]  # rolled back, or never sent
        if name not in first:
            assert row["reasons"][-1] == f"not changed: {digest['stopped']}"
    ended = ledger(aws, table).run("bf-breaker")
    assert ended is not None
    assert ended.status == "STOPPED"


def test_a_service_tagged_for_audit_never_enters_a_wave_and_is_reported_in_audit(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
) -> None:
    # wave-a/app-0 comes first: in the first wave, its audit's NONCOMPLIANT would count as a failed
    # deployment and trip the fleet breaker.
    audited = "wave-a/app-0"
    arn = aws.ecs.describe_services(cluster="wave-a", services=["app-0"])["services"][0]["serviceArn"]
    aws.ecs.tag_resource(resourceArn=arn, tags=[{"key": "tracing-sidecar", "value": "jaeger:audit"}])
    start(backfill, "bf-audited", first=1, growth=100)
    pipeline.drain()
    run = ledger(aws, table).run("bf-audited")
    assert run is not None
    planned = [wave_services(aws, table, "bf-audited", n) for n in range(1, len(run.sizes) + 1)]
    assert audited not in set().union(*planned)
    assert sum(run.sizes) == len(waves_fleet) - 1

    while play(aws, pipeline):
        pass

    (message,) = inbox.messages_raw()
    digest = json.loads(message["Body"])
    assert digest.get("stopped") is None
    assert digest["totals"] == {"VERIFIED": len(waves_fleet) - 1, "NONCOMPLIANT": 1}
    report = stored_report(bucket, "bf-audited")
    row = next(r for r in report["results"] if f"{r['cluster']}/{r['service']}" == audited)
    assert (row["status"], row["mode"], row["auditOnly"]) == ("NONCOMPLIANT", "audit", True)
    assert running(aws)[audited] == waves_fleet[audited]


def test_a_duplicated_wave_item_and_a_duplicated_deployment_event_count_once(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
    app: Functions,
) -> None:
    start(backfill, "bf-twice")
    pipeline.drain()
    bodies = waves_of(aws, table, "bf-twice", 1)
    deployments = {s: d for s, d in deployed(aws).items() if s in wave_services(aws, table, "bf-twice", 1)}

    # A wave item delivered again (SQS delivers at least once): not acted on twice
    found, failures = app.worker.process([{"messageId": "again", "body": bodies[0], "attributes": {}}])
    assert (found, failures) == ([], {})
    assert {s: d for s, d in deployed(aws).items() if s in deployments} == deployments
    # A deployment's event delivered twice: judged once
    ended = rollouts.settle(ACCOUNT, "us-east-1")
    pipeline.run(ended_event(aws, ended[0]))
    again = pipeline.run(ended_event(aws, ended[0]))
    assert [f["status"] for f in again["findings"]] == ["IGNORED"]
    run = ledger(aws, table).run("bf-twice")
    assert run is not None
    assert (run.wave, len(run.ends), len(run.pending)) == (1, 1, 1)
    # and the worker's own item for it, retried, changes nothing either
    item = {"messageId": "retry", "body": bodies[0], "attributes": {}}
    assert app.worker.process([item]) == ([], {})
    assert ledger(aws, table).run("bf-twice") == run


def tick(app: Functions) -> dict[str, Any]:
    result: dict[str, Any] = app.router.lambda_handler(
        event("scheduled-outbox-tick.json"), lambda_context("router")
    )
    return result


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Every ledger's clock, ``seconds`` on (the router's and the worker's)."""
    monkeypatch.setattr(Ledger, "now", lambda self: time.time() + seconds)


def test_the_tick_fails_a_deployment_that_never_ends_and_the_run_ends(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    pipeline: Pipeline,
    app: Functions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start(backfill, "bf-stuck", verifySeconds=600)
    pipeline.drain()
    tick(app)  # within verifySeconds: nothing ends
    assert inbox.messages_raw() == []

    later(monkeypatch, 601)
    tick(app)

    (message,) = inbox.messages_raw()
    digest = json.loads(message["Body"])
    assert digest["stopped"].startswith("the run stopped after wave 1 of ")
    report = stored_report(bucket, "bf-stuck")
    failed = [r for r in report["results"] if r["status"] == "FAILED"]
    assert len(failed) == WAVES["first"]
    for row in failed:
        assert row["reasons"][-1] == f"deployment {row['deploymentId']} had not ended after 600 s"
    assert ledger(aws, table).runs_open() == []


def test_the_tick_ends_a_run_whose_items_were_lost(
    aws: Aws,
    waves_fleet: dict[str, str],
    table: str,
    inbox: Inbox,
    bucket: Any,
    backfill: Any,
    work_queue: str,
    app: Functions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start(backfill, "bf-lost", mode="audit")
    aws.sqs.purge_queue(QueueUrl=work_queue)  # the survey's items never reach a worker
    tick(app)
    assert ledger(aws, table).runs_open() == ["bf-lost"]  # not yet: they may still come

    later(monkeypatch, 2 * 3600)
    tick(app)

    (message,) = inbox.messages_raw()
    digest = json.loads(message["Body"])
    assert digest["totals"] == {"FAILED": 2 * PER_CLUSTER}
    assert "its work item was lost" in digest["worst"][0]["reasons"][0]
    report = stored_report(bucket, "bf-lost")
    assert {f"{r['cluster']}/{r['service']}" for r in report["results"]} == set(waves_fleet)
    assert ledger(aws, table).runs_open() == []


def test_a_stack_that_only_audits_refuses_an_enforce_run_in_one_line(
    aws: Aws,
    waves_fleet: dict[str, str],
    work_queue: str,
    backfill: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENFORCEMENT_MODE", "audit")

    with pytest.raises(MalformedEventError) as raised:
        backfill.start({"mode": "enforce"})

    assert "the stack's ENFORCEMENT_MODE is audit, so the run would only audit" in str(raised.value)
    assert "\n" not in str(raised.value)
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=work_queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
