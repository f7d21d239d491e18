"""The rules of the state table's records (domain.safety.records) on plain records, and the Ledger's
leases, source records and outbox on moto's DynamoDB with a controlled clock."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from sidecar_enforcer.adapters.dynamodb import StateTable, create_table
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.errors import AccessDeniedError, AwsError, RejectedError
from sidecar_enforcer.ledger import LEASE_SECONDS, BusyError, Ledger

ARN = "arn:aws:ecs:us-east-1:123456789012:service/shop/api"
SOURCE = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:1"
OURS = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2"
POLICY = records.RevertPolicy(max_reverts=2, window_seconds=600)


def deployed(at: float = 0.0) -> records.ServiceRecord:
    return records.ServiceRecord(
        deployment=records.Deployment(OURS, "ecs-svc/1", at, "jaeger", "jaeger"),
    )


def redeployed(record: records.ServiceRecord, at: float) -> records.ServiceRecord:
    """The enforcer deployed its revision again (after a revert): a new deployment."""
    return dataclasses.replace(
        record, deployment=records.Deployment(OURS, f"ecs-svc/{at}", at, "jaeger", "jaeger")
    )


class TestReverts:
    def test_a_service_that_left_our_revision_is_reverted(self) -> None:
        assert records.reverted(deployed(), SOURCE, (SOURCE,))
        assert not records.reverted(deployed(), OURS, (OURS,))
        assert not records.reverted(deployed(), SOURCE, (OURS,))  # rolling our revision out
        assert not records.reverted(records.ServiceRecord(), SOURCE, ())  # we never deployed it

    def test_more_than_max_reverts_in_the_window_is_flapping_naming_the_callers(self) -> None:
        record = deployed()
        callers = ["arn:tf", "arn:tf", None]
        outcomes = []
        for i, caller in enumerate(callers):
            outcome = records.record_revert(
                record, now=100.0 + i, caller=caller, task_definition=SOURCE, policy=POLICY
            )
            record = redeployed(outcome.record, 100.5 + i)
            outcomes.append(outcome.flapping)

        assert outcomes == [False, False, True]
        assert record.quarantine is not None
        assert record.quarantine.status == "FLAPPING"
        assert outcome.callers == ["arn:tf", records.UNKNOWN_CALLER]
        assert "3 times within 600 s" in outcome.reasons[0]
        assert "arn:tf (2x)" in outcome.reasons[0]

    def test_reverts_older_than_the_window_are_forgotten(self) -> None:
        record = deployed()
        for at in (0.0, 1.0):
            record = records.record_revert(
                record, now=at, caller="x", task_definition=SOURCE, policy=POLICY
            ).record
            record = redeployed(record, at + 0.5)

        outcome = records.record_revert(record, now=700.0, caller="x", task_definition=SOURCE, policy=POLICY)

        assert not outcome.flapping
        assert [r.at for r in outcome.record.reverts] == [700.0]

    def test_a_revert_seen_again_counts_once(self) -> None:
        # The same revert seen by each retry of an event whose UpdateService failed, and by
        # another event about the same revision change
        record = deployed()
        for i in range(4):
            outcome = records.record_revert(
                record, now=100.0 + i, caller="arn:tf", task_definition=SOURCE, policy=POLICY
            )
            record = outcome.record

        assert not outcome.flapping
        assert [(r.at, r.left) for r in record.reverts] == [(100.0, "ecs-svc/1")]

    def test_leaving_another_deployment_or_for_another_revision_is_another_revert(self) -> None:
        record = deployed()
        record = records.record_revert(
            record, now=1.0, caller="x", task_definition=SOURCE, policy=POLICY
        ).record
        # the enforcer deployed again (a new deployment), and the service left it again
        record = records.record_revert(
            redeployed(record, 2.0), now=3.0, caller="x", task_definition=SOURCE, policy=POLICY
        ).record
        # the same deployment left for yet another revision
        other = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3"
        outcome = records.record_revert(record, now=4.0, caller="x", task_definition=other, policy=POLICY)

        assert [(r.left, r.task_definition) for r in outcome.record.reverts] == [
            ("ecs-svc/1", SOURCE),
            ("ecs-svc/2.0", SOURCE),
            ("ecs-svc/2.0", other),
        ]
        assert outcome.flapping

    def test_a_deployment_without_an_id_is_named_by_its_revision_and_start(self) -> None:
        record = records.ServiceRecord(deployment=records.Deployment(OURS, None, 7.0, "j", "j"))
        for at in (10.0, 11.0):
            record = records.record_revert(
                record, now=at, caller="x", task_definition=SOURCE, policy=POLICY
            ).record

        assert [r.left for r in record.reverts] == [f"{OURS}@7.0"]

    def test_reverts_stored_before_they_named_the_deployment_they_left_are_read(self) -> None:
        old = {"reverts": [{"at": 1.0, "caller": "x", "task_definition": SOURCE}]}

        record = records.ServiceRecord.from_doc(old)

        assert record.reverts == (records.Revert(1.0, "x", SOURCE),)
        assert record.reverts[0].left is None

    def test_only_an_active_revision_can_be_deployed(self) -> None:
        assert records.deployable("ACTIVE")
        assert not records.deployable("INACTIVE")  # deregistered
        assert not records.deployable("DELETE_IN_PROGRESS")
        assert not records.deployable(None)  # gone

    def test_release_clears_the_quarantine_the_count_and_the_deployment(self) -> None:
        record = records.quarantine(deployed(), "FLAPPING", "why", now=5.0)
        record = dataclasses.replace(record, reverts=(records.Revert(1.0, "x", SOURCE),))

        released = records.released(record)

        assert released == records.ServiceRecord()

    def test_each_quarantine_has_its_own_token(self) -> None:
        a = records.quarantine(deployed(), "FLAPPING", "why", now=5.0).quarantine
        b = records.quarantine(deployed(), "FLAPPING", "why", now=6.0).quarantine
        assert a is not None
        assert b is not None
        assert a.token != b.token

    def test_records_survive_their_documents(self) -> None:
        record = records.quarantine(deployed(3.5), "DEPLOYMENT_FAILED", "why", now=9.0)
        record = dataclasses.replace(
            record, reverts=(records.Revert(1.0, "x", SOURCE),), lease=records.Lease("me", 10.0)
        )
        assert records.ServiceRecord.from_doc(record.to_doc()) == record
        source = records.SourceRecord(OURS, records.Lease("me", 1.0))
        assert records.SourceRecord.from_doc(source.to_doc()) == source

    def test_a_deployment_names_the_run_and_wave_that_started_it_and_older_ones_none(self) -> None:
        ours = records.Deployment(OURS, "ecs-svc/1", 1.0, "jaeger", "jaeger", run="bf-1", wave=2)
        old = {"deployment": {k: v for k, v in ours.__dict__.items() if k not in ("run", "wave")}}

        assert (
            records.ServiceRecord.from_doc(records.ServiceRecord(deployment=ours).to_doc()).deployment == ours
        )
        loaded = records.ServiceRecord.from_doc(old).deployment
        assert loaded is not None
        assert (loaded.run, loaded.wave) == (None, None)


class TestSidecarProblems:
    def test_every_task_must_run_the_sidecar(self) -> None:
        tasks = [
            ("arn:task/shop/a", {"app": "RUNNING", "jaeger": "RUNNING"}, None),
            ("arn:task/shop/b", {"app": "RUNNING", "jaeger": "STOPPED"}, "Essential container exited"),
            ("arn:task/shop/c", {"app": "RUNNING"}, None),
        ]

        assert records.sidecar_problems(tasks, "jaeger") == [
            "the jaeger container is STOPPED in task b (Essential container exited)",
            "task c has no jaeger container",
        ]
        assert records.sidecar_problems(tasks[:1], "jaeger") == []


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def table() -> Iterator[StateTable]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "state")
        yield StateTable(client, "state")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(table: StateTable, clock: Clock) -> Ledger:
    return Ledger(table, clock=clock, sleep=clock.sleep, wait_seconds=5)


class TestLedger:
    def test_a_put_with_a_stale_version_loses(self, table: StateTable) -> None:
        assert table.put("p", "s", {"a": 1}, None)
        assert not table.put("p", "s", {"a": 2}, None)  # exists already
        assert table.put("p", "s", {"a": 2}, 1)
        assert not table.put("p", "s", {"a": 3}, 1)  # someone else wrote version 2
        found = table.get("p", "s")
        assert found is not None
        assert (found.version, found.doc) == (2, {"a": 2})

    def test_the_source_record_registers_once_then_reuses(self, ledger: Ledger) -> None:
        registered: list[str] = []

        def register() -> str:
            registered.append(OURS)
            return OURS

        first = ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: None, register=register)
        second = ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: None, register=register)
        other = ledger.compliant_revision(SOURCE, "jaeger@2", find=lambda: None, register=lambda: "v2")

        assert (first, second, other) == ((OURS, False), (OURS, True), ("v2", False))
        assert registered == [OURS]

    def test_a_recorded_revision_that_cannot_be_deployed_is_replaced_once(self, ledger: Ledger) -> None:
        ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: None, register=lambda: OURS)
        fresh = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3"
        registered: list[str] = []
        checked: list[str] = []

        def usable(arn: str) -> bool:
            checked.append(arn)
            return arn != OURS  # OURS was deregistered

        def register() -> str:
            registered.append(fresh)
            return fresh

        first = ledger.compliant_revision(
            SOURCE, "jaeger@1", find=lambda: None, register=register, usable=usable
        )
        second = ledger.compliant_revision(
            SOURCE, "jaeger@1", find=lambda: None, register=register, usable=usable
        )

        assert (first, second) == ((fresh, False), (fresh, True))
        assert registered == [fresh]
        assert checked == [OURS, fresh]

    def test_a_stale_record_waits_for_the_invocation_replacing_it(
        self, ledger: Ledger, table: StateTable, clock: Clock
    ) -> None:
        fresh = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3"
        # Another invocation found OURS deregistered and holds the lease while it registers
        stale = records.SourceRecord(OURS, records.Lease("other", clock.now + 3))
        table.put(f"source#{SOURCE}", "jaeger@1", stale.to_doc(), None)
        real_sleep = clock.sleep

        def sleep(seconds: float) -> None:  # ...and records its fresh revision a moment later
            real_sleep(seconds)
            found = table.get(f"source#{SOURCE}", "jaeger@1")
            assert found is not None
            table.put(f"source#{SOURCE}", "jaeger@1", records.SourceRecord(fresh).to_doc(), found.version)

        waiting = Ledger(table, clock=clock, sleep=sleep, wait_seconds=5)

        def register() -> str:
            raise AssertionError("must not register a second revision")

        assert waiting.compliant_revision(
            SOURCE, "jaeger@1", find=lambda: None, register=register, usable=lambda arn: arn != OURS
        ) == (fresh, True)

    def test_a_revision_registered_before_a_crash_is_found_not_registered_again(
        self, ledger: Ledger, table: StateTable, clock: Clock
    ) -> None:
        # An invocation claimed the source, registered, and died before recording it
        table.put(
            f"source#{SOURCE}",
            "jaeger@1",
            records.SourceRecord(lease=records.Lease("dead", clock.now + 5)).to_doc(),
            None,
        )
        clock.now += LEASE_SECONDS + 1  # its lease runs out

        def register() -> str:
            raise AssertionError("must not register a second revision")

        assert ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: OURS, register=register) == (
            OURS,
            True,
        )
        assert ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: None, register=register) == (
            OURS,
            True,
        )

    def test_a_failed_registration_lets_the_next_one_try_at_once(self, ledger: Ledger) -> None:
        def fail() -> str:
            raise AwsError("RegisterTaskDefinition: AccessDeniedException: iam:PassRole")

        with pytest.raises(AwsError):
            ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: None, register=fail)

        assert ledger.compliant_revision(SOURCE, "jaeger@1", find=lambda: None, register=lambda: OURS) == (
            OURS,
            False,
        )

    def test_a_held_lease_makes_others_wait_then_busy(
        self, ledger: Ledger, table: StateTable, clock: Clock
    ) -> None:
        with ledger.service_lease(ARN):
            other = Ledger(table, clock=clock, sleep=clock.sleep, wait_seconds=5)
            with pytest.raises(BusyError, match="another invocation is enforcing"), other.service_lease(ARN):
                pass
        # released: the next one takes it at once
        with ledger.service_lease(ARN):
            assert ledger.service(ARN).lease is not None
        assert ledger.service(ARN).lease is None

    def test_a_dead_holders_lease_is_taken_over_when_it_runs_out(
        self, ledger: Ledger, table: StateTable, clock: Clock
    ) -> None:
        dead = records.ServiceRecord(lease=records.Lease("dead", clock.now + 3))
        table.put(f"service#{ARN}", "state", dead.to_doc(), None)

        with ledger.service_lease(ARN):  # waits 3 s of the 5 it may
            held = ledger.service(ARN).lease
            assert held is not None
            assert held.owner != "dead"

    def test_leases_exclude_each_other_across_threads(self, table: StateTable) -> None:
        inside = 0
        most = 0
        lock = threading.Lock()

        def work() -> None:
            nonlocal inside, most
            with Ledger(table, wait_seconds=30).service_lease(ARN):
                with lock:
                    inside += 1
                    most = max(most, inside)
                with lock:
                    inside -= 1

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert most == 1

    def test_a_status_kept_again_after_a_failed_publish_still_expires(
        self, ledger: Ledger, table: StateTable
    ) -> None:
        ledger.outbox_add({"status": "REMEDIATED"})

        def down(message: dict[str, Any]) -> None:
            raise AwsError("Publish: InternalError")

        assert ledger.outbox_drain(down) == 0
        (item,) = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=table.table_name)["Items"]
        assert "expiration" in item  # DynamoDB's TTL removes it after 14 days, as before the attempt

    def test_the_outbox_publishes_oldest_first_and_keeps_what_failed(
        self, ledger: Ledger, clock: Clock
    ) -> None:
        for n in range(3):
            ledger.outbox_add({"status": "REMEDIATED", "n": n})
            clock.now += 1
        sent: list[Any] = []

        def down(message: dict[str, Any]) -> None:
            if message["n"] == 1:
                raise AwsError("Publish: InternalError")
            sent.append(message["n"])

        assert ledger.outbox_drain(down) == 1
        assert sent == [0]
        assert [k.doc["message"]["n"] for k in ledger.outbox()] == [1, 2]

        assert ledger.outbox_drain(lambda m: sent.append(m["n"])) == 2
        assert sent == [0, 1, 2]
        assert ledger.outbox() == []

    def test_a_status_refused_for_good_does_not_block_the_ones_behind_it_and_is_dead_lettered(
        self, ledger: Ledger, clock: Clock
    ) -> None:
        poisoned = {"status": "REMEDIATED", "n": 0, "service": "s" * 1000}
        ledger.outbox_add(poisoned, refused=True)  # SNS refused it when it was first published
        for n in (1, 2):
            clock.now += 1
            ledger.outbox_add({"status": "REMEDIATED", "n": n})
        sent: list[Any] = []
        dead: list[tuple[dict[str, Any], str]] = []

        def publish(message: dict[str, Any]) -> None:
            if message["n"] == 0:
                raise RejectedError("Publish: InvalidParameter: Invalid parameter: Message too long")
            sent.append(message["n"])

        def dead_letter(message: dict[str, Any], reason: str) -> None:
            dead.append((message, reason))

        assert ledger.outbox_drain(publish, dead_letter=dead_letter) == 2
        assert sent == [1, 2]
        assert [(k.doc["message"]["n"], k.doc["attempts"]) for k in ledger.outbox()] == [(0, 2)]

        clock.now += 1
        ledger.outbox_add({"status": "VERIFIED", "n": 3})
        assert ledger.outbox_drain(publish, dead_letter=dead_letter) == 1  # attempt 3: dead-lettered

        assert sent == [1, 2, 3]
        assert dead == [(poisoned, "Publish: InvalidParameter: Invalid parameter: Message too long")]
        assert ledger.outbox() == []

    def test_a_transient_failure_still_stops_the_drain_and_is_not_an_attempt(
        self, ledger: Ledger, clock: Clock
    ) -> None:
        ledger.outbox_add({"status": "REMEDIATED", "n": 0})
        clock.now += 1
        ledger.outbox_add({"status": "REMEDIATED", "n": 1})

        def denied(message: dict[str, Any]) -> None:
            raise AccessDeniedError("Publish: AuthorizationError: not authorized to perform: SNS:Publish")

        for _ in range(5):
            assert ledger.outbox_drain(denied, dead_letter=lambda m, r: pytest.fail("dead-lettered")) == 0

        assert [(k.doc["message"]["n"], k.doc["attempts"]) for k in ledger.outbox()] == [(0, 0), (1, 0)]

    def test_a_refused_status_stays_when_the_dead_letter_queue_is_down(
        self, ledger: Ledger, clock: Clock
    ) -> None:
        ledger.outbox_add({"status": "REMEDIATED", "n": 0}, refused=True)
        clock.now += 1
        ledger.outbox_add({"status": "REMEDIATED", "n": 1})

        def refuse(message: dict[str, Any]) -> None:
            raise RejectedError("Publish: InvalidParameter: too long")

        def down(message: dict[str, Any], reason: str) -> None:
            raise AwsError("SendMessage: ServiceUnavailable")

        for _ in range(3):
            assert ledger.outbox_drain(refuse, dead_letter=down) == 0

        # the queue's outage stops the drain like SNS's would; the status is kept, not lost
        assert [(k.doc["message"]["n"], k.doc["attempts"]) for k in ledger.outbox()] == [(0, 4), (1, 1)]


def test_a_record_written_by_a_newer_version_stays_readable() -> None:
    # A stack rolled back across a change that added fields must not fail on every service with a
    # stored record (before: TypeError: unexpected keyword argument).
    doc = {
        "lease": {"owner": "o", "until": 1.0, "fencing": 7},
        "deployment": {
            "task_definition": "td:2",
            "deployment_id": "ecs-svc/1",
            "at": 1.0,
            "profile": "jaeger",
            "sidecar": "jaeger",
            "rollout": "fast",
        },
        "reverts": [{"at": 2.0, "caller": "c", "task_definition": "td:1", "left": "ecs-svc/1", "new": 1}],
        "quarantine": {"status": "FLAPPING", "reason": "r", "since": 3.0, "token": "t", "by": "x"},
        "future": {"anything": True},
    }

    record = records.ServiceRecord.from_doc(doc)

    assert record.lease == records.Lease("o", 1.0)
    assert record.deployment == records.Deployment("td:2", "ecs-svc/1", 1.0, "jaeger", "jaeger")
    assert [r.task_definition for r in record.reverts] == ["td:1"]
    assert record.quarantine == records.Quarantine("FLAPPING", "r", 3.0, "t")
