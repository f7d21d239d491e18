"""Backfill: bring a whole fleet into line — every account, region and cluster asked for — in audit
(find, change nothing) or enforce mode (remediate in safe waves).

1. Survey each account and region at once (their throttling quotas are separate): ListClusters and
   ListServices by full pages, the clusters' tags in one DescribeClusters per 100, DescribeServices
   in tens with tags; then every service is decided as an event would decide it (EnforceService, in
   audit scope). A revision is described at most once per run (the ECS gateway single-flights and
   keeps every revision of the run) and not at all when its plan is remembered (domain.verdicts).
2. Enforce mode: the services the survey found to change go out in waves (domain.waves); each wave
   is remediated, then waits for its deployments to end and verifies them (VerifyDeployment, as the
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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue

from ..adapters.ecs import EcsGateway
from ..adapters.survey import EcsSurvey
from ..config import Mode
from ..domain.arns import parse_arn
from ..domain.snapshots import ServiceSnapshot
from ..domain.status import Status
from ..domain.waves import (
    WaveOutcome,
    WavePolicy,
    in_rollout,
    judge_wave,
    not_changed,
    plan_waves,
    stop_reason,
    to_change,
)
from ..errors import AwsError, NotFoundError
from ..models.events import DeploymentOutcome
from ..models.findings import Finding
from .enforce_service import EnforceService
from .scope import Scope
from .verify_deployment import VerifyDeployment, not_ended, with_remediation

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


@dataclass(frozen=True)
class RunResult:
    findings: list[Finding]
    waves: list[WaveOutcome]
    stopped: str | None


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
        ecs_for: Callable[[str, str], EcsGateway],
        survey_for: Callable[[str, str], EcsSurvey],
        scope_for: Callable[[str, str, Mode], Scope],
        enforce_service: EnforceService,
        verify_deployment: VerifyDeployment,
        *,
        workers: int = 8,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_progress: Callable[[Progress], None] = lambda p: None,
    ) -> None:
        self._ecs_for = ecs_for
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
        rows: list[_Row] = []
        with ThreadPoolExecutor(max_workers=max(1, min(len(spec.places), 8))) as places:
            for found in places.map(lambda place: self._survey(spec, *place), spec.places):
                rows.extend(found)
        rows.sort(key=lambda r: (r.account, r.region, r.cluster, r.service))
        rows = [r for r in rows if in_rollout(r.finding.profile, spec.profile)]
        waves: list[WaveOutcome] = []
        stopped = None
        if spec.mode is Mode.ENFORCE:
            waves, stopped = self._enforce_in_waves(spec, rows)
        self.progress.phase = "done"
        self._on_progress(self.progress)
        return RunResult([r.finding for r in rows], waves, stopped)

    # -- survey -------------------------------------------------------------------------------------

    def _survey(self, spec: RunSpec, via: str, region: str) -> list[_Row]:
        scope = self._scope_for(via, region, Mode.AUDIT)
        try:
            ecs, survey = self._ecs_for(via, region), self._survey_for(via, region)
            clusters = list(spec.clusters) or list(survey.clusters())
            by_name = survey.clusters_tags(clusters) if clusters else {}
        except AwsError as exc:  # the member role, or the account's ECS, refused: the place FAILED
            failed = scope.finding(
                Status.FAILED, reasons=[f"{via or 'own account'}/{region} not surveyed: {exc}"]
            )
            self._placed()
            return [_Row(via, region, "", "", failed, via=via)]
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
    def _service_arns(survey: EcsSurvey, scope: Scope, cluster: str) -> list[str | Finding]:
        try:
            return list(survey.services(cluster))
        except AwsError as exc:
            return [_unsurveyed(scope, cluster, exc)]

    @staticmethod
    def _describe(
        ecs: EcsGateway, scope: Scope, cluster: str, arns: list[str | Finding]
    ) -> list[ServiceSnapshot | Finding]:
        failed = [a for a in arns if isinstance(a, Finding)]
        if failed:
            return list(failed)
        try:
            return list(ecs.describe_services(cluster, [str(a) for a in arns]))
        except AwsError as exc:
            return [_unsurveyed(scope, cluster, exc)]

    # -- enforce, in waves --------------------------------------------------------------------------

    def _enforce_in_waves(self, spec: RunSpec, rows: list[_Row]) -> tuple[list[WaveOutcome], str | None]:
        candidates = [r for r in rows if to_change(r.finding.status, r.finding.changes)]
        waves = plan_waves(candidates, lambda r: f"{r.account}/{r.region}/{r.cluster}", spec.waves)
        outcomes: list[WaveOutcome] = []
        for number, wave in enumerate(waves, start=1):
            self.progress.phase = f"wave {number}/{len(waves)}"
            self._on_progress(self.progress)
            for row in wave:
                row.wave = number
            with ThreadPoolExecutor(max_workers=self._workers) as pool:
                list(pool.map(self._remediate, wave))
            self._await(spec, wave)
            outcome = judge_wave(number, [r.finding.status for r in wave], spec.waves)
            outcomes.append(outcome)
            if outcome.tripped:
                rest = [r for w in waves[number:] for r in w]
                reason = stop_reason(outcome, len(waves), len(rest), spec.waves)
                for row in rest:
                    row.finding = row.finding.model_copy(
                        update={"reasons": not_changed(row.finding.reasons, reason)}
                    )
                return outcomes, reason
        return outcomes, None

    def _remediate(self, row: _Row) -> None:
        scope = self._scope_for(row.account, row.region, Mode.ENFORCE)
        try:
            ecs = self._ecs_for(row.via, row.region)
            row.finding = self._enforce.named(ecs, row.cluster, row.service, scope)
        except AwsError as exc:
            row.finding = scope.finding(
                Status.FAILED, cluster=row.cluster, service=row.service, reasons=[str(exc)]
            )

    def _await(self, spec: RunSpec, wave: Sequence[_Row]) -> None:
        """Wait until every deployment of the wave ended (rolloutState COMPLETED or FAILED, or the
        deployment is no longer the service's), then verify each as its event would."""
        waiting = {
            id(r): r for r in wave if r.finding.status is Status.REMEDIATED and r.finding.deployment_id
        }
        deadline = self._clock() + spec.waves.verify_seconds
        while waiting:
            with self.progress.lock:
                self.progress.deployments_waiting = len(waiting)
            self._on_progress(self.progress)
            for row, snapshot in self._snapshots(list(waiting.values())):
                ended = _ended(snapshot, row.finding.deployment_id or "")
                if ended is None:
                    continue
                completed, reason = ended
                del waiting[id(row)]
                self._verified(row, completed, reason, snapshot)
            if not waiting:
                break
            if self._clock() >= deadline:
                for row in waiting.values():
                    row.finding = not_ended(row.finding, spec.waves.verify_seconds)
                break
            self._sleep(spec.poll_seconds)
        with self.progress.lock:
            self.progress.deployments_waiting = 0

    def _snapshots(self, rows: list[_Row]) -> Iterator[tuple[_Row, ServiceSnapshot | None]]:
        """The services' state now, DescribeServices in tens per account, region and cluster."""
        groups: dict[tuple[str, str, str], list[_Row]] = {}
        for row in rows:
            groups.setdefault((row.via, row.region, row.cluster), []).append(row)
        for (via, region, cluster), members in groups.items():
            try:
                ecs = self._ecs_for(via, region)
                snapshots = {s.name: s for s in ecs.describe_services(cluster, [r.service for r in members])}
            except AwsError as exc:
                log.warning("deployments not checked this time: %s", exc)
                continue
            for row in members:
                yield row, snapshots.get(row.service)

    def _verified(
        self, row: _Row, completed: bool, reason: str | None, snapshot: ServiceSnapshot | None
    ) -> None:
        scope = self._scope_for(row.account, row.region, Mode.ENFORCE)
        outcome = DeploymentOutcome(
            row.cluster,
            row.service,
            row.finding.deployment_id or "",
            completed,
            reason,
            snapshot.arn if snapshot else None,
        )
        try:
            verdict = self._verify(self._ecs_for(row.via, row.region), outcome, scope)
        except AwsError as exc:
            verdict = scope.finding(
                Status.FAILED, cluster=row.cluster, service=row.service, reasons=[str(exc)]
            )
        row.finding = with_remediation(verdict, row.finding)


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
