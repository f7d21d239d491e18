"""The command line's fleet run (``backfill``) wired: the event path's use cases over ECS clients
paced to ECS's buckets and counted (``CallCounter``), its places surveyed in child processes, the
stack's switches applied when the settings name them."""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from .adapters.aws import AccountClients, Clients
from .adapters.identity import Identity
from .adapters.memory import MemoryTable
from .adapters.sns import Unpublished
from .config import Settings
from .errors import AwsError
from .usecases.backfill import DEFAULT_WORKERS
from .usecases.rollout import Rollout
from .usecases.scope import Reporter, Scope
from .wiring import account_clients, build_shared, profile_source

if TYPE_CHECKING:
    from .adapters.ecs import EcsGateway
    from .adapters.iam import TaskRoleChecker
    from .adapters.survey import EcsSurvey
    from .config import Mode
    from .usecases.backfill import Backfill
    from .usecases.ports import PlanMemo
    from .usecases.progress import Progress
    from .usecases.survey_processes import Handover


class CallCounter:
    """AWS requests by ``service:Action`` as they go on the wire (botocore's before-send event, once
    per attempt: a retried call counts each time), for a backfill's report. A survey child's counts
    are handed to the run's (usecases.survey_processes.Handover)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def watch(self, client: Any) -> Any:
        client.meta.events.register("before-send", self._count, unique_id=f"call-counter-{id(self)}")
        return client

    def _count(self, event_name: str = "", **kwargs: Any) -> None:  # returns None: the request goes on
        _, service, action = [*event_name.split("."), "?", "?"][:3]
        with self._lock:
            self.counts[f"{service}:{action}"] += 1

    def forget(self) -> None:
        with self._lock:
            self.counts.clear()

    def take(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def merge(self, taken: dict[str, int]) -> None:
        with self._lock:
            self.counts.update(taken)


@dataclass(frozen=True)
class _FleetClients:
    """A fleet run's ECS gateways and surveys per account and Region (every request paced to ECS's
    buckets and counted), and its IAM task-role checkers per account."""

    ecs_for: Callable[[str, str], EcsGateway]
    survey_for: Callable[[str, str], EcsSurvey]
    task_roles: Callable[[str], TaskRoleChecker]


def _fleet_clients(accounts: AccountClients, counter: CallCounter) -> _FleetClients:
    from .adapters.ecs import EcsGateway
    from .adapters.iam import TaskRoleChecker
    from .adapters.pacing import Pacer
    from .adapters.survey import EcsSurvey

    @cache
    def ecs_client(account: str, region: str) -> Any:
        return Pacer().watch(counter.watch(accounts(account).client("ecs", region)))

    @cache
    def ecs_for(account: str, region: str) -> EcsGateway:
        return EcsGateway(ecs_client(account, region), cache_size=1_000_000)

    @cache
    def survey_for(account: str, region: str) -> EcsSurvey:
        return EcsSurvey(ecs_client(account, region))

    @cache
    def task_roles(account: str) -> TaskRoleChecker:
        return TaskRoleChecker(counter.watch(accounts(account).client("iam")))

    return _FleetClients(ecs_for, survey_for, task_roles)


def build_backfill(
    settings: Settings,
    clients: Clients | None = None,
    *,
    run_id: str,
    memo: PlanMemo | None = None,
    counter: CallCounter | None = None,
    workers: int = DEFAULT_WORKERS,
    on_progress: Callable[[Progress], None] = lambda p: None,
    sleep: Callable[[float], None] | None = None,
    caller: Identity | None = None,
    processes: int = 1,
    handovers: Sequence[Handover] = (),
) -> Backfill:
    """A fleet run (the CLI's ``backfill``): the event path's use cases, with ECS gateways that keep
    every revision of the run, plans remembered in ``memo``, and every request counted.
    ``caller``: who the caller is, when already asked (not asked again): its account names the
    findings of a place of the caller's own (HOME) that could not be surveyed. ``processes``:
    places surveyed in up to so many child processes, each handing back ``handovers``' state (the
    counter's always)."""
    import time

    from .usecases.backfill import Backfill
    from .usecases.enforce_service import EnforceService
    from .usecases.revisions import Revisions
    from .usecases.verify_deployment import VerifyDeployment

    clients = clients or Clients()
    counter = counter or CallCounter()
    shared = build_shared(settings, clients, caller)
    fleet = _fleet_clients(account_clients(settings, clients, shared.identity), counter)
    revisions = Revisions(shared.ledger, fleet.task_roles)
    catalog = profile_source(settings, clients)
    quiet = Reporter(Unpublished(), shared.ledger, shared.drain)  # the run reports once, at its end
    return Backfill(
        fleet.ecs_for,
        fleet.survey_for,
        _backfill_scope(run_id, caller.account if caller else ""),
        EnforceService(settings, catalog, revisions, shared.ledger, quiet, memo),
        VerifyDeployment(settings, shared.ledger),
        run_table=MemoryTable,
        workers=workers,
        on_progress=on_progress,
        sleep=sleep or time.sleep,
        stopped=lambda: shared.rollout.configured and shared.rollout.stopped() is not None,
        switched=_switched(shared.rollout),
        processes=processes,
        handovers=(counter, *handovers),
        before_fork=_known_caller(shared.identity),
    )


def _backfill_scope(run_id: str, home_account: str) -> Callable[[str, str, Mode], Scope]:
    from .domain.ecs.arns import partition_of

    def scope_for(account: str, region: str, mode: Mode) -> Scope:
        # No caller (the run is a person's, not a CloudTrail call) and no STS call for it.
        where = account or home_account
        return Scope(where, region, "backfill", run_id, mode, None, partition_of(region) or "aws")

    return scope_for


def _known_caller(identity: Callable[[], Identity]) -> Callable[[Sequence[tuple[str, str]]], None]:
    """Who the caller is (GetCallerIdentity: its account and partition, which a member account's
    clients need), asked once before the survey's processes fork rather than once in each; a
    refusal is left for each place to meet, as in one process."""

    def known(places: Sequence[tuple[str, str]]) -> None:
        if any(account for account, _ in places):
            with contextlib.suppress(AwsError):
                identity()

    return known


def _switched(rollout: Rollout) -> Callable[[Scope], Scope]:
    """The stack's switches, when the settings name them (STOP_SWITCH_PARAMETER, ROLLOUT_PARAMETER):
    the most restrictive wins, as in the stack's own runs."""

    def switched(scope: Scope) -> Scope:
        return rollout.applied(scope, scope.account) if rollout.configured else scope

    return switched
