"""The backfill's pure parts: waves and the fleet circuit breaker, remembered plans, the report and
its renderings, and the CLI's plan file and progress line."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sidecar_enforcer.domain.planning import plan_memo
from sidecar_enforcer.domain.planning.plan import plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.runs import run_report
from sidecar_enforcer.domain.runs.waves import (
    MAX_WAVES,
    Next,
    WavePolicy,
    after_wave,
    failed_members,
    judge_wave,
    plan_run,
    plan_waves,
    too_many_waves,
)
from sidecar_enforcer.domain.safety.service_rules import change_planned
from sidecar_enforcer.domain.status import Status
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer.usecases.progress import Progress
from sidecar_enforcer_dev.plans_file import FileMemo
from sidecar_enforcer_dev.progress_view import ProgressView

from ._factories import report_row
from ._fakes import FakeEcs

# -- waves ------------------------------------------------------------------------------------------


def test_waves_start_small_and_grow_to_the_largest() -> None:
    waves = plan_waves(list(range(100)), lambda i: f"c{i % 50}", WavePolicy(first=3, growth=2, largest=20))

    assert [len(w) for w in waves] == [3, 6, 12, 20, 20, 20, 19]


def test_a_wave_holds_at_most_per_cluster_deployments_of_one_cluster() -> None:
    items = [("a", n) for n in range(10)] + [("b", n) for n in range(2)]

    waves = plan_waves(items, lambda i: i[0], WavePolicy(first=5, growth=1, per_cluster=2))

    assert [Counter(c for c, _ in w) for w in waves][:2] == [Counter(a=2, b=2), Counter(a=2)]
    assert all(Counter(c for c, _ in w)["a"] <= 2 for w in waves)


def test_many_waves_of_one_cluster_do_not_overflow_the_wave_size() -> None:
    # per_cluster=1 makes one wave per service: 2.0 ** 1100 is past a float's range
    waves = plan_waves(list(range(1100)), lambda i: "one", WavePolicy(first=1, growth=2, per_cluster=1))

    assert [len(w) for w in waves] == [1] * 1100


def test_a_plan_of_more_waves_than_a_run_document_holds_is_refused() -> None:
    assert too_many_waves(MAX_WAVES) is None
    reason = too_many_waves(MAX_WAVES + 1)
    assert reason is not None
    assert "\n" not in reason
    assert f"{MAX_WAVES + 1} waves" in reason


@given(
    clusters=st.lists(st.integers(0, 5), max_size=80),
    first=st.integers(1, 10),
    growth=st.floats(1, 4),
    per_cluster=st.integers(1, 6),
)
def test_every_item_is_in_exactly_one_wave_and_no_wave_breaks_a_cap(
    clusters: list[int], first: int, growth: float, per_cluster: int
) -> None:
    items = list(enumerate(clusters))
    policy = WavePolicy(first=first, growth=growth, largest=max(first, 25), per_cluster=per_cluster)

    waves = plan_waves(items, lambda i: str(i[1]), policy)

    assert sorted(i for w in waves for i in w) == items
    assert all(w for w in waves)
    assert all(len(w) <= policy.largest for w in waves)
    assert all(max(Counter(c for _, c in w).values()) <= per_cluster for w in waves)
    assert len(waves[0]) <= first if waves else True


@pytest.mark.parametrize(
    ("statuses", "tripped"),
    [
        ([Status.VERIFIED] * 4 + [Status.DEPLOYMENT_FAILED], False),  # 20%: not more than 20%
        ([Status.VERIFIED] * 3 + [Status.DEPLOYMENT_FAILED, Status.FAILED], True),  # 40%
        ([Status.SKIPPED, Status.QUARANTINED], False),  # nothing changed: nothing to judge
        ([Status.FAILED, Status.SKIPPED, Status.VERIFIED], True),  # 1 of 2 changed failed
        # a revision registered, nothing deployed (the service already rolled it out): no failure
        ([Status.REMEDIATED] * 3 + [Status.VERIFIED], False),
    ],
)
def test_the_breaker_trips_when_more_than_the_share_of_a_wave_failed(
    statuses: list[Status], tripped: bool
) -> None:
    outcome = judge_wave(1, statuses, WavePolicy(failure_share=0.2))

    assert outcome.tripped is tripped
    assert outcome.succeeded + outcome.failed + outcome.neutral == len(statuses)


def row(
    service: str, status: str = "NONCOMPLIANT", cluster: str = "shop", **fields: object
) -> dict[str, object]:
    """A service's row in a run, as its status message keeps it."""
    changes = ["add container 'jaeger'"] if status in ("NONCOMPLIANT", "DRIFTED") else []
    found = {"status": status, "account": "111122223333", "region": "eu-west-1", "cluster": cluster}
    return {**found, "service": service, "changes": changes, **fields}


