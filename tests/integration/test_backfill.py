"""``sidecar-enforcer backfill`` on moto: a fleet audited without a change, revisions described at
most once and not at all on a second run, remediated in waves that wait for verification, stopped by
the fleet circuit breaker, across the accounts of an organisation; reports in every format.

moto leaves every deployment IN_PROGRESS and starts no task: ``rollouts.Settler`` plays ECS's part
(COMPLETED with a task whose containers run, or FAILED and rolled back), as AWS would.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from sidecar_enforcer.adapters.switches import Switches
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer.usecases import rollout
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.cli import main
from sidecar_enforcer_dev.rollouts import Settler

from ..conftest import assert_status_message
from .conftest import ACCOUNT, MEMBER, Aws, clients_in

STAGING = "shop-staging"
NEXUS = "nexus-ai-api-prod"
TO_CHANGE = ["catalog-search", "checkout-web", NEXUS]  # missing, or drifted with --upgrade-drifted


@pytest.fixture
def fleet_(aws: Aws, seeded: fleet.Fleet) -> fleet.Fleet:
    """The demo fleet, and a staging cluster opted in by its own tag whose three services share
    one revision (nexus's, without the sidecar)."""
    aws.ecs.create_cluster(clusterName=STAGING, tags=[{"key": "tracing-sidecar", "value": "jaeger"}])
    shared = seeded.services[NEXUS]
    network = aws.ecs.describe_services(cluster=fleet.CLUSTER, services=[NEXUS])["services"][0][
        "networkConfiguration"
    ]
    for n in range(3):
        aws.ecs.create_service(
            cluster=STAGING,
            serviceName=f"staging-{n}",
            taskDefinition=shared,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
        )
    return seeded


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("STATUS_TOPIC_ARN", raising=False)
    return tmp_path


def backfill(tmp: Path, *args: str, name: str = "r.json") -> tuple[int, dict[str, Any]]:
    report = tmp / name
    code = main(["backfill", "--regions", "us-east-1", "--report", str(report), *args])
    data = json.loads(report.read_text()) if name.endswith(".json") else {"text": report.read_text()}
    return code, data


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {f"{r['cluster']}/{r['service']}": r["status"] for r in report["results"]}


def running(aws: Aws) -> dict[str, str]:
    found = {}
    for cluster in (fleet.CLUSTER, STAGING):
        arns = aws.ecs.list_services(cluster=cluster)["serviceArns"]
        for svc in aws.ecs.describe_services(cluster=cluster, services=arns)["services"]:
            found[f"{cluster}/{svc['serviceName']}"] = svc["taskDefinition"]
    return found


def families(aws: Aws) -> list[str]:
    return sorted(aws.ecs.list_task_definitions()["taskDefinitionArns"])


def test_an_audit_finds_each_service_as_an_event_would_and_changes_nothing(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, revisions = running(aws), families(aws)

    code, report = backfill(cache, "--mode", "audit")

    assert code == 0
    assert statuses(report) == {
        "shop-prod/nexus-ai-api-prod": "NONCOMPLIANT",
        "shop-prod/billing-worker": "NOT_OPTED_IN",
        "shop-prod/search-gateway": "COMPLIANT",
        "shop-prod/payments-legacy": "SKIPPED",
        "shop-prod/checkout-web": "NONCOMPLIANT",
        "shop-prod/catalog-search": "DRIFTED",
        "shop-staging/staging-0": "NONCOMPLIANT",
        "shop-staging/staging-1": "NONCOMPLIANT",
        "shop-staging/staging-2": "NONCOMPLIANT",
    }
    assert report["totals"] == {
        "NONCOMPLIANT": 5,
        "DRIFTED": 1,
        "SKIPPED": 1,
        "COMPLIANT": 1,
        "NOT_OPTED_IN": 1,
    }
    assert running(aws) == before
    assert families(aws) == revisions
    for row in report["results"]:
        assert_status_message(row)
        assert row["mode"] == "audit"
        assert row["trigger"] == "backfill"
        assert row["eventId"] == report["runId"]
    assert fleet.CANARY not in json.dumps(report) + capsys.readouterr().out


def test_a_run_makes_the_floor_of_requests_and_a_second_run_describes_no_revision(
    aws: Aws, fleet_: fleet.Fleet, cache: Path
) -> None:
    _, first = backfill(cache, "--mode", "audit")
    _, second = backfill(cache, "--mode", "audit", name="again.json")

    # 1 page of clusters, their tags in one DescribeClusters, 1 page of services per cluster,
    # DescribeServices in tens, and each distinct revision of an opted-in service once: the three
    # staging services share nexus's, and payments-legacy's deployment controller (CODE_DEPLOY)
    # answers before its revision is read (4 revisions for 8 opted-in services).
    ecs = {k: v for k, v in first["calls"].items() if k.startswith("ecs:")}
    assert ecs == {
        "ecs:ListClusters": 1,
        "ecs:DescribeClusters": 1,
        "ecs:ListServices": 2,
        "ecs:DescribeServices": 2,
        "ecs:DescribeTaskDefinition": 4,
    }
    assert "ecs:DescribeTaskDefinition" not in second["calls"]
    assert second["plansRemembered"] == 4
    assert statuses(second) == statuses(first)
    assert [r["reasons"] for r in second["results"]] == [r["reasons"] for r in first["results"]]


def test_no_plans_describes_again(aws: Aws, fleet_: fleet.Fleet, cache: Path) -> None:
    backfill(cache, "--mode", "audit")
    _, again = backfill(cache, "--mode", "audit", "--no-plans", name="again.json")

    assert again["calls"]["ecs:DescribeTaskDefinition"] == 4
    assert again["plansRemembered"] == 0


def test_enforce_remediates_in_growing_waves_and_verifies_each_deployment(
    aws: Aws, fleet_: fleet.Fleet, cache: Path
) -> None:
    before = running(aws)
    with Settler(ACCOUNT, "us-east-1", interval=0.05):
        code, report = backfill(
            cache,
            "--mode",
            "enforce",
            "--clusters",
            fleet.CLUSTER,
            "--upgrade-drifted",
            "--grow-task-size",
            "--first-wave",
            "1",
            "--wave-growth",
            "2",
            "--poll",
            "0.05",
        )

    assert code == 0
    assert report["stopped"] is None
    assert [(w["number"], w["size"], w["succeeded"], w["failed"]) for w in report["waves"]] == [
        (1, 1, 1, 0),
        (2, 2, 2, 0),
    ]
    changed = {f"{fleet.CLUSTER}/{name}" for name in TO_CHANGE}
    assert {k for k, v in statuses(report).items() if v == "VERIFIED"} == changed
    after = running(aws)
    assert {k for k in after if after[k] != before.get(k)} == changed
    assert after[f"{STAGING}/staging-0"] == before[f"{STAGING}/staging-0"]  # --clusters: only shop-prod
    for row in report["results"]:
        assert_status_message(row)
        if row["status"] == "VERIFIED":
            assert row["newTaskDefinitionArn"] == after[f"{row['cluster']}/{row['service']}"]


def test_the_fleet_circuit_breaker_stops_the_run_and_leaves_the_rest_unchanged(
    aws: Aws, fleet_: fleet.Fleet, cache: Path
) -> None:
    before = running(aws)
    with Settler(ACCOUNT, "us-east-1", fails=lambda name: True, interval=0.05):
        code, report = backfill(
            cache, "--mode", "enforce", "--first-wave", "2", "--per-cluster", "2", "--poll", "0.05"
        )

    assert code == 1
    assert report["stopped"].startswith("the run stopped after wave 1 of ")
    assert [(w["size"], w["failed"], w["tripped"]) for w in report["waves"]] == [(2, 2, True)]
    failed = {k for k, v in statuses(report).items() if v == "DEPLOYMENT_FAILED"}
    assert len(failed) == 2
    named = report["waves"][0]["failedMembers"]
    assert {f"{m['cluster']}/{m['service']}" for m in named} == failed
    for member in named:
        assert member["status"] == "DEPLOYMENT_FAILED"
        key = f"{member['cluster']}/{member['service']}"
        row = next(r for r in report["results"] if f"{r['cluster']}/{r['service']}" == key)
        assert member["reason"] == row["reasons"][-1]
        assert row["wave"] == 1
    untouched = {k for k, v in statuses(report).items() if v == "NONCOMPLIANT"}
    assert len(untouched) == 3  # 5 to change: 2 in the first wave, 3 never sent
    after = running(aws)
    for key in untouched:
        assert after[key] == before[key]
        row = next(r for r in report["results"] if f"{r['cluster']}/{r['service']}" == key)
        assert row["reasons"][-1].startswith("not changed: the run stopped after wave 1")
    for key in failed:  # rolled back by the (simulated) circuit breaker; quarantined by the enforcer
        assert after[key] == before[key]


def test_a_service_tagged_for_audit_never_enters_a_wave_and_is_reported_in_audit(
    aws: Aws, fleet_: fleet.Fleet, cache: Path
) -> None:
    # checkout-web comes first of the services to change: in the first wave, its audit's
    # NONCOMPLIANT would count as a failed deployment and trip the breaker.
    arn = aws.ecs.describe_services(cluster=fleet.CLUSTER, services=["checkout-web"])["services"][0]
    aws.ecs.tag_resource(
        resourceArn=arn["serviceArn"], tags=[{"key": "tracing-sidecar", "value": "jaeger:audit"}]
    )
    before = running(aws)
    with Settler(ACCOUNT, "us-east-1", interval=0.05):
        code, report = backfill(
            cache, "--mode", "enforce", "--clusters", fleet.CLUSTER, "--first-wave", "1", "--poll", "0.05"
        )

    assert code == 0
    assert report["stopped"] is None
    assert [(w["size"], w["succeeded"], w["failed"], w["neutral"]) for w in report["waves"]] == [(1, 1, 0, 0)]
    audited = next(r for r in report["results"] if r["service"] == "checkout-web")
    assert (audited["status"], audited["mode"], audited["auditOnly"]) == ("NONCOMPLIANT", "audit", True)
    assert running(aws)[f"{fleet.CLUSTER}/checkout-web"] == before[f"{fleet.CLUSTER}/checkout-web"]
    assert statuses(report)[f"{fleet.CLUSTER}/{NEXUS}"] == "VERIFIED"


def test_a_deployment_that_never_ends_fails_after_the_verify_timeout_and_stops_the_run(
    aws: Aws, fleet_: fleet.Fleet, cache: Path
) -> None:
    # No Settler: moto leaves every deployment IN_PROGRESS, as a rollout that hangs would.
    code, report = backfill(
        cache,
        "--mode",
        "enforce",
        "--clusters",
        fleet.CLUSTER,
        "--first-wave",
        "1",
        "--verify-timeout",
        "1",
        "--poll",
        "0.05",
    )

    assert code == 1
    assert [(w["size"], w["failed"], w["tripped"]) for w in report["waves"]] == [(1, 1, True)]
    ((member,),) = [w["failedMembers"] for w in report["waves"]]
    row = statuses(report)
    assert row[f"{member['cluster']}/{member['service']}"] == "FAILED"
    assert member["reason"].endswith("had not ended after 1 s")
    assert report["stopped"].startswith("the run stopped after wave 1 of 2: 1 of 1 deployments failed")


@pytest.fixture
def organization(aws: Aws, fleet_: fleet.Fleet, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An organisation of two active accounts, the hub's and a member's, each with the demo fleet."""
    from sidecar_enforcer.adapters import organizations

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    session = clients_in(aws, MEMBER, "us-east-1")
    fleet.seed(session.client("ecs"), session.client("ec2"), MEMBER, builtin_profiles()["jaeger"].container)
    # moto's create_account makes an account with a random id; the member this test seeded is
    # listed by patching the listing, the rest is moto's.
    accounts = [ACCOUNT, MEMBER]
    monkeypatch.setattr(organizations.Organization, "active_accounts", lambda self: iter(accounts))
    return accounts


def test_an_organization_run_surveys_every_active_account_through_its_member_role(
    organization: list[str], cache: Path
) -> None:
    code, report = backfill(cache, "--mode", "audit", "--organization")

    assert code == 0
    assert set(report["byAccountRegion"]) == {f"{ACCOUNT}/us-east-1", f"{MEMBER}/us-east-1"}
    assert report["byAccountRegion"][f"{MEMBER}/us-east-1"]["NONCOMPLIANT"] == 2
    assert {r["account"] for r in report["results"]} == {ACCOUNT, MEMBER}


def test_places_surveyed_in_separate_processes_find_and_count_what_one_process_does(
    organization: list[str], cache: Path
) -> None:
    alone, separate = cache / "alone", cache / "separate"
    for folder, processes in ((alone, "1"), (separate, "2")):
        folder.mkdir()
        # two regions an account: more places than processes
        plans = ("--plans", str(folder / "plans.json"), "--regions", "us-east-1,eu-west-1")
        first = backfill(folder, "--mode", "audit", "--organization", "--processes", processes, *plans)
        again = backfill(folder, "--mode", "audit", "--organization", "--processes", processes, *plans,
                         name="again.json")  # fmt: skip
        assert first[0] == again[0] == 0
        (folder / "first.json").write_text(json.dumps(first[1]))
        (folder / "again.json").write_text(json.dumps(again[1]))
    for name in ("first.json", "again.json"):
        one, two = (json.loads((f / name).read_text()) for f in (alone, separate))
        # The same findings: each run has its own id, and of services sharing a revision, those
        # whose decision described it carry the remedy, the others found its plan remembered (which
        # of them comes first is the threads' timing, in one process as in two).
        rows = [
            sorted(({**r, "eventId": "-", "remedy": None} for r in d["results"]), key=str) for d in (one, two)
        ]
        assert rows[0] == rows[1]
        assert one["calls"] == two["calls"]
        assert one["plansRemembered"] == two["plansRemembered"]
    # the children's plans reached the file: the second run described no revision
    assert "ecs:DescribeTaskDefinition" not in json.loads((separate / "again.json").read_text())["calls"]
    assert json.loads((separate / "again.json").read_text())["plansRemembered"] > 0


def test_a_place_whose_survey_process_fails_is_one_failed_row_and_the_others_stand(
    organization: list[str], cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from sidecar_enforcer.adapters.survey import EcsSurvey

    clusters = EcsSurvey.clusters

    def some_broken(self: EcsSurvey) -> Any:
        found = list(clusters(self))
        if any(MEMBER in arn for arn in found):
            raise RuntimeError("a fault\nover two lines")
        return iter(found)

    monkeypatch.setattr(EcsSurvey, "clusters", some_broken)
    code, report = backfill(cache, "--mode", "audit", "--organization", "--processes", "2")

    assert code == 1
    failed = [r for r in report["results"] if r["status"] == "FAILED"]
    assert [(r["account"], r["reasons"]) for r in failed] == [
        (MEMBER, [f"{MEMBER}/us-east-1 not surveyed: RuntimeError: a fault over two lines"])
    ]
    assert {r["account"] for r in report["results"] if r["status"] != "FAILED"} == {ACCOUNT}
    assert "Traceback" not in capsys.readouterr().err

    def dies(self: EcsSurvey) -> Any:
        found = list(clusters(self))
        if any(MEMBER in arn for arn in found):
            os._exit(3)  # the child process ends at once, as a kill would end it
        return iter(found)

    monkeypatch.setattr(EcsSurvey, "clusters", dies)
    code, report = backfill(cache, "--mode", "audit", "--organization", "--processes", "2", name="d.json")

    assert code == 1
    failed = [r for r in report["results"] if r["status"] == "FAILED"]
    assert [r["account"] for r in failed] == [MEMBER]
    assert failed[0]["reasons"][0].startswith(f"{MEMBER}/us-east-1 not surveyed: its survey process ended")
    assert {r["account"] for r in report["results"] if r["status"] != "FAILED"} == {ACCOUNT}
    assert "Traceback" not in capsys.readouterr().err


def test_active_accounts_are_listed_from_organizations(aws: Aws) -> None:
    import boto3
    from sidecar_enforcer.adapters.organizations import Organization

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    created = org.create_account(AccountName="team-a", Email="team-a@example.com")["CreateAccountStatus"]

    listed = set(Organization(org).active_accounts())

    assert created["AccountId"] in listed
    assert ACCOUNT in listed


@pytest.mark.parametrize("extension", ["csv", "md", "html"])
def test_the_report_format_follows_the_file_extension(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, extension: str
) -> None:
    code, written = backfill(cache, "--mode", "audit", name=f"r.{extension}")
    text = written["text"]

    assert code == 0
    if extension == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 9
        assert {r["status"] for r in rows} >= {"NONCOMPLIANT", "COMPLIANT"}
    elif extension == "md":
        assert "| NONCOMPLIANT | 5 |" in text
        assert "## Needs attention" in text
    else:
        assert text.startswith("<!DOCTYPE html>")
        assert "<svg" in text
        assert not re.search(r"https?://|\b(?:src|href)=", text)  # nothing fetched


def test_an_unknown_report_extension_is_refused_before_anything_runs(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backfill", "--regions", "us-east-1", "--report", str(cache / "r.pdf")])

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ".json, .csv, .md or .html" in err


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--accounts", "12345"], "--accounts: '12345' is not a 12-digit account id"),
        (["--accounts", f"{ACCOUNT},{ACCOUNT}"], f"--accounts: {ACCOUNT!r} is given twice"),
        (["--regions", "mars-1"], "--regions: 'mars-1' is not a region"),
        (["--regions", "us-east-1,us-east-1"], "--regions: 'us-east-1' is given twice"),
        (["--clusters", "shop prod"], "--clusters: 'shop prod' is not a cluster name"),
        (["--clusters", f"{fleet.CLUSTER},{fleet.CLUSTER}"], f"--clusters: {fleet.CLUSTER!r} is given twice"),
        (["--workers", "0"], "--workers: 0: at least 1"),
        (["--workers", "100000"], "--workers: 100000: at most 64"),
        (["--processes", "0"], "--processes: 0: at least 1"),
        (["--processes", "65"], "--processes: 65: at most 64"),
        (["--poll", "0"], "--poll: 0.0: a number of seconds more than 0"),
        (["--poll", "nan"], "--poll: nan: a number of seconds more than 0"),
        (["--verify-timeout", "inf"], "--verify-timeout: inf: a number of seconds more than 0"),
        (["--wave-growth", "nan"], "--wave-growth: nan: a finite number"),
        (["--wave-growth", "inf"], "--wave-growth: inf: a finite number"),
        (["--failure-share", "1"], "waves: failure_share must be in [0, 1)"),
        (["--profile", "no-such"], "--profile: unknown profile 'no-such'"),
        (["--report", "/no/such/folder/r.json"], "--report: /no/such/folder: no such folder"),
    ],
)
def test_every_option_is_checked_before_anything_runs(
    aws: Aws,
    fleet_: fleet.Fleet,
    cache: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    problem: str,
) -> None:
    before = running(aws)
    where = ["--regions", "us-east-1"] if "--regions" not in options else []

    code = main(["backfill", "--mode", "enforce", *where, *options])

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"sidecar-enforcer backfill: {problem}")
    assert running(aws) == before
    assert not (cache / "cache").exists()  # not even the plans file


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backfill(cache, "--mode", "audit")
    err = capsys.readouterr().err

    assert "\r" not in err
    assert err.splitlines()[-1].startswith("[########################] done: 9/9 services")


def test_with_a_status_topic_the_run_publishes_one_digest_and_no_status_per_service(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, inbox: Any
) -> None:
    import jsonschema

    from ..conftest import ROOT

    code, report = backfill(cache, "--mode", "audit")

    (message,) = inbox.messages_raw()
    digest = json.loads(message["Body"])
    jsonschema.validate(digest, json.loads((ROOT / "schemas" / "digest-v1.json").read_text(encoding="utf-8")))
    assert code == 0
    assert message["attributes"]["status"] == "DIGEST"
    assert (digest["runId"], digest["services"], digest["totals"]) == (
        report["runId"],
        9,
        report["totals"],
    )
    assert digest["report"]["file"].endswith("r.json")


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (RuntimeError("injected fault\nover two lines"), "RuntimeError: injected fault over two lines"),
        (KeyboardInterrupt(), "interrupted (Ctrl-C)"),
    ],
)
def test_a_fault_after_the_first_change_still_writes_the_report_and_publishes_the_digest(
    aws: Aws,
    fleet_: fleet.Fleet,
    cache: Path,
    inbox: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fault: BaseException,
    why: str,
) -> None:
    from sidecar_enforcer.usecases.verify_deployment import VerifyDeployment

    def faulty(*args: Any, **kwargs: Any) -> Any:
        raise fault

    # The first wave's service is remediated (registered and deployed); judging its deployment fails.
    monkeypatch.setattr(VerifyDeployment, "__call__", faulty)
    before = running(aws)
    with Settler(ACCOUNT, "us-east-1", interval=0.05):
        code, report = backfill(
            cache, "--mode", "enforce", "--clusters", fleet.CLUSTER, "--first-wave", "1", "--poll", "0.05"
        )

    assert code == 1
    assert report["stopped"] == f"the run stopped: {why}"
    changed = [r for r in report["results"] if r["status"] == "REMEDIATED"]
    assert len(changed) == 1
    (row,) = changed
    assert running(aws)[f"{row['cluster']}/{row['service']}"] == row["newTaskDefinitionArn"]
    assert {k for k, v in running(aws).items() if v != before[k]} == {f"{row['cluster']}/{row['service']}"}
    untouched = [r for r in report["results"] if r["status"] == "NONCOMPLIANT"]
    assert untouched
    assert all(r["reasons"][-1] == f"not changed: {report['stopped']}" for r in untouched)
    (message,) = inbox.messages_raw()
    digest = json.loads(message["Body"])
    assert (digest["runId"], digest["stopped"]) == (report["runId"], report["stopped"])
    assert f"STOPPED: the run stopped: {why}" in capsys.readouterr().out


def test_a_plans_file_that_cannot_be_read_or_written_is_a_warning_and_the_report_is_written(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (cache / "blocked").write_text("a file where the plans' folder should be")
    damaged = cache / "damaged.json"
    damaged.write_text("{not json")

    code, first = backfill(cache, "--mode", "audit", "--plans", str(cache / "blocked" / "plans.json"))
    err = capsys.readouterr().err.splitlines()
    code_again, again = backfill(cache, "--mode", "audit", "--plans", str(damaged), name="again.json")
    err_again = capsys.readouterr().err.splitlines()

    assert (code, code_again) == (0, 0)
    assert statuses(first) == statuses(again)
    (warning,) = [line for line in err if "warning" in line]
    blocked = cache / "blocked" / "plans.json"
    assert warning.startswith(f"sidecar-enforcer backfill: warning: plans not remembered in {blocked}: ")
    assert [line for line in err_again if "warning" in line] == [
        f"sidecar-enforcer backfill: warning: plans not read from {damaged}: not JSON; planning afresh"
    ]
    assert json.loads(damaged.read_text())["v"] == 2  # replaced by this run's plans


def test_a_digest_that_cannot_be_published_is_one_line_and_the_report_is_still_written(
    aws: Aws,
    fleet_: fleet.Fleet,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STATUS_TOPIC_ARN", f"arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic")

    code, report = backfill(cache, "--mode", "audit")

    assert code == 1
    assert report["services"] == 9
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "digest" in line]
    assert line.startswith("sidecar-enforcer backfill: digest not published: ")


def test_a_region_without_services_names_the_caller_s_account_in_the_report(
    aws: Aws, fleet_: fleet.Fleet, cache: Path
) -> None:
    report = cache / "empty.json"

    code = main(["backfill", "--regions", "eu-west-3", "--report", str(report)])

    data = json.loads(report.read_text())
    assert (code, data["services"]) == (0, 0)
    assert data["scope"]["accounts"] == [ACCOUNT]


def test_the_stop_switch_holds_a_command_line_run_s_wave_and_releasing_it_resumes_the_run(
    aws: Aws, fleet_: fleet.Fleet, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack's stop switch, named as the stack names it, holds the command line's waves too: no
    service changes while it is on, and the run ends as it would have once it is off."""

    import boto3

    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/sidecar-enforcer/stop", Value="on", Type="String")
    monkeypatch.setenv("STOP_SWITCH_PARAMETER", "/sidecar-enforcer/stop")
    ticks = iter(range(0, 10**9, 31))  # each read of the switch finds its 30 s cache expired
    monkeypatch.setattr(rollout, "now", lambda: float(next(ticks)))
    reads = threading.Semaphore(0)
    read = Switches.read

    def counted(self: Switches, names: list[str]) -> dict[str, tuple[str, int]]:
        found = read(self, names)
        reads.release()
        return found

    monkeypatch.setattr(Switches, "read", counted)
    before = running(aws)
    while_on: list[dict[str, str]] = []

    def release() -> None:
        # Released once the run has looked at the switch a few times (held), or after 20 s: a run
        # that never looks has changed its services by then.
        deadline = time.monotonic() + 20
        for _ in range(5):
            reads.acquire(timeout=max(0.0, deadline - time.monotonic()))
        while_on.append(running(aws))
        ssm.put_parameter(Name="/sidecar-enforcer/stop", Value="off", Type="String", Overwrite=True)

    releaser = threading.Thread(target=release)
    with Settler(ACCOUNT, "us-east-1", interval=0.05):
        releaser.start()
        code, report = backfill(
            cache, "--mode", "enforce", "--clusters", fleet.CLUSTER, "--upgrade-drifted",
            "--grow-task-size", "--poll", "0.05",
        )  # fmt: skip
        releaser.join()

    assert while_on == [before]  # nothing changed while the switch was on
    assert code == 0
    assert report["stopped"] is None
    changed = {f"{fleet.CLUSTER}/{name}" for name in TO_CHANGE}
    assert {k for k, v in statuses(report).items() if v == "VERIFIED"} == changed
    after = running(aws)
    assert {k for k in after if after[k] != before.get(k)} == changed
