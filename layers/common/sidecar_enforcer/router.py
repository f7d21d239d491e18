"""What the router asks before it queues anything: whether an event asks for nothing (answered,
logged, never queued), and the scheduled tick that publishes statuses SNS refused earlier and sweeps
the open backfill runs. Built apart from the Enforcer (wiring.build_router), so the router's cold
start imports none of the planning and enforcing modules it never runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .config import Settings
from .ledger import Ledger
from .models.events import Trigger
from .models.findings import Finding, Status
from .usecases.outbox import DrainOutbox
from .usecases.scope import Reporter, Scope
from .usecases.triage import Triage

if TYPE_CHECKING:  # built when a tick finds a run open
    from .usecases.run_waves import RunKeeper

log = logging.getLogger(__name__)


class Router:
    def __init__(
        self,
        settings: Settings,
        triage: Triage,
        drain: DrainOutbox,
        report: Reporter,
        ledger: Ledger,
        runs: Callable[[], RunKeeper],
    ) -> None:
        self._settings = settings
        self._triage = triage
        self._drain = drain
        self._report = report
        self._ledger = ledger
        self._runs = runs

    def ignored(self, trigger: Trigger) -> Finding | None:
        """The IGNORED finding of an event that asks for nothing (logged, never published), or None."""
        finding = self._triage(trigger)
        return self._report(finding) if finding is not None else None

    def tick(self, trigger: Trigger) -> Finding:
        """The scheduled tick: publish the statuses kept while SNS refused them; sweep each open
        backfill run (one Query when none is open)."""
        sent = self._drain()
        open_runs = self._ledger.runs_open()
        for run_id in open_runs:
            try:
                self._runs().sweep(run_id)
            except Exception as exc:  # one broken run: the next tick tries again, the others go on
                log.error("backfill run %s not swept: %s", run_id, exc)
        reason = f"published {sent} status(es) kept while SNS refused them"
        if open_runs:
            reason += f"; swept {len(open_runs)} open backfill run(s)"
        return self._report(
            Scope.of(trigger, self._settings.enforcement_mode).finding(Status.IGNORED, reasons=[reason])
        )