def test_a_run_s_waves_hold_the_services_to_change_in_place_order() -> None:
    rows = [
        row("b", cluster="web"),
        row("z"),
        row("a"),
        row("ok", "COMPLIANT"),
        row("drifted-no-upgrade", "DRIFTED", changes=[]),
        row("refused", "REFUSED"),
        row("other-profile", profile="adot"),
    ]

    waves = plan_run(rows, "jaeger", WavePolicy(first=2, growth=1))

    assert [[r["service"] for r in w] for w in waves] == [["a", "z"], ["b"]]


def test_a_service_that_asks_for_audit_never_enters_a_wave() -> None:
    rows = [row("audited", auditOnly=True, mode="audit"), row("api")]

    waves = plan_run(rows, None, WavePolicy(first=1))

    assert [[r["service"] for r in w] for w in waves] == [["api"]]


def test_a_wave_member_that_only_audits_is_neither_a_success_nor_a_failure() -> None:
    # Its tag asked for audit after the survey: reported, unchanged, nothing to say of the fleet.
    outcome = judge_wave(1, [Status.NONCOMPLIANT, Status.VERIFIED], WavePolicy(failure_share=0.2))

    assert (outcome.succeeded, outcome.failed, outcome.neutral, outcome.tripped) == (1, 0, 1, False)


def test_after_a_wave_the_run_queues_the_next_finishes_or_stops_saying_why() -> None:
    policy = WavePolicy(failure_share=0.2)
    good, bad = judge_wave(1, [Status.VERIFIED], policy), judge_wave(1, [Status.FAILED], policy)

    assert after_wave(good, [1, 2, 4], policy) == Next(2)
    assert after_wave(judge_wave(3, [Status.VERIFIED], policy), [1, 2, 4], policy) == Next(None)
    stopped = after_wave(bad, [1, 2, 4], policy)
    assert stopped.wave is None
    assert stopped.stopped == (
        "the run stopped after wave 1 of 3: 1 of 1 deployments failed (more than 20%); "
        "6 service(s) left unchanged"
    )


def test_a_wave_s_failed_members_are_named_with_why() -> None:
    ended = {"k1": "DEPLOYMENT_FAILED", "k2": "VERIFIED", "k3": "FAILED", "k4": "SKIPPED"}
    rows = {
        "k1": row("api", "DEPLOYMENT_FAILED", reasons=["adds the sidecar", "rolloutState FAILED"]),
        "k2": row("web", "VERIFIED"),
        "k3": row("db", "FAILED", reasons=[]),
    }

    assert failed_members(ended, rows) == [
        {
            "account": "111122223333",
            "region": "eu-west-1",
            "cluster": "shop",
            "service": "api",
            "status": "DEPLOYMENT_FAILED",
            "reason": "rolloutState FAILED",
        },
        {
            "account": "111122223333",
            "region": "eu-west-1",
            "cluster": "shop",
            "service": "db",
            "status": "FAILED",
            "reason": "",
        },
    ]


@pytest.mark.parametrize(
    "bad",
    [{"first": 0}, {"first": 5, "largest": 4}, {"growth": 0.5}, {"failure_share": 1.0}, {"per_cluster": 0}],
)
def test_a_wave_policy_that_cannot_work_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="waves"):
        WavePolicy(**bad)  # type: ignore[arg-type]


# -- remembered plans -------------------------------------------------------------------------------

TASK = {
    "family": "api",
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "1024",
    "memory": "2048",
    "containerDefinitions": [
        {
            "name": "api",
            "image": "app:1",
            "essential": True,
            "environment": [{"name": "K", "value": "s3cr3t"}],
        }
    ],
}


