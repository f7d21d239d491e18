"""The backfill bench's pure parts: the fleet's plan and what it seeds, the floor, Cloud Custodian's
policy and output, our report's reading, the comparison, and the targets' verdicts."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench import custodian, fleet
from bench.backfill import compare, floor, parse_report, repeat_floor, state_file_option
from bench.backfill_report import targets

SIDECAR = {"name": "jaeger", "image": "cr.jaegertracing.io/jaegertracing/jaeger:2.21.0", "essential": False}
KEY = "tracing-sidecar"


def test_the_small_and_large_fleets_have_the_issues_shape() -> None:
    for spec, clusters, families in ((fleet.SMALL, 10, 100), (fleet.LARGE, 100, 1_000)):
        plan = fleet.plan(spec)
        assert len(plan.services) == spec.services
        assert len({s.name for s in plan.services}) == spec.services
        assert len(plan.clusters) == clusters
        assert set(plan.per_cluster().values()) == {spec.services // clusters}
        assert len({s.family for s in plan.services}) == families  # every family runs somewhere


def test_the_fleet_mixes_every_kind_of_service() -> None:
    plan = fleet.plan(fleet.SMALL)
    tagged_clusters = {c.name for c in plan.clusters if c.tag}
    kinds = Counter(
        ("own tag" if s.tag else "cluster tag" if s.cluster in tagged_clusters else "untagged")
        + (" non-compliant" if (s.cluster, s.name) in plan.noncompliant() else "")
        for s in plan.services
    )
    assert set(kinds) == {
        "own tag",
        "own tag non-compliant",
        "cluster tag",
        "cluster tag non-compliant",
        "untagged",
    }
    assert {s.tag for s in plan.services} == {"jaeger", "required", None}


def test_a_service_is_non_compliant_exactly_when_it_opts_in_and_its_seeded_revision_lacks_the_sidecar() -> (
    None
):
    plan = fleet.plan(fleet.Spec(120, 4, 12))
    families = {f.name: f for f in plan.families}
    tagged_clusters = {c.name for c in plan.clusters if c.tag}
    for s in plan.services:
        request = fleet.task_definition(families[s.family], s.revision, "123456789012", SIDECAR)
        names = [c["name"] for c in request["containerDefinitions"]]
        opted_in = s.tag is not None or s.cluster in tagged_clusters
        assert ((s.cluster, s.name) in plan.noncompliant()) == (opted_in and "jaeger" not in names)


@mock_aws
def test_seeding_moto_in_process_creates_what_the_plan_says() -> None:
    from moto.ecs.models import ecs_backends

    plan = fleet.plan(fleet.Spec(30, 3, 6))
    net = fleet.network(boto3.client("ec2", region_name="us-east-1"))
    account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]

    fleet.seed_backend(plan, ecs_backends[account]["us-east-1"], account, KEY, SIDECAR, net)

    ecs = boto3.client("ecs", region_name="us-east-1")
    clusters = ecs.describe_clusters(clusters=[c.name for c in plan.clusters], include=["TAGS"])["clusters"]
    assert {c["clusterName"]: {t["key"]: t["value"] for t in c["tags"]}.get(KEY) for c in clusters} == {
        c.name: c.tag for c in plan.clusters
    }
    for s in plan.services[:12]:
        seen = ecs.describe_services(cluster=s.cluster, services=[s.name], include=["TAGS"])["services"][0]
        assert seen["taskDefinition"].endswith(f"task-definition/{s.family}:{s.revision}")
        assert {t["key"]: t["value"] for t in seen["tags"]}.get(KEY) == s.tag
        revision = ecs.describe_task_definition(taskDefinition=seen["taskDefinition"])["taskDefinition"]
        has_sidecar = "jaeger" in [c["name"] for c in revision["containerDefinitions"]]
        family = next(f for f in plan.families if f.name == s.family)
        assert has_sidecar is family.sidecar[s.revision - 1]


def test_the_floor_counts_pages_tens_and_the_opted_in_services_distinct_revisions() -> None:
    plan = fleet.plan(fleet.SMALL)
    assert floor(plan) == {
        "ListClusters": 1,
        "DescribeClusters": 1,
        "ListServices": 10,
        "DescribeServices": 100,
        "DescribeTaskDefinition": len(plan.revisions(plan.opted_in())),
    }
    assert repeat_floor(plan)["DescribeTaskDefinition"] == 0
    uneven = fleet.plan(fleet.Spec(250, 2, 10))  # 125 services a cluster: two pages, 13 describes
    assert (floor(uneven)["ListServices"], floor(uneven)["DescribeServices"]) == (4, 26)
    many = fleet.plan(fleet.Spec(202, 101, 5))  # 101 clusters: two pages of clusters
    assert (floor(many)["ListClusters"], floor(many)["DescribeClusters"]) == (2, 2)


def test_a_revision_only_untagged_services_run_is_outside_the_floor() -> None:
    plan = fleet.plan(fleet.Spec(6, 1, 6))  # cluster 0 untagged; services 1, 4, 5 carry no tag
    untagged_only = plan.revisions() - plan.revisions(plan.opted_in())
    assert untagged_only
    assert floor(plan)["DescribeTaskDefinition"] == len(plan.revisions()) - len(untagged_only)


def test_the_custodian_policy_and_its_output() -> None:
    data = custodian.policy(
        KEY, ["arn:aws:ecs:us-east-1:1:cluster/b", "arn:aws:ecs:us-east-1:1:cluster/a"], "jaeger"
    )
    [policy] = data["policies"]
    assert policy["resource"] == "aws.ecs-service"
    opted_in, sidecar = policy["filters"]
    assert opted_in["or"][0] == {f"tag:{KEY}": "present"}
    assert opted_in["or"][1]["value"] == [
        "arn:aws:ecs:us-east-1:1:cluster/a",
        "arn:aws:ecs:us-east-1:1:cluster/b",
    ]
    assert sidecar["not"][0]["type"] == "task-definition"
    assert sidecar["not"][0]["key"] == "containerDefinitions[].name"
    assert len(custodian.policy(KEY, [], "jaeger")["policies"][0]["filters"][0]["or"]) == 1
    resources = [
        {"serviceName": "svc-1", "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/bench-c001"},
        {"serviceName": "svc-2", "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/bench-c000"},
    ]
    assert custodian.found(resources) == {("bench-c001", "svc-1"), ("bench-c000", "svc-2")}


def test_our_report_is_read_for_its_non_compliant_services_and_anything_throttled_or_failed() -> None:
    report = {
        "results": [
            {
                "cluster": "arn:aws:ecs:us-east-1:1:cluster/c0",
                "service": "s1",
                "status": "NONCOMPLIANT",
                "reasons": [],
            },
            {"cluster": "c0", "service": "arn:aws:ecs:us-east-1:1:service/c0/s2", "status": "NONCOMPLIANT"},
            {"cluster": "c0", "service": "s3", "status": "COMPLIANT", "reasons": ["runs jaeger"]},
            {"cluster": "c1", "service": "s4", "status": "FAILED", "reasons": ["DescribeServices failed"]},
            {
                "cluster": "c1",
                "service": "s5",
                "status": "REFUSED",
                "reasons": ["ThrottlingException: Rate exceeded"],
            },
        ],
        "totals": {},
    }
    found, statuses, surfaced = parse_report(report)
    assert found == {("c0", "s1"), ("c0", "s2")}
    assert statuses == {"NONCOMPLIANT": 2, "COMPLIANT": 1, "FAILED": 1, "REFUSED": 1}
    assert [line.split(":")[0] for line in surfaced] == ["c1/s4", "c1/s5"]


def test_compare_tells_the_differences() -> None:
    assert compare({("c", "a")}, {("c", "a")})["same"] is True
    different = compare({("c", "a"), ("c", "b")}, {("c", "a"), ("c", "z")})
    assert (different["same"], different["only_ours"], different["only_theirs"]) == (False, ["c/b"], ["c/z"])
    assert compare(None, {("c", "a")})["same"] is None


def test_a_state_file_option_is_found_in_the_help_only_when_it_takes_a_file() -> None:
    assert state_file_option("  --state-file FILE  verdicts known from an earlier run") == "--state-file"
    assert state_file_option("  --state PATH") == "--state"
    assert state_file_option("  --state-table NAME  the DynamoDB state table") is None
    assert state_file_option("  --plans FILE   remembered plans by revision") == "--plans"
    assert state_file_option("usage: sidecar-enforcer backfill [--mode {audit,enforce}]") is None


def _run(
    tool: str, run: str, key: str, seconds: float, requests: int, services: int, **extra: Any
) -> dict[str, Any]:
    return {
        "tool": tool,
        "run": run,
        "fleet_key": key,
        "seconds": seconds,
        "requests": requests,
        "throttled": extra.get("throttled", 0),
        "per_service_ms": seconds * 1000 / services,
        "per_service_requests": requests / services,
        "error": extra.get("error"),
        "noncompliant": extra.get("noncompliant", 3),
        "exit_code": 0,
        "surfaced_count": extra.get("surfaced_count", 0),
    }


def _figures(runs: list[dict[str, Any]], bound: float | None = 3.75) -> dict[str, Any]:
    same = {"same": True}
    return {
        "fleets": {"small": "1,000 services", "large": "10,000 services"},
        "runs": runs,
        "agreement": {
            "small": {
                "expected": 3,
                "c7n_vs_expected": same,
                "ours_vs_expected": same,
                "ours_vs_c7n": same,
                "throttled_vs_expected": same,
            },
            "large": {"expected": 3, "c7n_vs_expected": same, "ours_vs_expected": same, "ours_vs_c7n": same},
        },
        "throttle": {"lower_bound_seconds": bound},
    }


def _verdicts(d: dict[str, Any]) -> dict[str, str]:
    return {t["target"].split(" (")[0]: t["verdict"] for t in targets(d)}


def test_the_targets_pass_when_ours_meets_them() -> None:
    d = _figures(
        [
            _run("c7n", "first", "small", 16.0, 237, 1_000),
            _run("ours", "first", "small", 1.6, 230, 1_000),
            _run("ours", "repeat", "small", 1.2, 112, 1_000),
            _run("ours", "throttled", "small", 5.0, 260, 1_000, throttled=30),
            _run("c7n", "first", "large", 160.0, 2_370, 10_000),
            _run("ours", "first", "large", 15.0, 2_300, 10_000),
        ]
    )
    assert set(_verdicts(d).values()) == {"PASS"}
    assert len(targets(d)) == 11


def test_each_target_fails_on_its_own_figure() -> None:
    d = _figures(
        [
            _run("c7n", "first", "small", 16.0, 237, 1_000),
            _run("ours", "first", "small", 4.5, 240, 1_000),  # > 1/4 of the time, more requests
            _run("ours", "repeat", "small", 2.0, 150, 1_000),  # > 0.6x
            _run("ours", "throttled", "small", 9.0, 260, 1_000, surfaced_count=2),  # slow and surfaced
            _run("c7n", "first", "large", 160.0, 2_370, 10_000),
            _run("ours", "first", "large", 60.0, 2_300, 10_000),  # > 1/10, per-service ms 4.5 -> 6.0
        ]
    )
    d["agreement"]["large"]["ours_vs_c7n"] = {"same": False}
    verdicts = _verdicts(d)
    assert verdicts == {
        "ours <= 1/4 of c7n's wall time": "FAIL",
        "ours <= 1/10 of c7n's wall time": "FAIL",
        "first run: no more requests than c7n": "PASS",  # the large fleet's; the small one's FAILs below
        "repeat run: <= 0.6x c7n's requests": "FAIL",
        "per-service ms within +-20% from 1,000 to 10,000 services": "FAIL",
        "per-service requests within +-20% from 1,000 to 10,000 services": "PASS",
        "same non-compliant services, both tools and the fleet's plan": "FAIL",
        "throttled run: no throttling error surfaces, same findings": "FAIL",
        "throttled run: time close to the buckets' lower bound": "FAIL",
    }
    first_runs = [t["verdict"] for t in targets(d) if t["target"].startswith("first run")]
    assert first_runs == ["FAIL", "PASS"]


def test_targets_without_our_runs_are_not_applicable_never_passed() -> None:
    d = _figures(
        [_run("c7n", "first", "small", 16.0, 237, 1_000), _run("c7n", "first", "large", 160.0, 2_370, 10_000)]
    )
    for name in ("small", "large"):
        d["agreement"][name]["ours_vs_c7n"] = {"same": None}
    d["throttle"]["lower_bound_seconds"] = None
    assert set(_verdicts(d).values()) == {"n/a"}


@pytest.mark.parametrize("spec", [fleet.Spec(0, 1, 1), fleet.Spec(1, 0, 1), fleet.Spec(1, 1, 0)])
def test_an_empty_fleet_is_refused(spec: fleet.Spec) -> None:
    with pytest.raises(ValueError, match="at least one"):
        fleet.plan(spec)


def test_the_report_gives_each_run_moto_s_median_time_and_says_what_was_patched() -> None:
    from bench.backfill import Figures, ToolRun
    from bench.backfill_report import data, text
    from bench.proxy import Call, Record

    spec = fleet.Spec(30, 3, 6)
    plan = fleet.plan(spec)
    found = plan.noncompliant()
    describe = Call("ecs", "DescribeServices")
    records = [Record(describe, 200, upstream_ms=ms) for ms in (4.0, 6.0, 50.0)]
    runs = [
        ToolRun("c7n", "first", spec, 3.0, records, 0, found),
        ToolRun("ours", "first", spec, 1.0, [*records, Record(describe, 400, throttled=True)], 0, found),
    ]
    figures = Figures(spec, None, {}, {spec.label: 0.1}, runs, "note", {"small": floor(plan)}, {}, {})
    figures.moto_patches = ["moto.backends.list_of_moto_modules"]

    d = data(figures)
    lines = text(d)

    assert [r["moto_ms_median"] for r in d["runs"]] == [6.0, 6.0]  # the throttled request never reached moto
    assert any("patched: backends.list_of_moto_modules" in line for line in lines)
    header = next(line for line in lines if "moto ms/req" in line)
    row = next(line for line in lines if " c7n " in line and "first" in line)
    assert row[: header.index("moto ms/req") + len("moto ms/req")].rstrip().endswith("6.0")


def test_a_wall_time_target_names_the_floors_no_audit_of_those_requests_can_beat() -> None:
    c7n = _run("c7n", "first", "small", 10.0, 237, 1_000) | {"moto_ms_median": 9.0}
    ours = _run("ours", "first", "small", 4.0, 237, 1_000) | {
        # Task definition read actions: capacity 50, refill 20/s -> (150 - 50) / 20 = 5 s
        "by_action": {"ecs:DescribeTaskDefinition": 150, "ecs:ListClusters": 1, "sts:GetCallerIdentity": 1}
    }
    (wall,) = [t for t in targets(_figures([c7n, ours])) if t["target"].startswith("ours <= 1/4")]

    assert wall["measured"] == (
        "4.00 s / 10.00 s = 0.400; target 2.50 s, moto's serial floor 2.13 s (237 x 9.0 ms), "
        "ECS's buckets on AWS 5.00 s"
    )
