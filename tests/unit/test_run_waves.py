"""An enforce run's waves in the state table (usecases.run_waves), on the in-memory table and a clock
moved by hand: each (wave, service) end counted once, the wave's last end queuing the next wave
once, an item of a wave the run has left not acted on, the scheduled tick ending what will not end,
and a tick that costs one Query while no run is open."""

from __future__ import annotations

from typing import Any

import pytest
from sidecar_enforcer.config import Mode
from sidecar_enforcer.domain.runs.run_state import RunState
from sidecar_enforcer.domain.runs.waves import WavePolicy
from sidecar_enforcer.errors import AwsError
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.models.work import RunTag
from sidecar_enforcer.usecases import run_waves
from sidecar_enforcer.usecases.run_waves import RunKeeper
from sidecar_enforcer.usecases.runs import FinishRun, RunRequest, StartRun

from ._factories import ACCOUNT, REGION
from ._fakes import Clock, CountingTable
from ._runs import LOST, RUN, SURVEY, VISIBILITY, Runs
from ._world import World, trigger


def test_each_end_counts_once_and_the_wave_s_last_end_queues_the_next_wave_once() -> None:
    runs = Runs(5, WavePolicy(first=2, growth=1))
    runs.survey()
    first = runs.wave(1)
    assert [i.run for i in runs.queued] == [RunTag(RUN, "enforce", 1)] * 2  # decided in enforce

    for _ in range(2):  # an item and its verdict delivered twice
        runs.remediate(1, first[0])
        runs.verdict(1, first[0])
    runs.remediate(1, first[1])
    runs.remediate(1, first[0])  # late: its end stands
    assert runs.doc()["ended"] == {runs.key(first[0]): "VERIFIED"}
    assert (list(runs.doc()["pending"]), runs.wave(2)) == ([runs.key(first[1])], [])
    assert runs.run().progress() == "wave 1/3, 1 of 2 services ended, 1 deployment(s) in flight"

    runs.verdict(1, first[1])
    runs.verdict(1, first[1])  # the last end again, after the run moved on

    assert len(runs.wave(2)) == 2
    assert runs.doc()["wave"] == 2
    assert [o["succeeded"] for o in runs.doc()["outcomes"]] == [2]
    assert runs.keeper.acts_on(RunTag(RUN, "enforce", 1), runs.key(first[0])) is False
    assert runs.keeper.acts_on(RunTag(RUN, "enforce", 2), runs.key(runs.wave(2)[0])) is True


def test_a_row_stays_as_its_end_was_counted_whatever_comes_late() -> None:
    runs = Runs(4, WavePolicy(first=2, growth=1, verify_seconds=600))
    runs.survey()
    first, second = runs.wave(1)
    runs.remediate(1, first)
    runs.verdict(1, first)
    runs.remediate(1, first)  # the wave item delivered again after its verdict
    runs.remediate(1, second)
    runs.clock.advance(601)
    runs.keeper.sweep(RUN)  # the tick times the second deployment out: FAILED
    runs.verdict(1, second)  # its verdict comes after all

    rows = runs.ledger.run_rows(RUN)
    assert rows[runs.key(first)]["status"] == "VERIFIED"
    assert rows[runs.key(second)]["status"] == "FAILED"  # as the breaker counted it
    (outcome,) = runs.doc()["outcomes"]
    assert (outcome["succeeded"], outcome["failed"]) == (1, 1)


def test_a_verdict_keeps_what_its_remediation_changed() -> None:
    runs = Runs(1, WavePolicy(first=1))
    runs.survey()
    (name,) = runs.wave(1)
    remediated = runs.finding(
        name, Status.REMEDIATED, deployment_id="ecs-svc/1", changes=["RegisterTaskDefinition"]
    )
    runs.keeper.record(RunTag(RUN, "enforce", 1), runs.key(name), remediated)

    runs.verdict(1, name)

    row = runs.ledger.run_row(RUN, runs.key(name))
    assert row is not None
    assert (row["status"], row["changes"]) == ("VERIFIED", ["RegisterTaskDefinition"])
    (digest,) = runs.digests
    assert digest.totals == {"VERIFIED": 1}
    assert runs.doc()["status"] == "DONE"
    assert runs.ledger.runs_open() == []


