"""Backfill: bring a whole fleet into line — every account, region and cluster asked for — in audit
(find, change nothing) or enforce mode (remediate in safe waves).

1. Survey each account and region at once (their throttling quotas are separate): ListClusters and
   ListServices by full pages, the clusters' tags in one DescribeClusters per 100, DescribeServices
   in tens with tags; then every service is decided as an event would decide it (EnforceService, in
   audit scope). A revision is described at most once per run (the ECS gateway single-flights and
   keeps every revision of the run) and not at all when its plan is remembered (domain.planning.plan_memo).
2. Enforce mode: the services the survey found to change go out in waves, by the stack's own wave
   engine (usecases.run_waves over a table in memory; the rules are domain.runs.waves'): each wave is
   remediated, then waits for its deployments to end and verifies them (VerifyDeployment, as the
   "ECS Deployment State Change" event would); more than the policy's share of failures in a wave
   stops the run, and the services not reached keep their audit status, saying why.

Concurrency is bounded per account and region: ``workers`` threads for the service reads and twice
as many deciding services (their task-definition reads), each account and region surveyed at once.
The clients pace every request to ECS's documented token buckets (adapters.pacing), so the run
drains each bucket at its rate and is not throttled when it is alone in its account.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

from ..config import Mode
from ..domain.ecs.arns import parse_arn
from ..domain.ecs.snapshots import ServiceSnapshot
from ..domain.runs.waves import WavePolicy, in_rollout
from ..domain.status import Status
from ..errors import AwsError, NotFoundError
from ..ledger import Table
from ..models.findings import Finding
from . import survey_processes
from .enforce_service import EnforceService
from .local_run import Hands, LocalRun, LocalSpec, one_line_error
from .ports import Ecs, Survey
from .progress import Progress
from .scope import Scope
from .survey_processes import Handover
from .verify_deployment import VerifyDeployment

DESCRIBE_SERVICES_MAX = 10
# Service reads in flight per account and Region (twice as many deciding services, their
# task-definition reads). Four keep a bucket's burst and refill busy at 30 ms a request; more only
# add threads that wake for the same tokens. Measured on 2 cores (`make bench`'s fleets, alternated):
# 3,000 services' first run took 2.5-2.6 s of CPU with 4 against 2.9-3.4 s with 8, and 10,000
# services' 7.2 s against 7.9 s, each in the same wall time (16.3 s, floor 15.1 s; 62 s, floor
# 60.1 s); sharing the buckets with another client, 3,000 services ended at 1.02-1.06x their floor
# against 1.31x (fewer requests in flight when the bucket runs dry).
DEFAULT_WORKERS = 4
_Item = ServiceSnapshot | Finding  # a described service, or the finding of one not described


@dataclass(frozen=True)
class RunSpec:
    mode: Mode
    places: tuple[tuple[str, str], ...]  # (account, region); account "" (HOME): the caller's own
    clusters: tuple[str, ...] = ()  # names or ARNs; empty: every cluster
    profile: str | None = None  # only the services that ask for this profile
    waves: WavePolicy = field(default_factory=WavePolicy)
    poll_seconds: float = 15.0
    run_id: str = "backfill"


@dataclass(frozen=True)
class RunResult:
    findings: list[Finding]
    waves: list[dict[str, Any]]  # each wave's outcome, as the report lists it (with its failed members)
    stopped: str | None
    wave_of: tuple[int | None, ...] = ()  # the wave each finding went out in (None: in none)
    messages: tuple[dict[str, Any], ...] = ()  # each finding's status message (_Row.message)

    def rows(self) -> list[dict[str, Any]]:
        """The findings as a report lists them: each status message, with its wave."""
        waves = self.wave_of or (None,) * len(self.findings)
        return [{**m, **({"wave": w} if w else {})} for m, w in zip(self.messages, waves, strict=True)]


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
    said: tuple[Finding, dict[str, Any]] | None = field(default=None, repr=False)  # (finding, message)

    def message(self) -> dict[str, Any]:
        """The finding's status message, made once for each finding the row holds: made as the
        service is decided, a survey child's messages are made in the child, side by side with the
        other children, not by the parent after them all."""
        if self.said is None or self.said[0] is not self.finding:
            self.said = (self.finding, self.finding.to_message())
        return self.said[1]


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
        workers: int = DEFAULT_WORKERS,
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
        self._deciders = 2 * workers  # the survey's threads deciding services, and a wave's remediating
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
        return RunResult(
            [r.finding for r in rows],
            waves,
            stopped,
            tuple(r.wave for r in rows),
            tuple(r.message() for r in rows),
        )

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
        """A place's rows: its clusters read, then their services listed, described and decided."""
        scope = self._scope_for(via, region, Mode.AUDIT)
        try:
            ecs, survey = self._ecs_for(via, region), self._survey_for(via, region)
            clusters = list(spec.clusters) or list(survey.clusters())
            by_name = survey.clusters_tags(clusters) if clusters else {}
        except AwsError as exc:  # the member role, or the account's ECS, refused: the place FAILED
            self._placed()
            return [self._place_failed(via, region, str(exc))]
        scoped = self._learned_scope(via, region, scope)

        def decide(cluster: str, item: _Item) -> _Row:
            name = cluster.rsplit("/", 1)[-1]
            account, in_scope = scoped(item)
            if isinstance(item, Finding):
                finding = item
            else:
                finding = self._enforce(ecs, item, in_scope, cluster_tags=by_name.get(name, {}))
            self.progress.decided(finding.status)
            row = _Row(account, region, name, finding.service or "", finding, via=via)
            row.message()
            return row

        rows = self._pipelined(ecs, survey, scope, clusters, scoped, decide)
        self._placed()
        return rows

    def _learned_scope(self, via: str, region: str, scope: Scope) -> Callable[[_Item], tuple[str, Scope]]:
        """The account and scope of a place's findings: the first item's account, from ECS's ARNs (the
        caller's own account, with no STS call), else the account the place is surveyed through."""
        learned: list[tuple[str, Scope]] = []

        def scoped(item: _Item) -> tuple[str, Scope]:
            if not learned:
                account = _account_of(item) or via
                if account == via:
                    return via, scope
                learned.append((account, self._scope_for(account, region, Mode.AUDIT)))
            return learned[0]

        return scoped

    def _pipelined(
        self,
        ecs: Ecs,
        survey: Survey,
        scope: Scope,
        clusters: list[str],
        scoped: Callable[[_Item], tuple[str, Scope]],
        decide: Callable[[str, _Item], _Row],
    ) -> list[_Row]:
        """The clusters' services listed, described and decided, a pool per ECS bucket: a cluster's
        DescribeServices go out once its services are listed, each answer's services decided once it
        comes (task-definition reads): the two buckets drain side by side, each page in one task."""
        answers: SimpleQueue[int | tuple[str, list[_Item]] | BaseException] = SimpleQueue()

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

        def decide_all(cluster: str, items: list[_Item]) -> list[_Row]:
            return [decide(cluster, item) for item in items]

        rows: list[_Row] = []
        with (
            ThreadPoolExecutor(max_workers=self._workers) as reads,
            ThreadPoolExecutor(max_workers=self._deciders) as decides,
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
        over a table in memory, driven here in-process (usecases.local_run)."""
        hands = Hands(
            self._ecs_for,
            self._scope_for,
            self._switched,
            self._enforce,
            self._verify,
            self._stopped,
            self._told,
            self._run_table,
            workers=self._deciders,
            clock=self._clock,
            sleep=self._sleep,
        )
        local = LocalSpec(spec.run_id, spec.profile, spec.waves, spec.poll_seconds)
        return LocalRun(hands, local, rows).drive()

    def _told(self, phase: str | None, waiting: int | None) -> None:
        """The waves' progress: the phase they are in, the deployments they wait for."""
        with self.progress.lock:
            if waiting is not None:
                self.progress.deployments_waiting = waiting
            if phase is not None:
                self.progress.phase = phase
        self._on_progress(self.progress)


def _unsurveyed(scope: Scope, cluster: str, exc: AwsError) -> Finding:
    name = cluster.rsplit("/", 1)[-1]
    status = Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED
    return scope.finding(status, cluster=name, reasons=[f"cluster {name} not surveyed: {exc}"])


def _account_of(item: _Item) -> str | None:
    if isinstance(item, ServiceSnapshot):
        parsed = parse_arn(item.arn)
        return parsed.account if parsed and parsed.account else None
    return None
