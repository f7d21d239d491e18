"""The command line's enforce run (usecases.backfill) on fakes: the survey recorded into the stack's
wave engine (run_waves.RunKeeper) over a table in memory, each wave remediated, its deployments
polled until ECS ends them, verified, and judged by the engine's rules. ECS is tests/unit's FakeEcs;
its rollouts end when the run pauses between looks (``Rollouts``)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator

from sidecar_enforcer.adapters.memory import MemoryTable
from sidecar_enforcer.config import Mode
from sidecar_enforcer.domain.ecs.snapshots import TaskState
from sidecar_enforcer.domain.runs.waves import WavePolicy
from sidecar_enforcer.models.findings import Status
from sidecar_enforcer.usecases.backfill import Backfill, RunResult, RunSpec
from sidecar_enforcer.usecases.scope import Scope

from ._factories import ACCOUNT, REGION
from ._world import World, snapshot


class Survey:
    """EcsSurvey's reads, on the world's fake ECS: one cluster, untagged."""

    def __init__(self, world: World) -> None:
        self._world = world

    def clusters(self) -> Iterator[str]:
        yield "shop"

    def clusters_tags(self, names: list[str]) -> dict[str, dict[str, str]]:
        return {n: {} for n in names}

    def services(self, cluster: str) -> Iterator[str]:
        return self._world.ecs.list_services(cluster)


class Rollouts:
    """ECS's part while the run pauses: every deployment IN_PROGRESS ends (COMPLETED with a task
    running the app and the sidecar, or FAILED); the run's clock moves on by the pause."""

    def __init__(self, world: World, *, fail: bool = False) -> None:
        self._world, self._fail = world, fail
        self.pauses = 0

    def __call__(self, seconds: float) -> None:
        self.pauses += 1
        self._world.clock.advance(seconds)
        ecs = self._world.ecs
        for name, service in ecs.services.items():
            ended = []
            for deployment in service.deployments:
                if deployment.rollout_state == "IN_PROGRESS":
                    state = "FAILED" if self._fail else "COMPLETED"
                    deployment = dataclasses.replace(deployment, rollout_state=state)
                    task = TaskState(
                        f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/shop/{name}",
                        deployment.task_definition,
                        "RUNNING",
                        {"app": "RUNNING", "jaeger": "RUNNING"},
                    )
                    ecs.tasks[deployment.id] = [] if self._fail else [task]
                ended.append(deployment)
            ecs.services[name] = dataclasses.replace(service, deployments=tuple(ended))


def run(world: World, rollouts: Callable[[float], None], policy: WavePolicy) -> RunResult:
    backfill = Backfill(
        lambda account, region: world.ecs,
        lambda account, region: Survey(world),
        lambda account, region, mode: Scope(account or ACCOUNT, region, "backfill", "bf-unit", mode),
        world.enforce_service,
        world.verify,
        run_table=MemoryTable,
        workers=2,
        clock=world.clock,
        sleep=rollouts,
    )
    spec = RunSpec(Mode.ENFORCE, (("", REGION),), waves=policy, poll_seconds=5, run_id="bf-unit")
    return backfill.run(spec)


def statuses(result: RunResult) -> dict[str, str]:
    return {str(f.service): f.status.value for f in result.findings}


def test_each_wave_is_remediated_verified_and_judged_and_an_audit_tagged_service_stays_out() -> None:
    world = World(
        snapshot("a"), snapshot("b"), snapshot("c", tags={"tracing-sidecar": "jaeger:audit"}), snapshot("d")
    )
    rollouts = Rollouts(world)

    result = run(world, rollouts, WavePolicy(first=1, growth=2))

    assert statuses(result) == {"a": "VERIFIED", "b": "VERIFIED", "c": "NONCOMPLIANT", "d": "VERIFIED"}
    assert [(w["number"], w["size"], w["succeeded"], w["failedMembers"]) for w in result.waves] == [
        (1, 1, 1, []),
        (2, 2, 2, []),
    ]
    assert result.stopped is None
    assert result.wave_of == (1, 2, None, 2)
    # the report's rows say where each service ended, not what the survey found (its messages were
    # made as the services were decided, before the waves changed them)
    assert [(r["service"], r["status"], r.get("wave")) for r in result.rows()] == [
        ("a", "VERIFIED", 1),
        ("b", "VERIFIED", 2),
        ("c", "NONCOMPLIANT", None),
        ("d", "VERIFIED", 2),
    ]
    assert result.rows() == [
        {**f.to_message(), **({"wave": w} if w else {})}
        for f, w in zip(result.findings, result.wave_of, strict=True)
    ]
    deployed = [args[1] for args in world.ecs.args("deploy")]
    # a wave's members deploy side by side (workers=2): the order is kept between waves, not within
    assert (deployed[:1], sorted(deployed[1:])) == (["a"], ["b", "d"])
    assert rollouts.pauses == 2  # one look per wave found its deployments in flight


def test_a_wave_that_fails_trips_the_breaker_and_the_rest_is_left_saying_why() -> None:
    world = World(snapshot("a"), snapshot("b"), snapshot("c"))

    result = run(world, Rollouts(world, fail=True), WavePolicy(first=1, growth=1))

    assert result.stopped == (
        "the run stopped after wave 1 of 3: 1 of 1 deployments failed (more than 20%); "
        "2 service(s) left unchanged"
    )
    assert statuses(result) == {"a": "DEPLOYMENT_FAILED", "b": "NONCOMPLIANT", "c": "NONCOMPLIANT"}
    ((member,),) = [w["failedMembers"] for w in result.waves]
    assert (member["service"], member["status"]) == ("a", "DEPLOYMENT_FAILED")
    for finding in result.findings[1:]:
        assert finding.reasons[-1] == f"not changed: {result.stopped}"
    assert [args[1] for args in world.ecs.args("deploy")] == ["a"]


def test_a_deployment_that_never_ends_is_failed_after_verify_seconds() -> None:
    world = World(snapshot("a"))
    pauses: list[float] = []

    def hangs(seconds: float) -> None:  # ECS never ends the rollout
        pauses.append(seconds)
        world.clock.advance(seconds)

    result = run(world, hangs, WavePolicy(first=1, verify_seconds=12))

    (finding,) = result.findings
    assert finding.status is Status.FAILED
    assert finding.reasons[-1] == f"deployment {finding.deployment_id} had not ended after 12 s"
    assert sum(pauses) > 12
    assert result.stopped is not None


def test_a_wave_s_services_are_remediated_by_twice_the_read_workers() -> None:
    # The run decides services with twice its service-read workers, and remediates a wave's with as
    # many: with workers=2 (run()'s), a wave of four deploys all four at once. A barrier of four in
    # ECS's deploy breaks (its timeout) when fewer threads reach it together.
    world = World(*(snapshot(name) for name in "abcd"))
    together = threading.Barrier(4, timeout=5)
    deploy = world.ecs.deploy

    def deploy_together(cluster: str, service: str, task_definition_arn: str) -> str | None:
        together.wait()
        return deploy(cluster, service, task_definition_arn)

    world.ecs.deploy = deploy_together  # type: ignore[method-assign]

    result = run(world, Rollouts(world), WavePolicy(first=4))

    assert statuses(result) == dict.fromkeys("abcd", "VERIFIED")
    assert not together.broken