def test_every_other_status_is_an_end_at_once_and_nothing_to_change_finishes_the_run() -> None:
    runs = Runs(2, WavePolicy(first=2))
    runs.survey()
    for name in runs.wave(1):
        runs.keeper.record(RunTag(RUN, "enforce", 1), runs.key(name), runs.finding(name, Status.COMPLIANT))

    (digest,) = runs.digests
    assert digest.totals == {"COMPLIANT": 2}
    assert runs.doc()["outcomes"][0]["succeeded"] == 2

    nothing = Runs(1, WavePolicy())
    nothing.keeper.record(SURVEY, nothing.key("svc-0"), nothing.finding("svc-0", Status.COMPLIANT))
    assert nothing.queued == []
    assert [d.totals for d in nothing.digests] == [{"COMPLIANT": 1}]


def test_the_breaker_stops_the_run_and_the_services_not_reached_say_why() -> None:
    runs = Runs(4, WavePolicy(first=1, growth=1))
    runs.survey()
    (name,) = runs.wave(1)
    runs.remediate(1, name)

    runs.verdict(1, name, Status.DEPLOYMENT_FAILED)

    assert runs.wave(2) == []
    (digest,) = runs.digests
    assert digest.stopped.startswith("the run stopped after wave 1 of 4: 1 of 1 deployments failed")
    assert digest.stopped.endswith("; 3 service(s) left unchanged")
    assert runs.doc()["status"] == "STOPPED"
    assert [(w.status, w.reasons[-1]) for w in digest.worst] == [
        ("DEPLOYMENT_FAILED", "no reason"),
        *[("NONCOMPLIANT", f"not changed: {digest.stopped}")] * 3,
    ]


def test_the_tick_fails_a_deployment_not_ended_after_verify_seconds() -> None:
    runs = Runs(1, WavePolicy(first=1, verify_seconds=300))
    runs.survey()
    (name,) = runs.wave(1)
    runs.remediate(1, name)
    runs.clock.advance(300)
    runs.keeper.sweep(RUN)
    assert runs.digests == []

    runs.clock.advance(1)
    runs.keeper.sweep(RUN)
    runs.keeper.sweep(RUN)

    (digest,) = runs.digests
    assert digest.worst[0].reasons[-1] == f"deployment ecs-svc/{name} had not ended after 300 s"
    assert runs.doc()["outcomes"][0]["failed"] == 1


@pytest.mark.parametrize("phase", ["survey", "wave"])
def test_the_tick_fails_the_services_whose_items_were_lost(phase: str) -> None:
    runs = Runs(3, WavePolicy(first=2, verify_seconds=4 * LOST))
    if phase == "wave":
        runs.survey()
        runs.remediate(1, runs.wave(1)[0])  # one deployment in flight: not lost, only waiting
    else:
        runs.keeper.record(SURVEY, runs.key("svc-0"), runs.finding("svc-0", Status.COMPLIANT))
    runs.clock.advance(LOST)
    runs.keeper.sweep(RUN)
    assert runs.digests == []
    assert len(runs.queued) == (2 if phase == "wave" else 0)

    runs.clock.advance(1)
    runs.keeper.sweep(RUN)
    if phase == "wave":  # a wave's unrecorded item is queued once more first, and lost a while after
        assert (len(runs.queued), runs.ledger.run_rows(RUN)[runs.key(runs.wave(1)[1])]["status"]) == (
            3,
            "NONCOMPLIANT",
        )
        runs.clock.advance(LOST)
        runs.keeper.sweep(RUN)
        assert runs.ledger.run_rows(RUN)[runs.key(runs.wave(1)[1])]["status"] == "NONCOMPLIANT"
        runs.clock.advance(1)
        runs.keeper.sweep(RUN)
        assert len(runs.queued) == 3  # queued again once only

    rows = runs.ledger.run_rows(RUN)
    lost = [r for r in rows.values() if r["status"] == "FAILED"]
    assert len(lost) == (1 if phase == "wave" else 2)
    assert all(r["reasons"][-1].startswith("its work item was lost") for r in lost)
    assert all(r["service"] for r in lost)
    if phase == "survey":
        (digest,) = runs.digests  # nothing left to change: the run ends
        assert digest.totals == {"FAILED": 2, "COMPLIANT": 1}
    else:
        assert runs.doc()["pending"] != {}  # the deployment still has its verify_seconds


def test_a_tick_with_no_open_run_costs_one_query_more() -> None:
    world = World()

    world.router.tick(trigger(name="Scheduled Event", targets=(), caller_arn=None))

    assert world.table.ops == [("query", "outbox", ""), ("query", "runs", "")]


def test_a_plan_of_too_many_waves_ends_the_run_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_waves, "too_many_waves", lambda n: f"{n} waves: too many" if n > 2 else None)
    runs = Runs(3, WavePolicy(first=1, growth=1))

    runs.survey()

    assert runs.queued == []
    (digest,) = runs.digests
    assert digest.stopped == "3 waves: too many"
    assert (runs.doc()["status"], runs.run().progress()) == ("STOPPED", "done")
    assert runs.ledger.runs_open() == []


