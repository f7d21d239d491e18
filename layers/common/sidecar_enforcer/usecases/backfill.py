"""Backfill: bring a whole fleet into line — every account, region and cluster asked for — in audit
(find, change nothing) or enforce mode (remediate in safe waves).

1. Survey each account and region at once (their throttling quotas are separate): ListClusters and
   ListServices by full pages, the clusters' tags in one DescribeClusters per 100, DescribeServices
   in tens with tags; then every service is decided as an event would decide it (EnforceService, in
   audit scope). A revision is described at most once per run (the ECS gateway single-flights and
   keeps every revision of the run) and not at all when its plan is remembered (domain.verdicts).
2. Enforce mode: the services the survey found to change go out in waves, by the stack's own wave
   engine (usecases.run_waves over a table in memory; the rules are domain.waves'): each wave is
   remediated, then waits for its deployments to end and verifies them (VerifyDeployment, as the
   "ECS Deployment State Change" event would); more than the policy's share of failures in a wave
   stops the run, and the services not reached keep their audit status, saying why.

Concurrency is bounded per account and region: ``workers`` threads for the service reads and twice
as many deciding services (their task-definition reads), each account and region surveyed at once.
The clients pace every request to ECS's documented token buckets (adapters.pacing), so the run
drains each bucket at its rate and is not throttled when it is alone in its account.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

from ..config import Mode
from ..domain.arns import parse_arn
from ..domain.snapshots import ServiceSnapshot
from ..domain.status import Status
from ..domain.waves import WavePolicy, in_rollout
from ..errors import AwsError, NotFoundError
from ..ledger import Ledger, Table
from ..models.events import DeploymentOutcome, ServiceTarget
from ..models.findings import Finding
from ..models.work import RunTag, WorkItem
from . import survey_processes
from .enforce_service import EnforceService
from .ports import Ecs, Survey
from .run_waves import RunKeeper
from .runs import concluded
from .scope import Scope
from .survey_processes import Handover
from .verify_deployment import VerifyDeployment

log = logging.getLogger(__name__)

DESCRIBE_SERVICES_MAX = 10


@dataclass(frozen=True)
class RunSpec:
    mode: Mode
    places: tuple[tuple[str, str], ...]  # (account, region); account "" (HOME): the caller's own
    clusters: tuple[str, ...] = ()  # names or ARNs; empty: every cluster
    profile: str | None = None  # only the services that ask for this profile
    waves: WavePolicy = field(default_factory=WavePolicy)
    poll_seconds: float = 15.0
    run_id: str = "backfill"


@dataclass
class Progress:
    """How far a run is: what a progress bar (or backfill-status) shows."""

    phase: str = "survey"  # survey, wave N/M, done
    places_done: int = 0
    places: int = 0
    services_seen: int = 0
    services_decided: int = 0
    deployments_waiting: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def decided(self, status: Status) -> None:
        with self.lock:
            self.services_decided += 1
            self.counts[status.value] = self.counts.get(status.value, 0) + 1

    def snapshot(self) -> tuple[int, int, int, dict[str, int]]:
        """The survey's counts as plain data (a survey child's, for the parent)."""
        with self.lock:
            return self.places_done, self.services_seen, self.services_decided, dict(self.counts)

    def add_up(self, snapshots: Iterable[tuple[int, int, int, dict[str, int]]]) -> None:
        """The survey's counts: the sum of the survey children's."""
        counts: dict[str, int] = {}
        done = seen = decided = 0
        for places, services, finished, by_status in snapshots:
            done, seen, decided = done + places, seen + services, decided + finished
            for status, n in by_status.items():
                counts[status] = counts.get(status, 0) + n
        with self.lock:
            self.places_done, self.services_seen, self.services_decided = done, seen, decided
            self.counts = counts


@dataclass(frozen=True)
class RunResult:
    findings: list[Finding]
    waves: list[dict[str, Any]]  # each wave's outcome, as the report lists it (with its failed members)
    stopped: str | None
    wave_of: tuple[int | None, ...] = ()  # the wave each finding went out in (None: in none)

    def rows(self) -> list[dict[str, Any]]:
        """The findings as a report lists them: each status message, with its wave."""
        waves = self.wave_of or (None,) * len(self.findings)
        return [
            {**f.to_message(), **({"wave": w} if w else {})}
            for f, w in zip(self.findings, waves, strict=True)
        ]


@dataclass
class _Row:
    """One service through the run: its snapshot, cluster tags and latest finding."""

    account: str  # as ECS's ARNs name it
    region: str
    cluster: str
    service: str
    finding: Finding
    wave: int | None = None
    via: str = ""  # the account as the run was asked for it (HOME: the caller's own)


class Backfill:
    def __init__(
        self,
        ecs_for: Callable[[str, str], Ecs],
        survey_for: Callable[[str, str], Survey],
        scope_for: Callable[[str, str, Mode], Scope],
        enforce_service: EnforceService,
        verify_deployment: VerifyDeployment,
        *,
        run_table: Callable[[], Table],
        workers: int = 8,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[Progress], None] = lambda p: None,
        stopped: Callable[[], bool] = lambda: False,
        switched: Callable[[Scope], Scope] = lambda scope: scope,
        processes: int = 1,
        handovers: Sequence[Handover] = (),
        before_fork: Callable[[Sequence[tuple[str, str]]], None] = lambda places: None,
    ) -> None:
        self._ecs_for = ecs_for
        # Where an enforce run's waves are recorded (the engine's ledger): a table in memory.
        self._run_table = run_table
        # Places surveyed in up to ``processes`` children (usecases.survey_processes), each handing
        # back what ``handovers`` gather (the requests counted, the plans learned); ``before_fork``:
        # what the children should find done, once, rather than each do it.
        self._processes = processes
        self._handovers = handovers
        self._before_fork = before_fork
        # The stack's stop switch (usecases.rollout), when the settings name it: a wave is held while
        # it is on, and resumed when it is off, as the stack's runs are.
        self._stopped = stopped
        # ... and the mode the switches (the stop switch, the rollout policy) allow a wave's change.
        self._switched = switched
        self._survey_for = survey_for
        self._scope_for = scope_for
        self._enforce = enforce_service
        self._verify = verify_deployment
        self._workers = workers
        self._clock = clock
        self._sleep = sleep
        self._on_progress = on_progress
        self.progress = Progress()

    def run(self, spec: RunSpec) -> RunResult:
        self.progress = Progress(places=len(spec.places))
        rows = self._survey_places(spec)
        rows.sort(key=lambda r: (r.account, r.region, r.cluster, r.service))
        rows = [r for r in rows if in_rollout(r.finding.profile, spec.profile)]
        waves: list[dict[str, Any]] = []
        stopped = None
        if spec.mode is Mode.ENFORCE:
            waves, stopped = self._enforce_in_waves(spec, rows)
        self.progress.phase = "done"
        self._on_progress(self.progress)
        return RunResult([r.finding for r in rows], waves, stopped, tuple(r.wave for r in rows))

    # -- survey -------------------------------------------------------------------------------------

    def _survey_places(self, spec: RunSpec) -> list[_Row]:
        """Every place at once: in separate processes when more than one place may have one
        (usecases.survey_processes), else in threads of this process."""
        processes = min(self._processes, len(spec.places))
        if processes < 2 or not survey_processes.available():
            return self._survey_group(spec, list(spec.places))
        self._before_fork(spec.places)
        rows: list[_Row] = survey_processes.survey(
            spec.places,
            processes,
            lambda places, tell: self._survey_group(spec, places, tell),
            lambda place, reason: self._place_failed(*place, reason),
            self._handovers,
            self._children_progress,
        )
        self.progress.places_done = len(spec.places)
        return rows

    def _survey_group(
        self, spec: RunSpec, places: list[tuple[str, str]], tell: survey_processes.Tell | None = None
    ) -> list[_Row]:
        """Places surveyed in threads. In a survey child (``tell``): its progress told to the parent,
        and a place whose survey raised is its FAILED row, the other places go on."""
        if tell is not None:
            self.progress = Progress(places=len(places))
            placed = [0]

            def told(p: Progress) -> None:
                tell(p.snapshot(), p.places_done != placed[0])
                placed[0] = p.places_done

            self._on_progress = told

        def one(place: tuple[str, str]) -> list[_Row]:
            try:
                return self._survey(spec, *place)
            except Exception as exc:
                if tell is None:
                    raise
                return [self._place_failed(*place, one_line_error(exc))]

        rows: list[_Row] = []
        with ThreadPoolExecutor(max_workers=max(1, min(len(places), 8))) as pool:
            for found in pool.map(one, places):
                rows.extend(found)
        return rows

    def _children_progress(self, latest: dict[int, Any]) -> None:
        self.progress.add_up(latest.values())
        self._on_progress(self.progress)

    def _place_failed(self, via: str, region: str, reason: str) -> _Row:
        """The row of a place that could not be surveyed: FAILED, saying why."""
        scope = self._scope_for(via, region, Mode.AUDIT)
        where = f"{via or 'own account'}/{region}"
        failed = scope.finding(Status.FAILED, reasons=[f"{where} not surveyed: {reason}"])
        return _Row(via, region, "", "", failed, via=via)

    def _survey(self, spec: RunSpec, via: str, region: str) -> list[_Row]:
        scope = self._scope_for(via, region, Mode.AUDIT)
        try:
            ecs, survey = self._ecs_for(via, region), self._survey_for(via, region)
            clusters = list(spec.clusters) or list(survey.clusters())
            by_name = survey.clusters_tags(clusters) if clusters else {}
        except AwsError as exc:  # the member role, or the account's ECS, refused: the place FAILED
            self._placed()
            return [self._place_failed(via, region, str(exc))]
        rows: list[_Row] = []
        learned: list[tuple[str, Scope]] = []  # the caller's own account, from ECS's ARNs (no STS call)

        def scoped(item: ServiceSnapshot | Finding) -> tuple[str, Scope]:
            if not learned:
                account = _account_of(item) or via
                if account == via:
                    return via, scope
                learned.append((account, self._scope_for(account, region, Mode.AUDIT)))
            return learned[0]

        def decide(cluster: str, item: ServiceSnapshot | Finding) -> _Row:
            name = cluster.rsplit("/", 1)[-1]
            account, in_scope = scoped(item)
            if isinstance(item, Finding):
                finding = item
            else:
                finding = self._enforce(ecs, item, in_scope, cluster_tags=by_name.get(name, {}))
            self.progress.decided(finding.status)
            return _Row(account, region, name, finding.service or "", finding, via=via)

        # Pipelined, one pool per ECS bucket: a cluster's DescribeServices go out as soon as its
        # services are listed (service reads), and the services of each answer are decided as soon as
        # it comes (task-definition reads, paced by their own bucket): the two buckets drain side by
        # side. The answers come back through a queue, each page's services decided by one task.
        answers: SimpleQueue[int | tuple[str, list[ServiceSnapshot | Finding]] | BaseException]
        answers = SimpleQueue()

        def described(cluster: str, arns: list[str | Finding]) -> None:
            try:
                answers.put((cluster, self._describe(ecs, scope, cluster, arns)))
            except BaseException as exc:  # the run raises it
                answers.put(exc)

        def listed(cluster: str) -> None:
            try:
                found = self._service_arns(survey, scope, cluster)
                pages = range(0, len(found), DESCRIBE_SERVICES_MAX)
                answers.put(len(pages))  # answers still to come
                for start in pages:
                    reads.submit(described, cluster, found[start : start + DESCRIBE_SERVICES_MAX])
            except BaseException as exc:  # the run raises it
                answers.put(exc)

        def decide_all(cluster: str, items: list[ServiceSnapshot | Finding]) -> list[_Row]:
            return [decide(cluster, item) for item in items]

        with (
            ThreadPoolExecutor(max_workers=self._workers) as reads,
            ThreadPoolExecutor(max_workers=self._workers * 2) as decides,
        ):
            for cluster in clusters:
                reads.submit(listed, cluster)
            coming = len(clusters)
            decided: list[Future[list[_Row]]] = []
            while coming:
                answer = answers.get()
                coming -= 1
                if isinstance(answer, BaseException):
                    raise answer
                if isinstance(answer, int):
                    coming += answer
                    continue
                cluster, items = answer
                with self.progress.lock:
                    self.progress.services_seen += len(items)
                scoped(items[0]) if items else None
                decided.append(decides.submit(decide_all, cluster, items))
            for page in decided:
                rows.extend(page.result())
                self._on_progress(self.progress)
        self._placed()
        return rows

    def _placed(self) -> None:
        with self.progress.lock:
            self.progress.places_done += 1
        self._on_progress(self.progress)

    @staticmethod
    def _service_arns(survey: Survey, scope: Scope, cluster: str) -> list[str | Finding]:
        try:
            return list(survey.services(cluster))
        except AwsError as exc:
            return [_unsurveyed(scope, cluster, exc)]

    @staticmethod
    def _describe(
        ecs: Ecs, scope: Scope, cluster: str, arns: list[str | Finding]
    ) -> list[ServiceSnapshot | Finding]:
        failed = [a for a in arns if isinstance(a, Finding)]
        if failed:
            return list(failed)
        try:
            return list(ecs.describe_services(cluster, [str(a) for a in arns]))
        except AwsError as exc:
            return [_unsurveyed(scope, cluster, exc)]

    # -- enforce, in waves --------------------------------------------------------------------------

    def _enforce_in_waves(self, spec: RunSpec, rows: list[_Row]) -> tuple[list[dict[str, Any]], str | None]:
        """The services the survey found to change, in waves: the stack's engine (run_waves.RunKeeper)
        over a table in memory, driven here in-process (see _LocalRun)."""
        return _LocalRun(self, spec, rows).drive()


class _LocalRun:
    """An enforce run's waves on the command line: the survey's findings recorded into the engine as
    the workers record them in AWS; each wave the engine queues is taken from a list in memory,
    remediated here, and its deployments polled (DescribeServices) and verified as their "ECS
    Deployment State Change" events would be; a deployment not ended after verify_seconds is ended
    by the engine's sweep, as the scheduled tick does. The plan, the breaker and the ends are the
    engine's: the same as a run of the stack."""

    def __init__(self, backfill: Backfill, spec: RunSpec, rows: list[_Row]) -> None:
        self._b = backfill
        self._spec = spec
        self._ledger = Ledger(backfill._run_table(), clock=backfill._clock, sleep=backfill._sleep)
        self._queued: list[WorkItem] = []
        self._concluded: tuple[dict[str, dict[str, Any]], list[dict[str, Any]], str | None] | None = None
        self._keeper = RunKeeper(
            self._ledger,
            self._finish,
            lambda: self,
            visibility_seconds=spec.waves.verify_seconds,
            stopped=backfill._stopped,
        )
        self._rows = rows
        self._partition = (
            backfill._scope_for(rows[0].via, rows[0].region, Mode.AUDIT).partition if rows else ""
        )
        self._keys = [self._key(number, row) for number, row in enumerate(rows)]
        self._via = {(r.account, r.region): r.via for r in rows}

    def send(self, items: Sequence[WorkItem]) -> int:
        """The engine's queue: a wave's items, taken by ``drive``."""
        self._queued.extend(items)
        return len(items)

    def drive(self) -> tuple[list[dict[str, Any]], str | None]:
        run_id = self._spec.run_id
        try:
            self._survey(run_id)
            while self._concluded is None:
                if self._queued:
                    items, self._queued = self._queued, []
                    self._wave(items)
                    continue
                doc = self._ledger.run(run_id) or {}
                if doc.get("pending"):
                    self._await(run_id)
                elif doc.get("held"):
                    self._held(run_id)
                else:  # neither a wave to send nor a deployment to wait for: it would wait forever
                    raise RuntimeError("the wave engine has nothing to send or wait for")
        # An error, or a person's Ctrl-C, after the first change: the report still says what was
        # changed, and why the run ended.
        except (Exception, KeyboardInterrupt) as exc:
            reason = one_line_error(exc)
            log.error("backfill run %s stopped: %s", run_id, reason)
            self._ledger.run_update(run_id, lambda d: _aborted(d, reason))
            self._finish(run_id)
        assert self._concluded is not None
        found, waves, stopped = self._concluded
        for row, key in zip(self._rows, self._keys, strict=True):
            if key in found:
                row.finding = Finding.model_validate(found[key])
                row.wave = found[key].get("wave")
        return waves, stopped

    def _key(self, number: int, row: _Row) -> str:
        """A service's key in the run, as the engine's wave items name it (models.work.key_of); a row
        without a service (a place or cluster not surveyed) has one of its own."""
        f = row.finding
        if not f.service:
            return f"{row.via or 'own account'}/{row.region}/{row.cluster}#{number}"
        return f"arn:{self._partition}:ecs:{f.region}:{f.account}:service/{f.cluster}/{f.service}"

    def _survey(self, run_id: str) -> None:
        doc: dict[str, Any] = {
            "runId": run_id,
            "mode": "enforce",
            "profile": self._spec.profile,
            "expected": len(set(self._keys)),
            "status": "RUNNING",
            "phase": "survey",
            "partition": self._partition,
            "waves": self._spec.waves.to_doc(),
        }
        self._ledger.run_open(run_id, doc)
        # A service found twice (a place given twice) is one service of the run, recorded once.
        found = dict(zip(self._keys, self._rows, strict=True))
        self._ledger.run_survey(run_id, list(found))
        survey = RunTag(run_id, "enforce")
        for key, row in found.items():
            self._keeper.record(survey, key, row.finding)
        if not self._rows:
            self._finish(run_id)

    def _wave(self, items: list[WorkItem]) -> None:
        """Remediate a wave's services (``workers`` at once), then record each into the engine."""
        doc = self._ledger.run(self._spec.run_id) or {}
        with self._b.progress.lock:
            self._b.progress.deployments_waiting = 0
        self._b.progress.phase = f"wave {doc.get('wave')}/{len(doc.get('sizes') or [])}"
        self._b._on_progress(self._b.progress)
        acted = [i for i in items if i.run is not None and self._keeper.acts_on(i.run, i.key)]
        with ThreadPoolExecutor(max_workers=self._b._workers) as pool:
            findings = list(pool.map(self._remediate, acted))
        for item, finding in zip(acted, findings, strict=True):
            assert item.run is not None
            self._keeper.record(item.run, item.key, finding)

    def _remediate(self, item: WorkItem) -> Finding:
        trigger, target = item.trigger, item.target
        assert isinstance(target, ServiceTarget)
        scope = self._b._switched(self._b._scope_for(trigger.account, trigger.region, Mode.ENFORCE))
        try:
            ecs = self._b._ecs_for(
                self._via.get((trigger.account, trigger.region), trigger.account), trigger.region
            )
            return self._b._enforce.named(ecs, target.cluster, target.service, scope)
        except AwsError as exc:
            return scope.finding(
                Status.FAILED, cluster=target.cluster, service=target.service, reasons=[str(exc)]
            )

    def _await(self, run_id: str) -> None:
        """One look at the wave's deployments in flight: each one ended is verified; those past
        verify_seconds are ended by the engine's sweep; then a pause before the next look."""
        doc = self._ledger.run(run_id) or {}
        pending = dict(doc.get("pending") or {})
        with self._b.progress.lock:
            self._b.progress.deployments_waiting = len(pending)
        self._b._on_progress(self._b.progress)
        wave = RunTag(run_id, "enforce", int(doc.get("wave") or 0))
        for key, snapshot, row in self._snapshots(run_id, list(pending)):
            ended = _ended(snapshot, str(pending[key]["deployment"]))
            if ended is not None:
                self._keeper.verdict(wave, key, self._verified(row, ended, snapshot))
        if self._concluded is None and not self._queued:
            self._keeper.sweep(run_id)
        if self._concluded is None and not self._queued:
            self._b._sleep(self._spec.poll_seconds)

    def _held(self, run_id: str) -> None:
        """A wave the stop switch holds: a look at the switch each poll; the engine's sweep queues
        the wave again once it is off."""
        self._b.progress.phase = "held: the stop switch is on"
        self._b._on_progress(self._b.progress)
        self._keeper.sweep(run_id)
        if self._concluded is None and not self._queued:
            self._b._sleep(self._spec.poll_seconds)

    def _snapshots(
        self, run_id: str, keys: list[str]
    ) -> Iterator[tuple[str, ServiceSnapshot | None, Finding]]:
        """The services' state now, DescribeServices in tens per account, region and cluster."""
        groups: dict[tuple[str, str, str], list[tuple[str, Finding]]] = {}
        for key in keys:
            row = Finding.model_validate(self._ledger.run_row(run_id, key) or {})
            where = (row.account or "", row.region or "", row.cluster or "")
            groups.setdefault(where, []).append((key, row))
        for (account, region, cluster), members in groups.items():
            try:
                ecs = self._b._ecs_for(self._via.get((account, region), account), region)
                names = [str(r.service) for _, r in members]
                found = {s.name: s for s in ecs.describe_services(cluster, names)}
            except AwsError as exc:
                log.warning("deployments not checked this time: %s", exc)
                continue
            for key, row in members:
                yield key, found.get(str(row.service)), row

    def _verified(
        self, row: Finding, ended: tuple[bool, str | None], snapshot: ServiceSnapshot | None
    ) -> Finding:
        account, region = row.account or "", row.region or ""
        scope = self._b._scope_for(account, region, Mode.ENFORCE)
        outcome = DeploymentOutcome(
            row.cluster or "",
            row.service or "",
            row.deployment_id or "",
            ended[0],
            ended[1],
            snapshot.arn if snapshot else None,
        )
        try:
            return self._b._verify(
                self._b._ecs_for(self._via.get((account, region), account), region), outcome, scope
            )
        except AwsError as exc:
            return scope.finding(Status.FAILED, cluster=row.cluster, service=row.service, reasons=[str(exc)])

    def _finish(self, run_id: str) -> None:
        """The engine's end of the run: its rows and waves as the report shows them."""
        doc = self._ledger.run(run_id) or {}
        rows, waves = concluded(self._ledger, run_id, doc)
        self._concluded = (rows, waves, doc.get("stopped"))
        self._ledger.run_update(run_id, lambda d: {**d, "status": "STOPPED" if d.get("stopped") else "DONE"})


