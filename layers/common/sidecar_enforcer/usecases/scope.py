"""What the use cases share: the scope a finding is made in, and the reporter that logs and
publishes every finding (keeping a status SNS refuses in the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..config import Mode
from ..domain.status import ROUTINE
from ..errors import AwsError, RejectedError
from ..ledger import Ledger
from ..models.events import Trigger
from ..models.findings import Finding, Status
from ..models.work import RunTag
from .ports import Publisher

log = logging.getLogger("sidecar_enforcer.enforcer")


@dataclass(frozen=True)
class Scope:
    """What every finding of one trigger shares."""

    account: str
    region: str
    trigger: str
    event_id: str | None
    mode: Mode
    caller: str | None = None  # who made the call behind the event (CloudTrail), when known
    partition: str = "aws"  # of the event (or of the enforcer's identity, for a manual run)
    # Warnings every finding made in this scope carries (a custom document replaced the shipped
    # profile the service asks for).
    warnings: tuple[str, ...] = ()
    run: RunTag | None = None  # a backfill run's item: a deployment it starts is the run's
    audit_tag: bool = False  # the service's tag asks for audit: its findings say so (auditOnly)
    # Why the operators' switches made this scope audit (the stop switch, the rollout policy): said
    # in the reasons of each status that audit gives where enforce would have changed something.
    audit_because: str | None = None

    @classmethod
    def of(cls, trigger: Trigger, mode: Mode, run: RunTag | None = None) -> Scope:
        return cls(
            trigger.account,
            trigger.region,
            trigger.name,
            trigger.event_id,
            mode,
            trigger.caller_arn,
            trigger.partition,
            run=run,
        )

    @property
    def audit(self) -> bool:
        return self.mode is Mode.AUDIT

    def warned(self, warning: str) -> Scope:
        return replace(self, warnings=(*self.warnings, warning))

    def finding(self, status: Status, **fields: Any) -> Finding:
        if self.audit_because and status in (Status.NONCOMPLIANT, Status.DRIFTED):
            fields["reasons"] = [*fields.get("reasons", []), self.audit_because]
        if self.warnings:
            fields["warnings"] = [*self.warnings, *fields.get("warnings", [])]
        if self.audit_tag:
            fields.setdefault("audit_only", True)
        return Finding(
            status=status,
            account=self.account,
            region=self.region,
            trigger=self.trigger,
            event_id=self.event_id,
            mode=self.mode.value,
            **fields,
        )


class Reporter:
    """Logs every finding; publishes changes and problems (routine outcomes too when asked; IGNORED
    never). A status SNS refuses (after botocore's
    retries) never undoes or blocks a remediation: it is kept in the outbox and published later (by
    the scheduled tick, or by this container once SNS takes statuses again)."""

    def __init__(
        self, publisher: Publisher, ledger: Ledger, drain: Callable[[], int], *, publish_routine: bool = False
    ) -> None:
        self._publisher = publisher
        self._quiet = frozenset({Status.IGNORED}) | (frozenset() if publish_routine else ROUTINE)
        self._ledger = ledger
        self._drain = drain
        self._kept = False  # this container put a status in the outbox: drain after a publish works

    def log(self, finding: Finding) -> Finding:
        """Log only (a backfill run's statuses: the run publishes one digest)."""
        level = logging.ERROR if finding.status is Status.FAILED else logging.INFO
        log.log(level, "%s", finding.status.value, extra={"finding": finding.to_message()})
        return finding

    def __call__(self, finding: Finding) -> Finding:
        message = finding.to_message()
        level = logging.ERROR if finding.status is Status.FAILED else logging.INFO
        log.log(level, "%s", finding.status.value, extra={"finding": message})
        if finding.status in self._quiet:
            return finding
        try:
            self._publisher.publish(finding)
        except AwsError as exc:
            log.error("status not published: %s", exc, extra={"finding": message})
            self._keep(message, refused=isinstance(exc, RejectedError))
            return finding
        if self._kept:
            self._kept = False
            try:
                self._drain()
            except AwsError as exc:
                log.error("kept statuses not published: %s", exc)
        return finding

    def _keep(self, message: dict[str, Any], *, refused: bool) -> None:
        try:
            self._ledger.outbox_add(message, refused=refused)
            self._kept = True
        except AwsError as exc:
            log.error("status not kept for a later publish: %s", exc, extra={"finding": message})