def test_a_remembered_plan_decides_like_the_plan_and_holds_no_task_definition() -> None:
    profile = builtin_profiles()["jaeger"]
    made = plan(TASK, [], profile)

    memo = plan_memo.to_memo(made, "api")
    back = plan_memo.from_memo(json.loads(json.dumps(memo)), profile)

    assert back is not None
    remembered, family = back
    assert family == "api"
    assert (remembered.decision, remembered.reasons, remembered.changes) == (
        made.decision,
        made.reasons,
        made.changes,
    )
    assert change_planned(remembered)
    assert remembered.register_input is None
    assert "s3cr3t" not in json.dumps(memo)


def test_a_plan_is_remembered_per_profile_document_and_policy() -> None:
    jaeger, adot = builtin_profiles()["jaeger"], builtin_profiles()["adot"]
    base = plan_memo.context(jaeger, Policy())

    assert plan_memo.context(jaeger, Policy()) == base
    assert plan_memo.context(jaeger, Policy(grow_task_size=not Policy().grow_task_size)) != base
    assert plan_memo.context(adot, Policy()) != base
    assert plan_memo.context(jaeger.model_copy(update={"description": "edited"}), Policy()) != base


@pytest.mark.parametrize("memo", [{}, {"v": 2}, {"v": 1, "decision": "MAYBE"}, {"v": 1}, "text"])
def test_a_memo_this_version_cannot_read_is_a_miss(memo: object) -> None:
    assert plan_memo.from_memo(memo, builtin_profiles()["jaeger"]) is None  # type: ignore[arg-type]


def test_the_plan_file_survives_a_run_and_a_damaged_one_is_only_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "plans" / "plans.json"
    first = FileMemo(path)
    first.put("ctx", "arn:1", {"v": 1})
    first.save()

    again = FileMemo(path)
    assert again.get("ctx", "arn:1") == {"v": 1}
    assert again.hits == 1
    assert again.get("ctx", "arn:1") == {"v": 1}
    assert again.hits == 1
    path.write_text("{not json")
    damaged = FileMemo(path)
    assert damaged.get("ctx", "arn:1") is None
    assert damaged.warnings == [f"plans not read from {path}: not JSON; planning afresh"]


REVISION = "arn:aws:ecs:eu-west-1:111122223333:task-definition/api:7"


def endpoints(url: str) -> Callable[[str], str]:
    """Every region's ECS endpoint behind one URL (AWS_ENDPOINT_URL), or AWS's own."""
    return lambda region: url or f"https://ecs.{region}.amazonaws.com"


def test_a_plan_is_remembered_for_the_endpoint_account_region_and_revision_that_made_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plans.json"
    first = FileMemo(path, endpoints(""))
    first.put("ctx", REVISION, {"v": 1})
    assert first.save() is None

    # The same ARN behind another endpoint (a local emulator, another partition's) is another revision.
    assert FileMemo(path, endpoints("http://127.0.0.1:5000")).get("ctx", REVISION) is None
    assert FileMemo(path, endpoints("")).get("ctx", REVISION.replace("111122223333", "444455556666")) is None
    assert FileMemo(path, endpoints("")).get("ctx", REVISION.replace("eu-west-1", "us-east-1")) is None
    assert FileMemo(path, endpoints("")).get("other-ctx", REVISION) is None
    assert FileMemo(path, endpoints("")).get("ctx", REVISION) == {"v": 1}


def test_a_plans_file_that_cannot_be_read_or_written_is_a_warning_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "plans.json"
    folder.mkdir()  # a folder where the file should be: neither read nor written
    memo = FileMemo(folder, endpoints(""))
    memo.put("ctx", REVISION, {"v": 1})

    assert memo.get("ctx", REVISION) == {"v": 1}  # this run's own plans still serve it
    assert memo.warnings == [f"plans not read from {folder}: Is a directory; planning afresh"]
    warning = memo.save()
    assert warning is not None
    assert warning.startswith(f"plans not remembered in {folder}: ")
    assert "\n" not in warning
    blocked = FileMemo(tmp_path / "file" / "plans.json", endpoints(""))
    (tmp_path / "file").write_text("a file where the folder should be")
    blocked.put("ctx", REVISION, {"v": 1})
    assert (blocked.save() or "").startswith("plans not remembered in ")


