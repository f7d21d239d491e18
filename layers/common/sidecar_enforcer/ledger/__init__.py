"""Coordination through the state table: leases, the source -> compliant revision record, the
service records and the status outbox; a backfill run's records are ``ledger.runs``'s, the table and
its client's plumbing ``ledger.table``'s. The rules for what a record means live in
``domain.safety.records``; this module reads and writes them, retrying when another invocation wrote first.

A conditional write whose answer is lost (a timeout, a 500 after DynamoDB stored it) is read back:
the version it wrote holding the document it wrote is a write that went through (``_put``). A
service's lease that cannot be given back is left to run out (LEASE_SECONDS), as a killed
invocation's is: the work it guarded is done and recorded.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..domain.safety.records import Lease, ServiceRecord, SourceRecord, Versioned
from ..errors import AwsError, RejectedError
from .runs import RunRecords
from .table import WAIT_SECONDS, Table

__all__ = ["LEASE_SECONDS", "OUTBOX", "WAIT_SECONDS", "BusyError", "Ledger", "Table"]

log = logging.getLogger(__name__)
R = TypeVar("R", ServiceRecord, SourceRecord)

# A lease outlives the function's timeout (120 s in template.yaml): an invocation killed while
# holding one blocks the others for at most this long, then its lease is taken over.
LEASE_SECONDS = 150
OUTBOX = "outbox"
OUTBOX_TTL_SECONDS = 14 * 24 * 3600
RECONCILE = "reconcile"  # the last reconciliation's fingerprint
OUTBOX_ATTEMPTS = 3  # publishes of a status SNS refuses for good before it is dead-lettered


class BusyError(AwsError):
    """Another invocation holds the lease for too long: the event is retried later."""


class Ledger(RunRecords):
    """The state table's records: a service's, a source revision's compliant one, the outbox's,
    the last reconciliation's; a run's (``RunRecords``)."""

    # -- services ---------------------------------------------------------------------------------

    def service(self, service_arn: str) -> ServiceRecord:
        found = self._table.get(*_service_key(service_arn))
        return ServiceRecord.from_doc(found.doc) if found else ServiceRecord()

    def update_service(
        self, service_arn: str, change: Callable[[ServiceRecord], ServiceRecord]
    ) -> ServiceRecord:
        """Apply ``change`` to the latest record, again if another writer got there first."""
        key = _service_key(service_arn)
        while True:
            found = self._table.get(*key)
            record = ServiceRecord.from_doc(found.doc) if found else ServiceRecord()
            new = change(record)
            if self._put(key, new.to_doc(), found.version if found else None):
                return new
            self._pause()

    @contextmanager
    def service_lease(self, service_arn: str) -> Iterator[ServiceRecord]:
        """Hold the service's lease: one invocation at a time decides and acts for a service.
        Yields the service's record as it was when the lease was taken."""
        owner = uuid.uuid4().hex
        taken, _ = self._lease(
            _service_key(service_arn),
            ServiceRecord.from_doc,
            owner,
            lambda r: (
                f"another invocation is enforcing {service_arn} (lease until "
                f"{r.lease.until if r.lease else 0:.0f}); the event is retried"
            ),
        )
        try:
            yield taken
        finally:
            try:
                self.update_service(
                    service_arn, lambda r: r.with_lease(None) if r.lease and r.lease.owner == owner else r
                )
            except AwsError as exc:  # it runs out by itself: the next invocation waits at most that long
                log.warning(
                    "the lease on %s was not given back (%s); it runs out in %d s",
                    service_arn,
                    exc,
                    LEASE_SECONDS,
                )

    # -- source revision -> compliant revision ------------------------------------------------------

    def compliant_revision(
        self,
        source_arn: str,
        profile_label: str,
        *,
        find: Callable[[], str | None],
        register: Callable[[], str],
        usable: Callable[[str], bool] = lambda arn: True,
    ) -> tuple[str, bool]:
        """The one compliant revision for (source, profile version), and whether it existed.

        Recorded and still ``usable`` (read live: a revision can be deregistered after it was
        recorded): reused. Not recorded, or recorded but no longer usable: this invocation takes the
        lease, looks for a revision the enforcer registered earlier (an invocation that crashed
        before recording it: its marker tags say so), else registers one, and records it. Another
        invocation's lease: wait for its answer."""
        key = (f"source#{source_arn}", profile_label)
        owner = uuid.uuid4().hex

        def busy(r: SourceRecord) -> str:
            return (
                f"another invocation is registering the compliant revision of {source_arn}; "
                "the event is retried"
            )

        record, claimed = self._lease(
            key, SourceRecord.from_doc, owner, busy, ready=lambda r: r.compliant_arn is not None
        )
        if record.compliant_arn:
            stale = record.compliant_arn
            if usable(stale):
                return stale, True
            log.warning("the compliant revision recorded for %s cannot be deployed: replacing it", source_arn)
            record, claimed = self._lease(
                key, SourceRecord.from_doc, owner, busy, ready=lambda r: r.compliant_arn not in (None, stale)
            )
            replaced = record.compliant_arn
            if replaced is not None and replaced != stale:
                return replaced, True  # another invocation replaced it meanwhile
        try:
            arn = find()
            reused = arn is not None
            if arn is None:
                arn = register()
        except BaseException:
            self._put(key, SourceRecord().to_doc(), claimed)  # let the next one try at once
            raise
        if not self._put(key, SourceRecord(compliant_arn=arn).to_doc(), claimed):
            log.warning("the lease on %s expired while registering; recorded by another", source_arn)
        return arn, reused

    def _lease(
        self,
        key: tuple[str, str],
        load: Callable[[dict[str, Any]], R],
        owner: str,
        busy: Callable[[R], str],
        ready: Callable[[R], bool] = lambda r: False,
    ) -> tuple[R, int]:
        """Take the lease on a record: (the record with it, the version written). Waits while
        another owner's lease runs, up to the wait; then BusyError. A record already ``ready``
        is returned as read, without a lease."""
        deadline = self._clock() + self._wait
        while True:
            found = self._table.get(*key)
            record = load(found.doc if found else {})
            version = found.version if found else 0
            if ready(record):
                return record, version
            now = self._clock()
            if record.lease is None or not record.lease.held_by_other(owner, now):
                taken = record.with_lease(Lease(owner, now + LEASE_SECONDS))
                if self._put(key, taken.to_doc(), version if found else None):
                    return taken, version + 1
            elif now > deadline:
                raise BusyError(busy(record))
            self._pause()

    def _put(self, key: tuple[str, str], doc: dict[str, Any], expected: int | None) -> bool:
        """A conditional write; when it fails with no answer (AwsError), the document is read back:
        stored as the version it was to write, with its content, it went through."""
        try:
            return self._table.put(*key, doc, expected)
        except AwsError as failed:
            try:
                found = self._table.get(*key)
            except AwsError:
                raise failed from None
            if (
                found is None
                or found.version != (expected or 0) + 1
                or _canonical(found.doc) != _canonical(doc)
            ):
                raise
            log.warning("a write to %s went through though its answer was lost (%s)", key[0], failed)
            return True

    # -- status outbox ------------------------------------------------------------------------------

    def outbox_add(self, message: dict[str, Any], *, refused: bool = False) -> None:
        """Keep a status SNS did not take, to publish again later (``outbox_drain``); ``refused``:
        SNS refused it for good (RejectedError), which counts as its first attempt."""
        now = self._clock()
        sk = f"{now:017.6f}#{uuid.uuid4().hex}"
        doc = {"message": message, "attempts": 1 if refused else 0}
        self._table.put(OUTBOX, sk, doc, None, expires=now + OUTBOX_TTL_SECONDS)

    def outbox_drain(
        self,
        publish: Callable[[dict[str, Any]], object],
        limit: int = 25,
        *,
        dead_letter: Callable[[dict[str, Any], str], object] | None = None,
    ) -> int:
        """Publish kept statuses, oldest first; each is deleted only after it was published.

        A status SNS refuses for good (RejectedError) never blocks the ones behind it: its
        attempts are counted and the drain goes on; after OUTBOX_ATTEMPTS it goes to
        ``dead_letter`` intact (without one it stays until the outbox's TTL). Any other failure
        (throttling, an outage, access denied) stops the drain: SNS is still down, try later.
        Returns how many were published."""
        sent = 0
        for sk, kept in self._table.query(OUTBOX, limit):
            now = self._clock()
            lease = kept.doc.get("lease")
            if lease and Lease(**lease).held_by_other("", now):
                continue  # another invocation is publishing it
            claim = {**kept.doc, "lease": {"owner": uuid.uuid4().hex, "until": now + 60}}
            if not self._table.put(OUTBOX, sk, claim, kept.version, expires=now + OUTBOX_TTL_SECONDS):
                continue
            message, attempts = kept.doc["message"], int(kept.doc.get("attempts", 0))
            try:
                publish(message)
            except RejectedError as exc:
                attempts += 1
                if dead_letter is None or attempts < OUTBOX_ATTEMPTS:
                    self._put_back(sk, kept, attempts, now)
                    continue
                try:
                    dead_letter(message, str(exc))
                except AwsError as failed:
                    log.error("a status SNS refused %d times was not dead-lettered: %s", attempts, failed)
                    self._put_back(sk, kept, attempts, now)
                    if isinstance(failed, RejectedError):
                        continue
                    return sent
                log.error("a status SNS refused %d times went to the dead-letter queue: %s", attempts, exc)
                self._table.delete(OUTBOX, sk, kept.version + 1)
                continue
            except AwsError:
                self._put_back(sk, kept, attempts, now)
                return sent
            self._table.delete(OUTBOX, sk, kept.version + 1)
            sent += 1
        return sent

    def _put_back(self, sk: str, kept: Versioned, attempts: int, now: float) -> None:
        """Release the claim on a kept status (written as version ``kept.version + 1``)."""
        doc = {"message": kept.doc["message"], "attempts": attempts}
        self._table.put(OUTBOX, sk, doc, kept.version + 1, expires=now + OUTBOX_TTL_SECONDS)

    def outbox(self) -> list[Versioned]:
        return [kept for _, kept in self._table.query(OUTBOX, 100)]

    # The last reconciliation's fingerprint (usecases.reconcile): its digest is published only when
    # the next one's differs.

    def reconcile_fingerprint(self) -> str | None:
        found = self._table.get(RECONCILE, RECONCILE)
        return str(found.doc["fingerprint"]) if found else None

    def reconcile_fingerprint_put(self, fingerprint: str) -> None:
        while True:
            found = self._table.get(RECONCILE, RECONCILE)
            doc = {"fingerprint": fingerprint, "at": self._clock()}
            if self._table.put(RECONCILE, RECONCILE, doc, found.version if found else None):
                return
            self._pause()


def _service_key(service_arn: str) -> tuple[str, str]:
    return f"service#{service_arn}", "state"


def _canonical(doc: dict[str, Any]) -> str:
    """A document as the state table stores it (JSON: a tuple and a list are one)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
