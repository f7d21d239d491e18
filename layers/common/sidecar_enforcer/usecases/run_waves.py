"""The wave engine of a backfill run: each item's finding into the run; the survey's last one plans an
enforce run's waves; each wave waits for its services to end. In AWS, the worker and the scheduled
tick drive it across invocations (the state table, the work queue, the deployments' events); the
command line's run (usecases.backfill) drives the same engine in-process, over a table in memory.
What a wave holds, when it trips the breaker and what comes after it are domain.runs.waves' plain rules.

A wave is planned once, when the survey is recorded: the services the survey found to change
(domain.runs.waves.plan_run), each wave's work items kept in the state table. Wave 1 is queued; a wave
item is decided in enforce mode. REMEDIATED is not the end of a
service: the deployment record carries the run and the wave, and the deployment's verdict ("ECS
Deployment State Change", VerifyDeployment) is. Any other status is its end at once. Each (wave,
service) end is counted once in the run's document, by a conditional write; the write that counts
a wave's last end judges the wave, so exactly one invocation queues the next wave, or finishes the
run (after the last wave, or when the fleet circuit breaker trips).

The scheduled tick sweeps the open runs: a deployment not ended after the policy's verify_seconds
is FAILED; the items of a survey or wave nothing was recorded for in a long while were lost (a
worker crashed on them until the queue dead-lettered them): their services are FAILED. No run stays
RUNNING forever.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from ..domain.ecs.arns import parse_arn, service_ref
from ..domain.runs.run_state import Phase, RunState, WaveEnd
from ..domain.runs.waves import plan_run, too_many_waves
from ..ledger import Ledger
from ..models.events import ServiceTarget, Trigger
from ..models.findings import Finding, Status
from ..models.work import RunTag, WorkItem, parse_item
from .ports import WorkQueue
from .verify_deployment import not_ended, with_remediation

log = logging.getLogger(__name__)

LOST_MINIMUM_SECONDS = 1800.0
# The work queue's redrive policy: an item is received at most this often, then dead-lettered
# (template.yaml WorkQueue maxReceiveCount; tests/unit/test_template.py holds them equal).
WORK_QUEUE_RECEIVES = 5
SURVEYED_LATE = "surveyed after the waves were planned; not changed"


class RunKeeper:
    def __init__(
        self,
        ledger: Ledger,
        finish: Callable[[str], object],
        queue: Callable[[], WorkQueue],
        *,
        visibility_seconds: float,
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self._ledger = ledger
        # The stop switch (usecases.rollout): while it is on, the run's current wave is held (see
        # ``_hold``) and the sweep resumes it once the switch is off.
        self._stopped = stopped
        self._finish = finish
        self._queue = queue
        # Nothing recorded for this long: the items still unrecorded were lost. An item that keeps
        # failing is handed over again after each visibility timeout until its last receive, so it
        # may still come until then (a shorter wait would call a retried item lost and fail it).
        self._lost_seconds = max(WORK_QUEUE_RECEIVES * visibility_seconds, LOST_MINIMUM_SECONDS)

    def acts_on(self, run: RunTag, key: str) -> bool:
        """Whether to act on a run's item: a wave item only while its run is on its wave and the
        service has neither ended there nor a deployment in flight (an item delivered again, or
        retried after its end was counted, changes nothing twice)."""
        if run.wave is None:
            return True
        current = self._ledger.run(run.id)
        acts = (
            current is not None
            and current.on(run.wave)
            and key not in current.pending
            and key not in current.ends
        )
        if acts and self._stopped():
            self._hold(run.id, run.wave)
            return False
        return acts

    def record(self, run: RunTag, key: str, finding: Finding) -> None:
        """A run item's finding: the service's latest status in the run, and counted."""
        if run.wave is not None:
            self._keep(run.id, run.wave, {key: finding})
            self._count(run.id, run.wave, {key: finding})
            return
        planned = self._ledger.run(run.id)
        if planned is not None and planned.phase is not Phase.SURVEY:
            # A survey item after the waves were planned (retried, or late after the sweep declared
            # it lost): the row a wave owns, or the sweep's, stays; a service without one is reported.
            if self._ledger.run_row(run.id, key) is None:
                late = finding.model_copy(update={"reasons": [*finding.reasons, SURVEYED_LATE]})
                self._ledger.run_record(run.id, key, late.to_message())
            return
        counted = self._ledger.run_record(run.id, key, finding.to_message())
        current = counted if counted is not None else self._ledger.run(run.id)
        if current is not None and current.surveying and current.all_recorded:
            self._after_survey(run.id)

    def verdict(self, run: RunTag, key: str, finding: Finding) -> None:
        """The verdict on a deployment a wave started: the service's end in that wave."""
        row = self._ledger.run_row(run.id, key)
        if row is not None:
            kept = Finding.model_validate(row)
            if (kept.status, kept.deployment_id) == (finding.status, finding.deployment_id):
                finding = kept  # this verdict, kept already (delivered again): as first recorded
            else:
                finding = with_remediation(finding, kept)
        self.record(run, key, finding)

    def sweep(self, run_id: str) -> None:
        """The scheduled tick, for one open run: end what will not end by itself."""
        run = self._ledger.run(run_id)
        if run is None or not run.running:
            self._ledger.run_closed(run_id)
            return
        now = self._ledger.now()
        lost = now - run.recorded > self._lost_seconds
        why = f"its work item was lost: nothing was recorded in the run for {self._lost_seconds:.0f} s"
        if run.phase is Phase.SURVEY:
            if lost:
                for key in self._ledger.run_unrecorded(run_id):
                    self._ledger.run_record(run_id, key, _lost(run_id, key, why).to_message())
                self._ledger.run_update(run_id, RunState.survey_lost)
            if (self._ledger.run(run_id) or run).all_recorded:
                self._after_survey(run_id)
            return
        if run.phase is not Phase.WAVES:  # done: the finish did not happen (or did not end)
            self._finish(run_id)
            return
        if run.held:  # paused by the stop switch: nothing is lost meanwhile
            if not self._stopped():
                self._resume(run_id, run)
            return
        assert run.policy is not None, "a run on a wave is an enforce run"
        wave, seconds = run.wave, run.policy.verify_seconds
        ends = {
            key: not_ended(self._row(run_id, key), seconds)
            for key, deploying in run.pending.items()
            if now - deploying.since > seconds
        }
        if lost:  # what is neither ended nor deploying was never recorded in this wave
            items = [parse_item(body) for body in self._ledger.run_wave(run_id, run.plan, wave)]
            unrecorded = [i for i in items if i.key not in run.pending and i.key not in run.ends]
            if unrecorded and run.resent_at is None:
                # Queued once more first: the wave may never have been queued (the write that moved
                # the run on won, then queueing it failed); lost only if nothing comes of this either.
                self._resend(run_id, wave, unrecorded)
                unrecorded = []
            for key in dict.fromkeys(i.key for i in unrecorded):
                found = self._row(run_id, key)
                ends[key] = found.model_copy(
                    update={"status": Status.FAILED, "reasons": [*found.reasons, why]}
                )
        self._keep(run_id, wave, ends)
        if ends:
            self._count(run_id, wave, ends)

    def _keep(self, run_id: str, wave: int, ends: Mapping[str, Finding]) -> None:
        """The services' rows, for those whose end in ``wave`` is not counted yet. A late item, a
        verdict after the tick timed its deployment out, or the tick's FAILED after a verdict was
        counted leaves the row as counted: the report says what the breaker judged."""
        run = self._ledger.run(run_id)
        if run is None or not run.on(wave):  # the run moved on, or ended: every end was counted
            return
        for key, finding in ends.items():
            if key not in run.ends:
                self._ledger.run_record(run_id, key, finding.to_message())

    def _resend(self, run_id: str, wave: int, items: list[WorkItem]) -> None:
        """Queue a wave's unrecorded items again (their dedup ids unchanged; ``acts_on`` keeps a service
        from being acted on twice), and note it: the lost interval starts over from now."""
        log.warning("backfill run %s: wave %d: %d item(s) queued again", run_id, wave, len(items))
        self._queue().send(items)
        now = self._ledger.now()
        self._ledger.run_update(run_id, lambda run: run.resent(wave, now))

    def _row(self, run_id: str, key: str) -> Finding:
        """A wave's service as the run holds it (its row was recorded by the survey, at the latest)."""
        row = self._ledger.run_row(run_id, key)
        assert row is not None, f"{key}: a wave's service has a row in its run"
        return Finding.model_validate(row)

    # -- the survey's end: waves, or the finish -----------------------------------------------------

    def _after_survey(self, run_id: str) -> None:
        run = self._ledger.run(run_id)
        if run is None or not run.surveying:
            return
        if run.policy is None:  # an audit run
            self._finish(run_id)
            return
        waves = plan_run(self._ledger.run_rows(run_id).values(), run.profile, run.policy)
        if not waves:  # nothing to change: the run is done
            self._finish(run_id)
            return
        refused = too_many_waves(len(waves))
        if refused is not None:  # its document would outgrow DynamoDB's item: the run ends, saying why
            self._ledger.run_update(run_id, lambda current: current.refused(refused))
            self._finish(run_id)
            return
        # This planner's own rows: another planner of the run (a late survey row and the tick at once)
        # may plan from other rows; the run's document names the plan whose start won.
        plan = secrets.token_hex(4)
        for number, wave in enumerate(waves, start=1):
            items = [_item(run_id, run.partition, number, r).to_body() for r in wave]
            self._ledger.run_wave_put(run_id, plan, number, items)
        now, sizes = self._ledger.now(), [len(w) for w in waves]
        if self._ledger.run_update(run_id, lambda current: current.waves_started(plan, sizes, now)):
            self._queue_wave(run_id, plan, 1)

    # -- a wave's ends ------------------------------------------------------------------------------

    def _count(self, run_id: str, wave: int, ends: Mapping[str, Finding]) -> None:
        """Count each service's end (or its deployment in flight) in its wave, once; the write that
        counts the wave's last end judges it and moves the run on."""
        now = self._ledger.now()
        counted = {key: WaveEnd(f.status, f.deployment_id) for key, f in ends.items()}
        after = self._ledger.run_update(run_id, lambda run: run.counted(wave, counted, now))
        if after is None:  # a later wave, a stopped run: counted already
            return
        if after.phase is Phase.DONE:
            self._finish(run_id)
        elif after.wave != wave:
            self._queue_wave(run_id, after.plan, after.wave)

    # -- the stop switch: a held wave, and its resumption ------------------------------------------

    def _hold(self, run_id: str, wave: int) -> None:
        """Hold the run on ``wave``: its items not acted on yet wait (dropped from the queue as they
        come) until the sweep finds the stop switch off and queues them again."""
        current = self._ledger.run(run_id)
        if current is None or not current.held:
            log.info("backfill run %s: wave %d held: the stop switch is on", run_id, wave)
            self._ledger.run_update(run_id, lambda run: run.held_on(wave))

    def _resume(self, run_id: str, run: RunState) -> None:
        """Queue the held wave's items that neither ended nor deployed, under a new origin (SQS
        would drop a deduplication id it saw within five minutes), and count the lost interval from
        now."""
        wave, now = run.wave, self._ledger.now()
        after = self._ledger.run_update(run_id, lambda current: current.resumed(wave, now))
        if after is None:
            return
        items = [parse_item(body) for body in self._ledger.run_wave(run_id, run.plan, wave)]
        waiting = [
            WorkItem(i.trigger, origin=f"{i.origin}#resumed{after.resumes}", run=i.run)
            for i in items
            if i.key not in after.pending and i.key not in after.ends
        ]
        log.info("backfill run %s: wave %d resumed (%d service(s) queued)", run_id, wave, len(waiting))
        if waiting:
            self._queue().send(waiting)

    def _queue_wave(self, run_id: str, plan: str, number: int) -> None:
        """The one place a wave is queued (the first, once the survey is recorded; each next one, once
        the last was judged), after the run's document moved on to it. While the stop switch is on,
        the wave is held instead: the sweep that finds the switch off queues it."""
        if self._stopped():
            self._hold(run_id, number)
            return
        items = [parse_item(body) for body in self._ledger.run_wave(run_id, plan, number)]
        log.info("backfill run %s: wave %d queued (%d service(s))", run_id, number, len(items))
        self._queue().send(items)


def _item(run_id: str, partition: str, wave: int, row: Mapping[str, Any]) -> WorkItem:
    target = ServiceTarget(str(row["cluster"]), str(row["service"]))
    trigger = Trigger(
        run_id, str(row["account"]), str(row["region"]), "backfill", (target,), partition=partition
    )
    # Another origin than the survey item's: SQS would drop a dedup id it saw within 5 minutes.
    return WorkItem(trigger, origin=f"{run_id}#wave{wave}", run=RunTag(run_id, "enforce", wave))


def _lost(run_id: str, key: str, why: str) -> Finding:
    """A survey item nothing was recorded for: its service FAILED, named by its key."""
    arn = parse_arn(key)
    cluster, service = service_ref(key)
    return Finding(
        status=Status.FAILED,
        account=arn.account if arn else None,
        region=arn.region if arn else None,
        cluster=cluster,
        service=service,
        trigger="backfill",
        event_id=run_id,
        mode="audit",
        reasons=[why],
    )
