"""Reconciliation: the scheduled backfill run (functions/backfill, ``ReconcileSchedule``) audits the
whole scope so that what a missed event left behind is found within a day. Once its run is done:

- its digest is published only when the findings changed since the last reconciliation's (a
  fingerprint of each service's status, profile and changes, kept in the state table), so a quiet
  fleet sends nothing day after day;
- each service it found to change in the enforce scope (the stack enforces, and the stop switch and
  the rollout policy allow it in the service's account) is queued as an ordinary work item on the
  work queue: the worker decides it as any event, with every safety rule (leases, quarantine,
  FLAPPING, audit tags). There is no enforcement of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..domain.ecs.arns import parse_arn
from ..domain.runs.waves import to_change
from ..ledger import Ledger
from ..models.events import ServiceTarget, Trigger
from ..models.findings import Status
from ..models.work import WorkItem
from .ports import WorkQueue

log = logging.getLogger(__name__)

RECONCILE = "reconcile"  # the trigger of the items it queues, and of the run's id (rc-...)


def fingerprint(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """What the digest says, service by service, as one hash: a status, a profile or a change that
    differs is a different fingerprint; the reasons' wording and the times are not part of it."""
    facts = sorted(
        (key, str(row.get("status")), str(row.get("profile") or ""), sorted(row.get("changes") or []))
        for key, row in rows.items()
    )
    return hashlib.sha256(json.dumps(facts).encode()).hexdigest()


class Reconcile:
    def __init__(
        self, ledger: Ledger, queue: Callable[[], WorkQueue], enforces: Callable[[str], bool]
    ) -> None:
        self._ledger = ledger
        self._queue = queue
        self._enforces = enforces  # whether a change may be made in an account (stack, switches)

    def __call__(self, run_id: str, rows: Mapping[str, Mapping[str, Any]]) -> bool:
        """After a reconciliation run: queue its changes in the enforce scope; whether to publish
        its digest (its findings differ from the last one's)."""
        items = [item for key, row in rows.items() if (item := self._item(run_id, key, row)) is not None]
        if items:
            self._queue().send(items)
            log.info("reconciliation %s: %d service(s) queued to the event path", run_id, len(items))
        new = fingerprint(rows)
        if self._ledger.reconcile_fingerprint() == new:
            log.info("reconciliation %s: the findings are those of the last one: no digest", run_id)
            return False
        self._ledger.reconcile_fingerprint_put(new)
        return True

    def _item(self, run_id: str, key: str, row: Mapping[str, Any]) -> WorkItem | None:
        arn = parse_arn(key)
        if arn is None or arn.resource_type != "service" or row.get("cluster") is None:
            return None
        if not to_change(Status(str(row["status"])), row.get("changes") or []):
            return None
        if not self._enforces(arn.account):
            return None
        target = ServiceTarget(str(row["cluster"]), str(row["service"]))
        trigger = Trigger(run_id, arn.account, arn.region, RECONCILE, (target,), partition=arn.partition)
        return WorkItem(trigger, origin=f"{run_id}#{RECONCILE}")