# -- the backfill function's payload ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"mode": "audit", "accounts": []}, "accounts: none given"),
        (
            {"mode": "audit", "accounts": ["111122223333", "111122223333"]},
            "accounts: '111122223333' is given twice",
        ),
        ({"mode": "audit", "regions": ["eu-west-1", "eu-west-1"]}, "regions: 'eu-west-1' is given twice"),
        (
            {"mode": "audit", "clusters": ["shop", "arn:aws:ecs:eu-west-1:111122223333:cluster/shop"]},
            "clusters: 'arn:aws:ecs:eu-west-1:111122223333:cluster/shop' is given twice",
        ),
        ({"mode": "enforce", "growth": float("inf")}, "growth: Input should be a finite number"),
        (
            {"mode": "enforce", "verifySeconds": float("inf")},
            "verifySeconds: Input should be a finite number",
        ),
        ({"mode": "enforce", "failureShare": float("nan")}, "failureShare: Input should be a finite number"),
        ('{"mode": "enforce", "growth": Infinity}', "growth: Input should be a finite number"),
    ],
)
def test_a_payload_that_could_not_run_is_refused_in_one_line(payload: object, problem: str) -> None:
    from sidecar_enforcer.errors import MalformedEventError
    from sidecar_enforcer.models.backfill import parse_request

    with pytest.raises(MalformedEventError) as raised:
        parse_request(payload)

    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)


# -- the report -------------------------------------------------------------------------------------


def _row(service: str, status: str, **more: object) -> dict[str, object]:
    return report_row(service, status, **{"cluster": "c", "reasons": [f"because <{service}> | x"], **more})


REPORT = run_report.build(
    run_id="bf-1",
    mode="audit",
    started="2026-12-01T00:00:00+00:00",
    ended="2026-12-01T00:00:01+00:00",
    seconds=1.0,
    rows=[_row("a", "COMPLIANT"), _row("b", "NONCOMPLIANT"), _row("c", "FAILED"), _row("d", "REFUSED")],
    calls={"ecs:DescribeServices": 1, "ecs:ListServices": 1},
)


def test_the_report_counts_and_puts_the_worst_first() -> None:
    assert REPORT["totals"] == {"FAILED": 1, "REFUSED": 1, "NONCOMPLIANT": 1, "COMPLIANT": 1}
    assert [r["service"] for r in REPORT["attention"]] == ["c", "d", "b"]
    assert REPORT["callsPerService"] == 0.5
    assert run_report.worst(REPORT, 1) == [REPORT["attention"][0]]


def test_each_rendering_holds_every_service_escaped() -> None:
    rows = list(csv.DictReader(io.StringIO(run_report.render(REPORT, "csv"))))
    markdown = run_report.render(REPORT, "md")
    page = run_report.render(REPORT, "html")

    assert [r["service"] for r in rows] == ["a", "b", "c", "d"]
    assert rows[1]["reasons"] == "because <b> | x"
    assert "because &lt;b> \\| x" in markdown
    assert "because &lt;b&gt; | x" in page
    assert "<b>" not in page
    assert json.loads(run_report.render(REPORT, "json")) == REPORT


def test_each_rendering_names_a_wave_s_failed_members_and_why() -> None:
    failed = {**_row("api", "DEPLOYMENT_FAILED"), "wave": 1}
    member = {k: failed[k] for k in ("account", "region", "cluster", "service", "status")}
    wave = {"number": 1, "size": 2, "succeeded": 1, "failed": 1, "neutral": 0, "tripped": True}
    report = run_report.build(
        run_id="bf-2",
        mode="enforce",
        started="2026-12-01T00:00:00+00:00",
        ended="2026-12-01T00:00:01+00:00",
        seconds=1.0,
        rows=[failed, {**_row("web", "VERIFIED"), "wave": 1}],
        calls={},
        waves=[{**wave, "failedMembers": [{**member, "reason": "rolloutState <FAILED> | x"}]}],
        stopped="the run stopped after wave 1 of 1",
    )

    rows = list(csv.DictReader(io.StringIO(run_report.render(report, "csv"))))
    markdown = run_report.render(report, "md")
    page = run_report.render(report, "html")

    assert json.loads(run_report.render(report, "json"))["waves"][0]["failedMembers"][0]["service"] == "api"
    assert [(r["service"], r["wave"], r["status"]) for r in rows] == [
        ("api", "1", "DEPLOYMENT_FAILED"),
        ("web", "1", "VERIFIED"),
    ]
    failed_line = (
        "| 1 | 123456789012/us-east-1 | c | api | DEPLOYMENT_FAILED | rolloutState &lt;FAILED> \\| x |"
    )
    assert failed_line in markdown
    assert re.search(
        r"c/api <span class=\"badge\">.*?DEPLOYMENT_FAILED</span>: rolloutState &lt;FAILED&gt; \| x", page
    )


