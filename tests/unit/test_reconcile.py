"""Reconciliation's end (usecases.reconcile) on the in-memory table: the digest only when the
findings changed, and only the changes in the enforce scope queued to the event path, as ordinary
items (no run tag: the worker decides them as events)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.work import WorkItem
from sidecar_enforcer.usecases.reconcile import RECONCILE, Reconcile, fingerprint

from ._fakes import Clock, CountingTable

A, B = "111111111111", "222222222222"


def key(account: str, service: str) -> str:
    return f"arn:aws:ecs:eu-west-1:{account}:service/shop/{service}"


def row(
    account: str, service: str, status: str, changes: list[str] | None = None, **more: Any
) -> dict[str, Any]:
    return {
        "status": status,
        "account": account,
        "region": "eu-west-1",
        "cluster": "shop",
        "service": service,
        "changes": changes or [],
        **more,
    }


ROWS = {
    key(A, "api"): row(A, "api", "NONCOMPLIANT", ["add container 'jaeger'"]),
    key(B, "web"): row(B, "web", "NONCOMPLIANT", ["add container 'jaeger'"]),
    key(A, "db"): row(A, "db", "COMPLIANT"),
    f"{A}/eu-west-1": {"status": "FAILED", "account": A, "region": "eu-west-1"},  # a place not surveyed
}


class Queue:
    def __init__(self) -> None:
        self.items: list[WorkItem] = []

    def send(self, items: Sequence[WorkItem]) -> int:
        self.items.extend(items)
        return len(items)


def reconcile(enforced: set[str]) -> tuple[Reconcile, Queue]:
    queue = Queue()
    ledger = Ledger(CountingTable(), clock=Clock())
    return Reconcile(ledger, lambda: queue, lambda account: account in enforced), queue


def test_only_the_changes_in_the_enforce_scope_are_queued_as_events() -> None:
    use, queue = reconcile({A})

    use("rc-1", ROWS)

    (item,) = queue.items
    assert item.key == key(A, "api")
    assert item.run is None  # an ordinary item: the worker's safety rules, its statuses
    assert (item.trigger.name, item.trigger.event_id) == (RECONCILE, "rc-1")


def test_the_digest_is_published_only_when_the_findings_changed() -> None:
    use, _ = reconcile(set())

    first = use("rc-1", ROWS)
    same = use("rc-2", {k: {**v, "reasons": ["worded otherwise"]} for k, v in ROWS.items()})
    changed = use("rc-3", {**ROWS, key(A, "api"): row(A, "api", "COMPLIANT")})
    back = use("rc-4", {**ROWS, key(A, "api"): row(A, "api", "COMPLIANT")})

    assert (first, same, changed, back) == (True, False, True, False)


def test_a_fingerprint_sees_a_new_service_a_status_a_profile_or_a_change() -> None:
    base = fingerprint(ROWS)

    assert fingerprint(dict(reversed(list(ROWS.items())))) == base
    assert fingerprint({**ROWS, key(A, "new"): row(A, "new", "COMPLIANT")}) != base
    assert fingerprint({**ROWS, key(A, "db"): row(A, "db", "NOT_OPTED_IN")}) != base
    assert fingerprint({**ROWS, key(A, "db"): row(A, "db", "COMPLIANT", profile="adot")}) != base
    assert fingerprint({**ROWS, key(A, "api"): row(A, "api", "NONCOMPLIANT", ["grow the task"])}) != base