def test_a_run_the_tick_cannot_sweep_does_not_stop_the_sweep_of_the_others(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World()
    for run_id in ("bf-broken", "bf-fine"):
        assert world.ledger.run_open(run_id, RunState(run_id, "audit", 1))
    swept: list[str] = []

    def sweep(run_id: str) -> None:
        if run_id == "bf-broken":
            raise KeyError("wave")  # a bug, or a document the code does not expect
        swept.append(run_id)

    monkeypatch.setattr(world.runs, "sweep", sweep)

    world.router.tick(trigger(name="Scheduled Event", targets=(), caller_arn=None))

    assert swept == ["bf-fine"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "backfill run bf-broken not swept: 'wave'"
    ]


@pytest.mark.parametrize("wave", [1, 2])
def test_a_wave_whose_queueing_failed_after_the_run_moved_on_is_queued_again_by_the_tick(wave: int) -> None:
    runs = Runs(2, WavePolicy(first=1, growth=1))
    if wave == 2:
        runs.survey()
        (first,) = runs.wave(1)
        runs.refuse = 1
        with pytest.raises(AwsError):
            runs.keeper.record(
                RunTag(RUN, "enforce", 1), runs.key(first), runs.finding(first, Status.COMPLIANT)
            )
        # the item delivered again: its end was counted, the run is on wave 2, nothing is queued
        runs.keeper.record(RunTag(RUN, "enforce", 1), runs.key(first), runs.finding(first, Status.COMPLIANT))
    else:
        runs.refuse = 1
        with pytest.raises(AwsError):
            runs.survey()
    assert (runs.doc()["wave"], runs.wave(wave)) == (wave, [])

    runs.clock.advance(LOST + 1)
    runs.keeper.sweep(RUN)

    (name,) = runs.wave(wave)
    assert runs.keeper.acts_on(RunTag(RUN, "enforce", wave), runs.key(name)) is True
    runs.keeper.record(RunTag(RUN, "enforce", wave), runs.key(name), runs.finding(name, Status.COMPLIANT))
    assert runs.doc()["outcomes"][-1]["failed"] == 0
    assert all(r["status"] == "COMPLIANT" for r in runs.ledger.run_rows(RUN).values() if r["service"] == name)


def test_a_verdict_delivered_again_keeps_the_verdict_first_recorded() -> None:
    runs = Runs(2, WavePolicy(first=2))
    runs.survey()
    name = runs.wave(1)[0]
    runs.remediate(1, name)
    runs.verdict(1, name)

    again = runs.finding(name, Status.VERIFIED, deployment_id=f"ecs-svc/{name}", reasons=["given again"])
    runs.keeper.verdict(RunTag(RUN, "enforce", 1), runs.key(name), again)

    row = runs.ledger.run_row(RUN, runs.key(name))
    assert row is not None
    assert row["reasons"] == ["no reason"]
    assert runs.doc()["ended"] == {runs.key(name): "VERIFIED"}


def test_a_survey_item_recorded_after_the_waves_were_planned_changes_no_row() -> None:
    runs = Runs(3, WavePolicy(first=1, growth=1))
    runs.survey()
    (first,) = runs.wave(1)
    runs.remediate(1, first)
    runs.verdict(1, first)  # wave 2 queued
    late = "svc-9"  # a key no row has (the survey listed it, its row never came)

    for name in (first, runs.wave(2)[0], late):  # a retried survey item, or one declared lost, late
        runs.keeper.record(SURVEY, runs.key(name), runs.finding(name, Status.COMPLIANT))

    rows = runs.ledger.run_rows(RUN)
    assert rows[runs.key(first)]["status"] == "VERIFIED"
    assert rows[runs.key(runs.wave(2)[0])]["status"] == "NONCOMPLIANT"
    assert rows[runs.key(late)]["reasons"] == ["surveyed after the waves were planned; not changed"]
    assert runs.keeper.acts_on(RunTag(RUN, "enforce", 2), runs.key(runs.wave(2)[0])) is True


class _Survey:
    """One place: cluster shop with two services."""

    def clusters(self) -> list[str]:
        return ["arn:aws:ecs:eu-west-1:123456789012:cluster/shop"]

    def clusters_tags(self, names: list[str]) -> dict[str, dict[str, str]]:
        return {}

    def services(self, cluster: str) -> list[str]:
        return [f"{cluster.replace(':cluster/', ':service/')}/svc-{n}" for n in range(2)]


class _RefusingTable(CountingTable):
    """Refuses the writes under one partition key."""

    def __init__(self, pk: str) -> None:
        super().__init__()
        self.refused = pk

    def put(
        self, pk: str, sk: str, doc: dict[str, Any], expected: int | None, *, expires: float | None = None
    ) -> bool:
        if pk == self.refused:
            raise AwsError("PutItem: throttled")
        return super().put(pk, sk, doc, expected, expires=expires)


def _start(table: CountingTable, queue: Any) -> StartRun:
    ledger = Ledger(table, clock=Clock(), sleep=lambda s: None)
    return StartRun(
        lambda account, region: _Survey(),
        ledger,
        lambda: queue,
        lambda run_id: None,
        lambda: "aws",
        Mode.ENFORCE,
    )


def test_a_run_is_listed_as_open_before_it_exists() -> None:
    table = _RefusingTable("runs")
    runs = Runs(0, WavePolicy())

    with pytest.raises(AwsError):
        _start(table, runs)(RunRequest("bf-new", "enforce", ((ACCOUNT, REGION),)))

    assert Ledger(table).run("bf-new") is None  # no run the tick cannot find
    assert runs.queued == []


def test_a_survey_queued_in_part_fails_the_run_so_no_wave_follows() -> None:
    table = CountingTable()
    runs = Runs(0, WavePolicy())
    runs.refuse = 1
    start = _start(table, runs)

    with pytest.raises(AwsError):
        start(RunRequest("bf-new", "enforce", ((ACCOUNT, REGION),)))

    ledger = Ledger(table)
    run = ledger.run("bf-new")
    assert run is not None
    doc = run.to_doc()
    assert (doc["status"], doc["reason"]) == (
        "FAILED",
        "the survey was not queued in full: SendMessageBatch: throttled",
    )
    assert ledger.runs_open() == []
    assert run.progress() == "done"


def test_two_planners_of_one_run_never_mix_their_waves(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = Runs(4, WavePolicy(first=1, growth=1))
    names = runs.names
    for name in names[:-1]:
        runs.keeper.record(SURVEY, runs.key(name), runs.finding(name, Status.NONCOMPLIANT, changes=["add"]))
    put = runs.ledger.run_wave_put
    raced: list[str] = []

    def wave_put(run_id: str, plan: str, number: int, items: list[str]) -> None:
        put(run_id, plan, number, items)
        if not raced:  # planner A wrote its first wave; meanwhile a row changes and planner B plans
            raced.append(plan)
            compliant = runs.finding(names[0], Status.COMPLIANT).to_message()
            runs.ledger.run_record(RUN, runs.key(names[0]), compliant)
            runs.keeper._after_survey(RUN)

    monkeypatch.setattr(runs.ledger, "run_wave_put", wave_put)
    last = names[-1]  # the survey's last row: planner A
    runs.keeper.record(SURVEY, runs.key(last), runs.finding(last, Status.NONCOMPLIANT, changes=["add"]))

    assert runs.doc()["plan"] != raced[0]  # B's plan won; A's rows are never read
    assert runs.doc()["sizes"] == [1, 1, 1]  # B's: names[0] became compliant before B read the rows
    for number in (1, 2, 3):
        (name,) = runs.wave(number)
        ended = runs.finding(name, Status.COMPLIANT)
        runs.keeper.record(RunTag(RUN, "enforce", number), runs.key(name), ended)
    assert sorted(n for number in (1, 2, 3) for n in runs.wave(number)) == sorted(names[1:])
    assert runs.doc()["status"] == "DONE"


class RefusingReports:
    """A report bucket that refuses every object (access denied, a bucket deleted)."""

    def put(self, key: str, body: str, content_type: str) -> str:
        raise AwsError(f"PutObject {key}: AccessDenied")


def test_a_report_the_bucket_refuses_still_ends_the_run_in_its_digest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = Runs(2, WavePolicy(first=2))
    runs.keeper = RunKeeper(
        runs.ledger,
        FinishRun(runs.ledger, RefusingReports(), runs),
        lambda: runs,
        visibility_seconds=VISIBILITY,
    )
    runs.survey()
    for name in runs.wave(1):
        runs.remediate(1, name)
        runs.verdict(1, name)

    (digest,) = runs.digests
    assert digest.totals == {"VERIFIED": 2}
    assert digest.report == {}  # stored nowhere, and the digest says so by naming no place
    assert runs.doc()["status"] == "DONE"
    assert "report not stored: PutObject backfill/bf-unit/report.json: AccessDenied" in caplog.text