@pytest.mark.parametrize(
    ("path", "kind"), [("r.json", "json"), ("x/R.CSV", "csv"), ("r.markdown", "md"), ("a.b/r.htm", "html")]
)
def test_the_format_is_the_extensions(path: str, kind: str) -> None:
    assert run_report.kind_of(path) == kind


@pytest.mark.parametrize("path", ["r.pdf", "report", "dir.json/report"])
def test_an_extension_without_a_format_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match=r"\.json, \.csv, \.md or \.html"):
        run_report.kind_of(path)


# -- progress ---------------------------------------------------------------------------------------


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize("tty", [True, False])
def test_progress_redraws_one_line_on_a_terminal_and_writes_lines_elsewhere(tty: bool) -> None:
    stream = _Stream(tty)
    view = ProgressView(stream, every=0)
    progress = Progress(places=1, services_seen=4)
    for phase in ("survey", "wave 1/1", "done"):
        progress.phase = phase
        progress.decided(Status.COMPLIANT)
        view(progress)

    text = stream.getvalue()
    assert ("\r" in text) is tty
    assert text.endswith("\n")
    assert "done: 3/4 services" in text
    assert "COMPLIANT=3" in text


# -- the digest -------------------------------------------------------------------------------------


def test_a_digest_names_the_worst_services_and_where_the_report_is_and_renders_for_chat() -> None:
    from sidecar_enforcer.domain.messages import chat_message, notice, slack_message
    from sidecar_enforcer.models.digest import Digest

    where = {"json": "s3://reports-bucket/backfill/bf-1/report.json"}
    message = Digest.of(REPORT, where).to_message()
    read = notice.read(message)
    slack = json.dumps(slack_message.render(read))
    chat = chat_message.render(read)

    assert message["attention"] == 3
    assert [w["service"] for w in message["worst"]] == ["c", "d", "b"]
    assert read.severity == notice.DANGER  # a FAILED service
    assert "bf-1" in slack
    assert "s3.console.aws.amazon.com/s3/object/reports-bucket?prefix=backfill/bf-1/report.json" in slack
    assert chat["metadata"]["threadId"].endswith("backfill bf-1")
    assert "FAILED" in chat["content"]["description"]


# -- pacing -----------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


THROTTLED = (None, {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}})


def test_a_category_spends_its_documented_burst_less_a_reserve_then_its_refill_rate() -> None:
    from sidecar_enforcer.adapters.pacing import Pacer

    clock = _Clock()
    pacer = Pacer(clock, clock.sleep)
    for _ in range(45):  # 50 tokens, less a tenth kept for the latency's spread
        pacer._before_send("before-send.ecs.DescribeTaskDefinition")
    assert clock.slept == []
    for _ in range(40):
        pacer._before_send("before-send.ecs.ListTaskDefinitions")  # the same bucket
    assert clock.now == pytest.approx(40 / 20)  # then 20 a second, the documented refill
    began = clock.now
    for _ in range(90):  # another bucket (100, less 10): its own burst, held back by nothing
        pacer._before_send("before-send.ecs.DescribeServices")
    assert clock.now == began
    assert pacer.rate("DescribeTaskDefinition") == 20
    assert pacer.rate("GetCallerIdentity") is None