def _aborted(doc: dict[str, Any], reason: str) -> dict[str, Any]:
    """The run an error ended: what the waves sent so far stands; the rest is left as it is."""
    stopped = f"the run stopped: {reason}"
    if doc.get("phase") == "waves":
        return {**doc, "phase": "done", "stopped": stopped}
    return {**doc, "phase": "done", "stopped": stopped, "sizes": [], "outcomes": [], "wave": 0}


def one_line_error(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, AwsError) else f"{type(exc).__name__}: {text}"


def _unsurveyed(scope: Scope, cluster: str, exc: AwsError) -> Finding:
    name = cluster.rsplit("/", 1)[-1]
    status = Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED
    return scope.finding(status, cluster=name, reasons=[f"cluster {name} not surveyed: {exc}"])


def _account_of(item: ServiceSnapshot | Finding) -> str | None:
    if isinstance(item, ServiceSnapshot):
        parsed = parse_arn(item.arn)
        return parsed.account if parsed and parsed.account else None
    return None


def _ended(snapshot: ServiceSnapshot | None, deployment_id: str) -> tuple[bool, str | None] | None:
    """(completed, reason) once the deployment ended; None while it is in progress."""
    if snapshot is None:
        return False, "the service no longer exists"
    deployment = snapshot.deployment(deployment_id)
    if deployment is None:  # replaced by another deployment, or rolled back and gone
        return False, f"deployment {deployment_id} is no longer the service's (rolled back or replaced)"
    if deployment.rollout_state == "COMPLETED":
        return True, None
    if deployment.rollout_state == "FAILED":
        return False, "rolloutState FAILED (the deployment circuit breaker)"
    return None
