"""A backfill run's wave engine (usecases.run_waves.RunKeeper) on the in-memory table and a clock
moved by hand, with the work queue and the status topic it reports to (``Runs``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sidecar_enforcer.domain.runs.run_state import RunState
from sidecar_enforcer.domain.runs.waves import WavePolicy
from sidecar_enforcer.errors import AwsError
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.findings import Finding, Status
from sidecar_enforcer.models.work import RunTag, WorkItem
from sidecar_enforcer.usecases.run_waves import WORK_QUEUE_RECEIVES, RunKeeper
from sidecar_enforcer.usecases.runs import FinishRun

from ._factories import ACCOUNT, REGION
from ._fakes import Clock, CountingTable
from ._world import service_arn

RUN = "bf-unit"
SURVEY = RunTag(RUN, "enforce")
VISIBILITY = 720.0  # the work queue's: items not recorded for 5 receives x 720 s were lost
LOST = WORK_QUEUE_RECEIVES * VISIBILITY


class Runs:
    """A RunKeeper on the in-memory table: what it queues, and the digests it publishes."""

    def __init__(self, services: int, policy: WavePolicy) -> None:
        self.clock = Clock()
        self.table = CountingTable()
        self.ledger = Ledger(self.table, clock=self.clock, sleep=self.clock.advance)
        self.queued: list[WorkItem] = []
        self.digests: list[Any] = []
        self.refuse = 0  # how many sends the queue refuses next
        finish = FinishRun(self.ledger, None, self)
        self.keeper = RunKeeper(self.ledger, finish, lambda: self, visibility_seconds=VISIBILITY)
        self.names = [f"svc-{n}" for n in range(services)]
        started = "2026-12-01T00:00:00+00:00"
        run = RunState(RUN, "enforce", services, started=started, partition="aws", policy=policy)
        assert self.ledger.run_open(RUN, run)
        self.ledger.run_survey(RUN, [self.key(n) for n in self.names])

    def send(self, items: Sequence[WorkItem]) -> int:
        if self.refuse:
            self.refuse -= 1
            raise AwsError("SendMessageBatch: throttled")
        self.queued.extend(items)
        return len(items)

    def publish(self, digest: Any) -> str:
        self.digests.append(digest)
        return "digest"

    @staticmethod
    def key(name: str) -> str:
        return service_arn(name)

    def finding(self, name: str, status: Status, **fields: Any) -> Finding:
        return Finding(status=status, account=ACCOUNT, region=REGION, cluster="shop", service=name, **fields)

    def survey(self) -> None:
        for name in self.names:
            changes = ["add container 'jaeger'"]
            self.keeper.record(
                SURVEY, self.key(name), self.finding(name, Status.NONCOMPLIANT, changes=changes)
            )

    def wave(self, number: int) -> list[str]:
        """The services of a queued wave."""
        return [str(getattr(i.target, "service", "")) for i in self.queued if i.run and i.run.wave == number]

    def remediate(self, number: int, name: str) -> None:
        found = self.finding(name, Status.REMEDIATED, deployment_id=f"ecs-svc/{name}")
        self.keeper.record(RunTag(RUN, "enforce", number), self.key(name), found)

    def verdict(self, number: int, name: str, status: Status = Status.VERIFIED) -> None:
        found = self.finding(name, status, deployment_id=f"ecs-svc/{name}", reasons=["no reason"])
        self.keeper.verdict(RunTag(RUN, "enforce", number), self.key(name), found)

    def run(self) -> RunState:
        run = self.ledger.run(RUN)
        assert run is not None
        return run

    def doc(self) -> dict[str, Any]:
        """The run's document, as the state table holds it."""
        return self.run().to_doc()