def test_a_throttle_halves_its_categorys_rate_once_per_grace_and_the_rate_climbs_back() -> None:
    from sidecar_enforcer.adapters.pacing import GRACE_SECONDS, RECOVER_SECONDS, Pacer

    clock = _Clock()
    pacer = Pacer(clock, clock.sleep)
    pacer._needs_retry("needs-retry.ecs.DescribeTaskDefinition", response=THROTTLED)  # shared: halve
    assert pacer.rate("DescribeTaskDefinition") == 10
    pacer._needs_retry("needs-retry.ecs.DescribeTaskDefinition", response=THROTTLED)  # in flight then
    assert pacer.rate("DescribeTaskDefinition") == 10
    pacer._before_send("before-send.ecs.DescribeTaskDefinition")  # the bucket was spent: wait
    assert clock.slept == [pytest.approx(1 / 10)]
    for _ in range(6):
        clock.now += GRACE_SECONDS
        pacer._needs_retry("needs-retry.ecs.DescribeTaskDefinition", response=THROTTLED)
    assert pacer.rate("DescribeTaskDefinition") == 2  # never below a tenth
    assert pacer.rate("DescribeServices") == 20  # another bucket
    pacer._needs_retry("needs-retry.ecs.DescribeServices", response=(None, {"Error": {"Code": "Other"}}))
    assert pacer.rate("DescribeServices") == 20
    clock.now += RECOVER_SECONDS
    pacer._before_send("before-send.ecs.DescribeTaskDefinition")
    assert pacer.rate("DescribeTaskDefinition") == 4  # a tenth of the documented rate back
    assert pacer.throttled == 8


# -- the survey's two buckets -----------------------------------------------------------------------


def test_the_survey_reads_a_revision_while_service_pages_are_still_to_come() -> None:
    """ECS's service-read and task-definition buckets drain side by side: a revision is read as
    soon as a DescribeServices page names it, not once every page is in. Here every page after the
    first waits (up to 5 s) for a revision to be read first: a survey that described every page
    before reading any revision would find none read."""
    import threading

    from sidecar_enforcer.adapters.memory import MemoryTable
    from sidecar_enforcer.config import Mode
    from sidecar_enforcer.domain.ecs.snapshots import ServiceSnapshot
    from sidecar_enforcer.domain.ecs.taskdef import TaskDefinitionDocument
    from sidecar_enforcer.usecases.backfill import Backfill, RunSpec
    from sidecar_enforcer.usecases.scope import Scope

    read = threading.Event()
    waited: list[bool] = []
    pages = 0
    lock = threading.Lock()

    class Ecs(FakeEcs):
        def describe_services(self, cluster: str, services: list[str]) -> list[ServiceSnapshot]:
            nonlocal pages
            with lock:
                pages += 1
                first = pages == 1
            if not first:
                waited.append(read.wait(5))
            return [
                ServiceSnapshot.from_api(
                    {"serviceArn": arn, "serviceName": arn.rsplit("/", 1)[-1], "taskDefinition": f"td-{arn}"}
                )
                for arn in services
            ]

        def describe_task_definition(
            self, task_definition: str, *, fresh: bool = False
        ) -> TaskDefinitionDocument:
            read.set()
            return TaskDefinitionDocument({"taskDefinitionArn": task_definition}, [])

    class Survey:
        def clusters(self) -> list[str]:
            return ["c0", "c1"]

        def clusters_tags(self, clusters: list[str]) -> dict[str, dict[str, str]]:
            return {}

        def services(self, cluster: str) -> list[str]:
            return [f"arn:aws:ecs:us-east-1:111111111111:service/{cluster}/s{n}" for n in range(40)]

    def enforce(ecs: Ecs, snapshot: ServiceSnapshot, scope: Scope, cluster_tags: dict[str, str]) -> Any:
        ecs.describe_task_definition(snapshot.task_definition)
        return scope.finding(Status.COMPLIANT, cluster="c", service=snapshot.name)

    ecs = Ecs()
    backfill = Backfill(
        lambda account, region: ecs,
        lambda account, region: Survey(),
        lambda account, region, mode: Scope(account, region, "backfill", "bf-1", mode),
        enforce,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        run_table=MemoryTable,
        workers=2,
    )
    result = backfill.run(RunSpec(Mode.AUDIT, (("111111111111", "us-east-1"),)))

    assert len(result.findings) == 80
    assert len(waited) == 7  # 8 pages of ten
    assert all(waited)
