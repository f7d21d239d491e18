"""The stop switch in a backfill run's waves (usecases.run_waves): while it is on, no wave is queued
and a wave item that comes is not acted on; the run is held, never called lost however long the
switch stays on; once it is off, the tick queues the held wave's services that neither ended nor
deploy, under new deduplication ids (SQS would drop ids it saw within five minutes)."""

from __future__ import annotations

from sidecar_enforcer.domain.runs.waves import WavePolicy
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.models.work import RunTag

from ._runs import LOST, RUN, Runs


def stoppable(runs: Runs) -> list[bool]:
    """The keeper's stop switch, a flag the test throws."""
    stopped = [False]
    runs.keeper._stopped = lambda: stopped[0]
    return stopped


def test_a_wave_is_not_queued_while_the_switch_is_on_and_the_tick_queues_it_once_it_is_off() -> None:
    runs = Runs(4, WavePolicy(first=2, growth=1))
    stopped = stoppable(runs)
    runs.survey()
    first = runs.wave(1)
    stopped[0] = True
    for name in first:
        runs.remediate(1, name)
        runs.verdict(1, name)

    assert runs.wave(2) == []  # held
    assert (runs.doc()["wave"], runs.doc()["held"]) == (2, 2)
    runs.clock.advance(10 * LOST)
    runs.keeper.sweep(RUN)  # still on: nothing queued, nothing lost
    assert runs.wave(2) == []
    assert runs.digests == []

    stopped[0] = False
    runs.keeper.sweep(RUN)
    runs.keeper.sweep(RUN)  # resumed once

    second = runs.wave(2)
    assert len(second) == 2
    assert "held" not in runs.doc()
    for name in second:
        runs.remediate(2, name)
        runs.verdict(2, name)
    (digest,) = runs.digests
    assert digest.totals == {"VERIFIED": 4}


def test_a_wave_item_that_comes_while_the_switch_is_on_is_held_and_queued_again_on_release() -> None:
    runs = Runs(2, WavePolicy(first=2, growth=1))
    stopped = stoppable(runs)
    runs.survey()
    first = runs.wave(1)
    runs.remediate(1, first[0])  # acted on before the switch was thrown: its deployment goes on
    stopped[0] = True

    acts = runs.keeper.acts_on(RunTag(RUN, "enforce", 1), runs.key(first[1]))

    assert acts is False
    assert runs.doc()["held"] == 1
    stopped[0] = False
    runs.keeper.sweep(RUN)
    again = [i for i in runs.queued if i.run and i.run.wave == 1][2:]
    assert [str(getattr(i.target, "service", "")) for i in again] == [first[1]]  # not the one deploying
    original = next(i for i in runs.queued if getattr(i.target, "service", "") == first[1])
    assert again[0].dedup_id != original.dedup_id
    assert runs.keeper.acts_on(RunTag(RUN, "enforce", 1), runs.key(first[1])) is True


def test_without_the_switch_nothing_is_held() -> None:
    runs = Runs(4, WavePolicy(first=2, growth=1))
    runs.survey()
    for name in runs.wave(1):
        runs.remediate(1, name)
        runs.verdict(1, name, Status.VERIFIED)

    assert len(runs.wave(2)) == 2
    assert "held" not in runs.doc()
