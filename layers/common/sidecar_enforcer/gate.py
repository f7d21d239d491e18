"""What the router asks before it queues anything: whether an event asks for nothing (answered,
logged, never queued), and the scheduled tick that publishes statuses SNS refused earlier. Built
apart from the Enforcer (wiring.build_gate), so the router's cold start imports none of the
planning and enforcing modules it never runs."""

from __future__ import annotations

from .config import Settings
from .models.events import Trigger
from .models.findings import Finding, Status
from .usecases.outbox import DrainOutbox
from .usecases.scope import Reporter, Scope
from .usecases.triage import Triage


class Gate:
    def __init__(self, settings: Settings, triage: Triage, drain: DrainOutbox, report: Reporter) -> None:
        self._settings = settings
        self._triage = triage
        self._drain = drain
        self._report = report

    def ignored(self, trigger: Trigger) -> Finding | None:
        """The IGNORED finding of an event that asks for nothing (logged, never published), or None."""
        finding = self._triage(trigger)
        return self._report(finding) if finding is not None else None

    def tick(self, trigger: Trigger) -> Finding:
        """The scheduled tick: publish the statuses kept while SNS refused them."""
        sent = self._drain()
        reason = f"published {sent} status(es) kept while SNS refused them"
        return self._report(
            Scope.of(trigger, self._settings.enforcement_mode).finding(Status.IGNORED, reasons=[reason])
        )
