"""An enforce run's waves in-process (the command line's backfill): the stack's wave engine
(usecases.run_waves.RunKeeper) over a table in memory.

The survey's findings are recorded into the engine as the workers record them in AWS; each wave the
engine queues is taken from a list in memory, remediated here, and its deployments polled
(DescribeServices) and verified as their "ECS Deployment State Change" events would be; a deployment
not ended after verify_seconds is ended by the engine's sweep, as the scheduled tick does. The plan,
the breaker and the ends are the engine's: the same as a run of the stack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import Mode
from ..domain.ecs.snapshots import ServiceSnapshot
from ..domain.runs.run_state import RunState
from ..domain.runs.waves import WavePolicy
from ..domain.status import Status
from ..errors import AwsError
from ..ledger import Ledger, Table
from ..models.events import DeploymentOutcome, ServiceTarget
from ..models.findings import Finding
from ..models.work import RunTag, WorkItem
from .enforce_service import EnforceService
from .ports import Ecs
from .run_waves import RunKeeper
from .runs import concluded
from .scope import Scope
from .verify_deployment import VerifyDeployment

log = logging.getLogger(__name__)


class Surveyed(Protocol):
    """One service through the run (usecases.backfill's row): where it is, and its latest finding
    and wave, which the run updates."""

    account: str  # as ECS's ARNs name it
    region: str
    cluster: str
    via: str  # the account as the run was asked for it (HOME: the caller's own)
    finding: Finding
    wave: int | None


@dataclass(frozen=True)
class Hands:
    """What the run acts with: the backfill's own clients, scopes and use cases; ``told`` hears its
    progress (the phase, the deployments waiting)."""

    ecs_for: Callable[[str, str], Ecs]
    scope_for: Callable[[str, str, Mode], Scope]
    switched: Callable[[Scope], Scope]  # the mode the switches allow a wave's change
    enforce: EnforceService
    verify: VerifyDeployment
    stopped: Callable[[], bool]  # the stop switch: a wave is held while it is on
    told: Callable[[str | None, int | None], None]
    run_table: Callable[[], Table]  # where the engine's ledger keeps the run: a table in memory
    workers: int
    clock: Callable[[], float]
    sleep: Callable[[float], None]


@dataclass(frozen=True)
class LocalSpec:
    run_id: str
    profile: str | None
    policy: WavePolicy
    poll_seconds: float


class LocalRun:
    def __init__(self, hands: Hands, spec: LocalSpec, rows: Sequence[Surveyed]) -> None:
        self._hands = hands
        self._spec = spec
        self._ledger = Ledger(hands.run_table(), clock=hands.clock, sleep=hands.sleep)
        self._queued: list[WorkItem] = []
        self._concluded: tuple[dict[str, dict[str, Any]], list[dict[str, Any]], str | None] | None = None
        self._keeper = RunKeeper(
            self._ledger,
            self._finish,
            lambda: self,
            visibility_seconds=spec.policy.verify_seconds,
            stopped=hands.stopped,
        )
        self._rows = rows
        self._partition = hands.scope_for(rows[0].via, rows[0].region, Mode.AUDIT).partition if rows else ""
        self._keys = [self._key(number, row) for number, row in enumerate(rows)]
        self._via = {(r.account, r.region): r.via for r in rows}

    def send(self, items: Sequence[WorkItem]) -> int:
        """The engine's queue: a wave's items, taken by ``drive``."""
        self._queued.extend(items)
        return len(items)

    def drive(self) -> tuple[list[dict[str, Any]], str | None]:
        """The waves to their end: each wave's outcome as the report lists it, and why the run
        stopped early (None: it did not). Each row's finding and wave are the run's at its end."""
        run_id = self._spec.run_id
        try:
            self._survey(run_id)
            while self._concluded is None:
                if self._queued:
                    items, self._queued = self._queued, []
                    self._wave(items)
                    continue
                run = self._run()
                if run.pending:
                    self._await(run)
                elif run.held:
                    self._held(run_id)
                else:  # neither a wave to send nor a deployment to wait for: it would wait forever
                    raise RuntimeError("the wave engine has nothing to send or wait for")
        # An error, or a person's Ctrl-C, after the first change: the report still says what was
        # changed, and why the run ended.
        except (Exception, KeyboardInterrupt) as exc:
            reason = one_line_error(exc)
            log.error("backfill run %s stopped: %s", run_id, reason)
            self._ledger.run_update(run_id, lambda run: run.aborted(reason))
            self._finish(run_id)
        assert self._concluded is not None
        found, waves, stopped = self._concluded
        for row, key in zip(self._rows, self._keys, strict=True):
            if key in found:
                row.finding = Finding.model_validate(found[key])
                row.wave = found[key].get("wave")
        return waves, stopped

    def _run(self) -> RunState:
        run = self._ledger.run(self._spec.run_id)
        assert run is not None, "the run is opened before its waves"
        return run

    def _key(self, number: int, row: Surveyed) -> str:
        """A service's key in the run, as the engine's wave items name it (models.work.key_of); a row
        without a service (a place or cluster not surveyed) has one of its own."""
        f = row.finding
        if not f.service:
            return f"{row.via or 'own account'}/{row.region}/{row.cluster}#{number}"
        return f"arn:{self._partition}:ecs:{f.region}:{f.account}:service/{f.cluster}/{f.service}"

    def _survey(self, run_id: str) -> None:
        run = RunState(
            run_id=run_id,
            mode="enforce",
            profile=self._spec.profile,
            expected=len(set(self._keys)),
            partition=self._partition,
            policy=self._spec.policy,
        )
        self._ledger.run_open(run_id, run)
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
        run = self._run()
        self._hands.told(f"wave {run.wave}/{len(run.sizes)}", 0)
        acted = [i for i in items if i.run is not None and self._keeper.acts_on(i.run, i.key)]
        with ThreadPoolExecutor(max_workers=self._hands.workers) as pool:
            findings = list(pool.map(self._remediate, acted))
        for item, finding in zip(acted, findings, strict=True):
            assert item.run is not None
            self._keeper.record(item.run, item.key, finding)

    def _remediate(self, item: WorkItem) -> Finding:
        trigger, target = item.trigger, item.target
        assert isinstance(target, ServiceTarget)
        scope = self._hands.switched(self._hands.scope_for(trigger.account, trigger.region, Mode.ENFORCE))
        try:
            ecs = self._ecs(trigger.account, trigger.region)
            return self._hands.enforce.named(ecs, target.cluster, target.service, scope)
        except AwsError as exc:
            return scope.finding(
                Status.FAILED, cluster=target.cluster, service=target.service, reasons=[str(exc)]
            )

    def _ecs(self, account: str, region: str) -> Ecs:
        """The gateway of an account the run found (through the account it was asked for)."""
        return self._hands.ecs_for(self._via.get((account, region), account), region)

    def _await(self, run: RunState) -> None:
        """One look at the wave's deployments in flight: each one ended is verified; those past
        verify_seconds are ended by the engine's sweep; then a pause before the next look."""
        self._hands.told(None, len(run.pending))
        wave = RunTag(run.run_id, "enforce", run.wave)
        for key, snapshot, row in self._snapshots(run.run_id, list(run.pending)):
            ended = _ended(snapshot, run.pending[key].deployment)
            if ended is not None:
                self._keeper.verdict(wave, key, self._verified(row, ended, snapshot))
        if self._concluded is None and not self._queued:
            self._keeper.sweep(run.run_id)
        if self._concluded is None and not self._queued:
            self._hands.sleep(self._spec.poll_seconds)

    def _held(self, run_id: str) -> None:
        """A wave the stop switch holds: a look at the switch each poll; the engine's sweep queues
        the wave again once it is off."""
        self._hands.told("held: the stop switch is on", None)
        self._keeper.sweep(run_id)
        if self._concluded is None and not self._queued:
            self._hands.sleep(self._spec.poll_seconds)

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
                names = [str(r.service) for _, r in members]
                found = {s.name: s for s in self._ecs(account, region).describe_services(cluster, names)}
            except AwsError as exc:
                log.warning("deployments not checked this time: %s", exc)
                continue
            for key, row in members:
                yield key, found.get(str(row.service)), row

    def _verified(
        self, row: Finding, ended: tuple[bool, str | None], snapshot: ServiceSnapshot | None
    ) -> Finding:
        account, region = row.account or "", row.region or ""
        scope = self._hands.scope_for(account, region, Mode.ENFORCE)
        outcome = DeploymentOutcome(
            row.cluster or "",
            row.service or "",
            row.deployment_id or "",
            ended[0],
            ended[1],
            snapshot.arn if snapshot else None,
        )
        try:
            return self._hands.verify(self._ecs(account, region), outcome, scope)
        except AwsError as exc:
            return scope.finding(Status.FAILED, cluster=row.cluster, service=row.service, reasons=[str(exc)])

    def _finish(self, run_id: str) -> None:
        """The engine's end of the run: its rows and waves as the report shows them."""
        run = self._run()
        rows, waves = concluded(self._ledger, run)
        self._concluded = (rows, waves, run.stopped)
        self._ledger.run_update(run_id, RunState.finished)


def one_line_error(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, AwsError) else f"{type(exc).__name__}: {text}"


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
