"""A backfill run's typed state (domain.runs.run_state): the documents runs were written as are read, and
written back key for key; each transition applies only to the run it was meant for, and the
ledger's conditional update answers what the change decided (nothing written when it declined)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from sidecar_enforcer.domain.runs.run_state import Pending, Phase, RunState, RunStatus, WaveEnd
from sidecar_enforcer.domain.runs.waves import WavePolicy
from sidecar_enforcer.domain.status import Status
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.findings import Finding
from sidecar_enforcer.models.work import RunTag, WorkItem
from sidecar_enforcer.usecases.run_waves import RunKeeper

from ._fakes import Clock, CountingTable

KEY = "arn:aws:ecs:eu-west-1:123456789012:service/shop/api"
OTHER = "arn:aws:ecs:eu-west-1:123456789012:service/shop/web"
POLICY = {
    "first": 1,
    "growth": 2.0,
    "largest": 100,
    "per_cluster": 10,
    "failure_share": 0.2,
    "verify_seconds": 1800.0,
}
# As the backfill function's StartRun wrote a run and the ledger opened it, then as the wave engine
# and the finish moved it on (key for key, values as the state table's JSON gives them back).
SURVEY = {
    "runId": "bf-old",
    "mode": "enforce",
    "places": [["123456789012", "eu-west-1"]],
    "clusters": [],
    "profile": None,
    "expected": 2,
    "status": "RUNNING",
    "phase": "survey",
    "started": "2026-12-01T00:00:00+00:00",
    "partition": "aws",
    "waves": POLICY,
    "done": 1,
    "recorded": 1800000000.0,
}
ON_WAVE = {
    **SURVEY,
    "done": 2,
    "phase": "waves",
    "plan": "0a1b2c3d",
    "sizes": [1, 1],
    "outcomes": [],
    "wave": 1,
    "pending": {KEY: {"deployment": "ecs-svc/1", "since": 1800000100.0}},
    "ended": {},
    "recorded": 1800000100.0,
}
HELD = {**ON_WAVE, "held": 1, "resentAt": 1800000200.0, "resumes": 1}
OUTCOME = {"number": 1, "size": 1, "succeeded": 0, "failed": 1, "neutral": 0, "tripped": True}
STOPPED = {
    **ON_WAVE,
    "pending": {},
    "ended": "2026-12-01T01:00:00+00:00",
    "phase": "done",
    "status": "STOPPED",
    "outcomes": [{**OUTCOME, "failureShare": 1.0}],
    "stopped": "the run stopped after wave 1 of 2: 1 of 1 deployments failed (more than 20%); 1 service(s)"
    " left unchanged",
    "report": {"json": "s3://reports/backfill/bf-old/report.json"},
    "totals": {"REMEDIATED": 0, "DEPLOYMENT_FAILED": 1},
}
REFUSED = {**SURVEY, "phase": "done", "stopped": "too many waves", "sizes": [], "outcomes": [], "wave": 0}
FAILED = {
    **SURVEY,
    "status": "FAILED",
    "phase": "done",
    "ended": "2026-12-01T00:00:05+00:00",
    "reason": "the survey was not queued in full: SendMessageBatch: throttled",
}
RECONCILED = {
    **{k: v for k, v in SURVEY.items() if k != "waves"},
    "runId": "rc-old",
    "mode": "audit",
    "reconcile": True,
    "status": "DONE",
    "ended": "2026-12-01T00:10:00+00:00",
    "report": {},
    "totals": {"COMPLIANT": 2},
}
# The command line's run, in memory: no places, clusters or start time.
LOCAL = {
    "runId": "backfill",
    "mode": "enforce",
    "profile": "jaeger",
    "expected": 1,
    "status": "RUNNING",
    "phase": "survey",
    "partition": "aws",
    "waves": POLICY,
    "done": 0,
    "recorded": 0.0,
}


@pytest.mark.parametrize(
    "doc",
    [SURVEY, ON_WAVE, HELD, STOPPED, REFUSED, FAILED, RECONCILED, LOCAL],
    ids=["survey", "on-wave", "held", "stopped", "refused", "failed", "reconciled", "local"],
)
def test_a_run_document_is_read_and_written_back_key_for_key(doc: dict[str, Any]) -> None:
    stored = json.loads(json.dumps(doc))

    assert RunState.from_doc(stored).to_doc() == stored


def test_each_phase_of_a_stored_run_reads_as_typed_values() -> None:
    on_wave, held = RunState.from_doc(ON_WAVE), RunState.from_doc(HELD)
    stopped, failed = RunState.from_doc(STOPPED), RunState.from_doc(FAILED)

    assert RunState.from_doc(SURVEY).surveying
    assert (on_wave.phase, on_wave.wave, on_wave.sizes) == (Phase.WAVES, 1, (1, 1))
    assert on_wave.pending == {KEY: Pending("ecs-svc/1", 1800000100.0)}
    assert on_wave.policy == WavePolicy(first=1)
    assert (held.held, held.resent_at, held.resumes) == (1, 1800000200.0, 1)
    assert (stopped.status, stopped.ended, stopped.ends) == (
        RunStatus.STOPPED,
        "2026-12-01T01:00:00+00:00",
        {},
    )
    assert (failed.status, failed.reason, failed.sizes) == (RunStatus.FAILED, FAILED["reason"], ())
    assert RunState.from_doc(RECONCILED).policy is None
    assert on_wave.progress() == "wave 1/2, 0 of 1 services ended, 1 deployment(s) in flight"


def test_a_run_written_before_runs_had_a_phase_is_in_its_survey() -> None:
    older = {k: v for k, v in SURVEY.items() if k != "phase"}

    assert RunState.from_doc(older).phase is Phase.SURVEY


def test_a_key_this_version_does_not_know_is_kept() -> None:
    run = RunState.from_doc({**ON_WAVE, "note": {"by": "a later version"}})

    assert run.row_counted(1.0).to_doc()["note"] == {"by": "a later version"}


def test_a_transition_meant_for_another_wave_or_phase_declines() -> None:
    on_wave = RunState.from_doc(ON_WAVE)

    assert on_wave.waves_started("other", [1], 0.0) is None
    assert on_wave.refused("too many waves") is None
    assert on_wave.counted(2, {KEY: WaveEnd(Status.VERIFIED)}, 0.0) is None
    assert on_wave.resumed(1, 0.0) is None  # not held
    assert RunState.from_doc(STOPPED).closed("now", {}, {}) is None


def test_the_wave_s_last_end_judges_it_and_moves_the_run_on() -> None:
    run = RunState.from_doc(ON_WAVE)

    after = run.counted(1, {KEY: WaveEnd(Status.VERIFIED, "ecs-svc/1")}, 5.0)

    assert after is not None
    assert (after.phase, after.wave, after.pending, after.ends, after.recorded) == (
        Phase.WAVES,
        2,
        {},
        {},
        5.0,
    )
    assert [o["succeeded"] for o in after.outcomes] == [1]


def test_the_ledger_s_update_answers_what_the_change_decided_and_writes_nothing_it_declined() -> None:
    table = CountingTable()
    ledger = Ledger(table, clock=Clock())
    assert ledger.run_open("bf-new", RunState("bf-new", "enforce", 1, policy=WavePolicy()))
    writes = len([op for op in table.ops if op[0] == "put"])

    declined = ledger.run_update("bf-new", lambda run: run.held_on(1))  # not on a wave

    assert declined is None
    assert len([op for op in table.ops if op[0] == "put"]) == writes
    started = ledger.run_update("bf-new", lambda run: run.waves_started("p1", [1], 7.0))
    assert started == ledger.run("bf-new")
    assert started is not None
    assert (started.phase, started.plan, started.wave) == (Phase.WAVES, "p1", 1)


class _Queue:
    def send(self, items: Sequence[WorkItem]) -> int:
        return len(items)


def _found(service: str, status: Status) -> Finding:
    return Finding(status=status, account="123456789012", region="eu-west-1", cluster="shop", service=service)


def test_the_wave_engine_goes_on_with_a_run_an_earlier_version_stored() -> None:
    table = CountingTable()
    ledger = Ledger(table)
    assert table.put("run#bf-old", "run", {**ON_WAVE, "pending": {}}, None)
    finished: list[str] = []
    keeper = RunKeeper(ledger, finished.append, _Queue, visibility_seconds=720.0)

    keeper.record(RunTag("bf-old", "enforce", 1), KEY, _found("api", Status.COMPLIANT))
    moved = ledger.run("bf-old")
    keeper.record(RunTag("bf-old", "enforce", 2), OTHER, _found("web", Status.COMPLIANT))

    assert moved is not None
    assert (moved.wave, moved.ends, [o["number"] for o in moved.outcomes]) == (2, {}, [1])
    assert finished == ["bf-old"]
    assert {k: r["status"] for k, r in ledger.run_rows("bf-old").items()} == {
        KEY: "COMPLIANT",
        OTHER: "COMPLIANT",
    }
