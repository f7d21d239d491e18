"""A backfill run in AWS: the backfill function starts it, the workers do it, the last one finishes it.

- **Start** (functions/backfill): list the places' clusters and services (ListClusters, ListServices
  by full pages; the clusters' tags in one DescribeClusters per 100), record the run in the state
  table with how many services it expects (and their keys), and put one work item per service on the
  work queue the event path uses, tagged with the run (models.work.RunTag). This survey decides
  every service as an event would, in audit mode.
- **Record** (the worker): each service's status goes into the run (one row per service, counted
  once however often its item is retried), not to the topic.
- **Waves** (an enforce run, once its survey is recorded): the services the survey found to change
  go out in waves (domain.runs.waves), one wave at a time (usecases.run_waves).
- **Finish** (the worker whose row completes the run, or whose end completes its last wave, or the
  scheduled tick): the report (domain.runs.run_report) as JSON and HTML in the report bucket, and one
  digest on the status topic.

``sidecar-enforcer backfill-status RUN`` reads how far a run is (``progress``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..config import Mode
from ..domain.runs import run_report
from ..domain.runs.run_state import RunState
from ..domain.runs.waves import WavePolicy, failed_members, in_rollout, not_changed
from ..errors import AwsError, MalformedEventError
from ..ledger import Ledger
from ..models.digest import Digest
from ..models.events import ServiceTarget, Trigger
from ..models.findings import Finding, Status
from ..models.work import RunTag, WorkItem, parse_item
from .ports import Publisher, Reports, Survey, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    run_id: str
    mode: str  # audit or enforce
    places: tuple[tuple[str, str], ...]  # (account, region)
    clusters: tuple[str, ...] = ()
    profile: str | None = None
    waves: WavePolicy = field(default_factory=WavePolicy)  # an enforce run's
    reconcile: bool = False  # the scheduled reconciliation (usecases.reconcile), an audit run


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StartRun:
    def __init__(
        self,
        survey_for: Callable[[str, str], Survey],
        ledger: Ledger,
        queue: Callable[[], WorkQueue],
        finish: Callable[[str], Digest | None],
        partition: Callable[[], str],
        mode: Mode,
    ) -> None:
        self._survey_for = survey_for
        self._ledger = ledger
        self._queue = queue
        self._finish = finish
        self._partition = partition
        self._mode = mode  # the stack's

    def __call__(self, request: RunRequest) -> dict[str, Any]:
        if request.mode == "enforce" and self._mode is Mode.AUDIT:
            raise MalformedEventError(
                "backfill payload: mode enforce: the stack's ENFORCEMENT_MODE is audit, so the run "
                'would only audit; run {"mode": "audit"}, or deploy the stack in enforce mode'
            )
        run = RunTag(request.run_id, "enforce" if request.mode == "enforce" else "audit")
        items: list[WorkItem] = []
        failed: list[Finding] = []
        for account, region in request.places:
            try:
                items.extend(self._items(run, account, region, request.clusters))
            except AwsError as exc:  # a member role or an ECS that refused: the place is FAILED
                reason = f"{account}/{region} not surveyed: {exc}"
                failed.append(
                    Finding(
                        status=Status.FAILED,
                        account=account,
                        region=region,
                        trigger="backfill",
                        reasons=[reason],
                    )
                )
        state = RunState(
            run_id=run.id,
            mode=run.mode,
            places=request.places,
            clusters=request.clusters,
            profile=request.profile,
            expected=len(items) + len(failed),
            started=_now(),
            partition=self._partition(),
            policy=request.waves if run.mode == "enforce" else None,
            reconcile=request.reconcile,
        )
        if not self._ledger.run_open(run.id, state):
            raise AwsError(f"backfill run {run.id} exists already: give a new runId")
        try:
            self._ledger.run_survey(run.id, [item.key for item in items])
            for finding in failed:
                self._ledger.run_record(run.id, f"{finding.account}/{finding.region}", finding.to_message())
            if items:
                self._queue().send(items)
        except Exception as exc:  # a partial survey: the run is FAILED, so no sweep enforces what it found
            self._failed(run.id, f"the survey was not queued in full: {exc}")
            raise
        if not items:  # nothing to wait for: the report and the digest now
            self._finish(run.id)
        return {"runId": run.id, "mode": run.mode, "queued": len(items), "placesFailed": len(failed)}

    def _failed(self, run_id: str, reason: str) -> None:
        ended = _now()
        self._ledger.run_update(run_id, lambda run: run.failed(reason, ended))
        self._ledger.run_closed(run_id)
        log.error("backfill run %s failed: %s", run_id, reason)

    def _items(self, run: RunTag, account: str, region: str, clusters: Sequence[str]) -> list[WorkItem]:
        survey = self._survey_for(account, region)
        names = list(clusters) or list(survey.clusters())
        tags = survey.clusters_tags(names) if names else {}
        items = []
        for cluster in names:
            name = cluster.rsplit("/", 1)[-1]
            for arn in survey.services(cluster):
                target = ServiceTarget(name, arn.rsplit("/", 1)[-1], cluster_tags=tags.get(name, {}))
                trigger = Trigger(run.id, account, region, "backfill", (target,), partition=self._partition())
                items.append(WorkItem(trigger, origin=run.id, run=run))
        return items


def concluded(ledger: Ledger, run: RunState) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """A finished run's rows, by key, and its waves' outcomes as its report lists them. The services
    of the waves a stopped run never sent keep their audit status, saying why; each judged wave
    names its failed members and why (its members' rows stay as the breaker counted them)."""
    run_id, plan, stopped = run.run_id, run.plan, run.stopped
    rows = ledger.run_rows(run_id)
    waves: list[dict[str, Any]] = []
    for outcome in run.outcomes:
        keys = [parse_item(body).key for body in ledger.run_wave(run_id, plan, int(outcome["number"]))]
        ended = {k: str(rows[k]["status"]) for k in keys if k in rows}
        for key in ended:
            rows[key]["wave"] = int(outcome["number"])
        waves.append({**outcome, "failedMembers": failed_members(ended, rows)})
    if stopped:
        for number in range(run.wave + 1, len(run.sizes) + 1):
            for body in ledger.run_wave(run_id, plan, number):
                row = rows.get(parse_item(body).key)
                if row is not None:
                    row["reasons"] = not_changed(row.get("reasons") or [], stopped)
    return rows, waves


class FinishRun:
    """The report and the digest of a run whose services are all recorded (once)."""

    def __init__(
        self,
        ledger: Ledger,
        reports: Reports | None,
        publisher: Publisher,
        reconcile: Callable[[str, Mapping[str, Mapping[str, Any]]], bool] | None = None,
    ) -> None:
        self._ledger = ledger
        self._reports = reports
        self._publisher = publisher
        self._reconcile = reconcile  # after a reconciliation run: whether its digest is published

    def __call__(self, run_id: str) -> Digest | None:
        run = self._ledger.run(run_id)
        if run is None or not run.running:
            return None
        rows, waves = concluded(self._ledger, run)
        stopped = run.stopped
        ended = _now()
        started = run.started or ended
        seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
        report = run_report.build(
            run_id=run_id,
            mode=run.mode,
            started=started,
            ended=ended,
            seconds=seconds,
            # a profile's rollout reports the services that ask for it (or for none), as the CLI's run
            rows=[r for r in rows.values() if in_rollout(r.get("profile"), run.profile)],
            calls={},
            waves=waves,
            stopped=stopped,
            scope=run.scope(),
        )
        where: dict[str, str] = {}
        if self._reports is not None:
            for kind, content_type in (("json", "application/json"), ("html", "text/html; charset=utf-8")):
                key = f"backfill/{run_id}/report.{kind}"
                try:
                    where[kind] = self._reports.put(key, run_report.render(report, kind), content_type)
                except AwsError as exc:
                    # The run changed what it changed: its digest still goes out (naming no report
                    # where none was stored); its rows stay in the state table until they expire.
                    log.error("backfill run %s: report not stored: %s", run_id, exc)
        digest = Digest.of(report, where)
        # Two may finish at once: the one whose write closes the run publishes its digest.
        totals = report["totals"]
        if self._ledger.run_update(run_id, lambda current: current.closed(ended, where, totals)) is None:
            return None
        self._ledger.run_closed(run_id)
        log.info("backfill run %s done", run_id, extra={"digest": json.dumps(digest.to_message())[:4000]})
        if run.reconcile and self._reconcile is not None and not self._reconcile(run_id, rows):
            return digest  # the same findings as the last reconciliation's: nothing new to say
        self._publisher.publish(digest)
        return digest
