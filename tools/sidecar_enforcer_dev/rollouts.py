"""ECS's part of a deployment, played on moto's backend for tests and the demo.

moto leaves every deployment of UpdateService IN_PROGRESS, keeps the deployment's taskDefinition
at the old revision and starts no task (a moto gap; AWS rolls the deployment out, then sets
rolloutState COMPLETED, or FAILED when the deployment circuit breaker rolls it back). ``settle``
does what AWS would: each PRIMARY deployment IN_PROGRESS gets the service's revision and ends —
COMPLETED with a task started by the deployment whose containers all run, or FAILED (rolled back
to the revision before) for the services ``fails`` names. It works on the backend of this process:
``mock_aws`` or a ThreadedMotoServer started here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

BREAKER = "ECS deployment circuit breaker: tasks failed to start."
_installed = threading.Lock()
_patched = False


def install() -> None:
    """Make moto's UpdateService start a deployment as AWS does: a new PRIMARY deployment,
    IN_PROGRESS, of the new revision (moto keeps the old deployment's rolloutState and revision and
    changes only its id). Idempotent."""
    global _patched
    from moto.ecs.models import EC2ContainerServiceBackend

    with _installed:
        if _patched:
            return
        original = EC2ContainerServiceBackend.update_service

        def update_service(self: Any, service_properties: dict[str, Any]) -> Any:
            forced = bool(service_properties.get("force_new_deployment"))
            changed = service_properties.get("task_definition") is not None
            service = original(self, service_properties)
            if (forced or changed) and service.deployments:
                deployment = service.deployments[0]
                deployment["taskDefinition"] = service.task_definition
                deployment["rolloutState"] = "IN_PROGRESS"
                deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} in progress."
            return service

        EC2ContainerServiceBackend.update_service = update_service  # type: ignore[method-assign]
        _patched = True


def _backend(account: str, region: str) -> Any:
    from moto.ecs.models import ecs_backends

    return ecs_backends[account][region]


def settle(account: str, region: str, fails: Callable[[str], bool] = lambda name: False) -> list[str]:
    """End every deployment in progress; the services whose deployment ended, as cluster/service."""
    from moto.ecs.models import Container

    backend = _backend(account, region)
    ended: list[str] = []
    for service in list(backend.services.values()):
        for deployment in service.deployments:
            if deployment.get("status") != "PRIMARY" or deployment.get("rolloutState") != "IN_PROGRESS":
                continue
            cluster = service.cluster_arn.rsplit("/", 1)[-1]
            if fails(service.name):
                deployment["rolloutState"] = "FAILED"
                deployment["rolloutStateReason"] = BREAKER
                previous = _previous(backend, service.task_definition)
                if previous:
                    service.task_definition = previous  # the circuit breaker's rollback
                deployment["taskDefinition"] = service.task_definition
            else:
                deployment["taskDefinition"] = service.task_definition
                deployment["rolloutState"] = "COMPLETED"
                deployment["rolloutStateReason"] = f"ECS deployment {deployment['id']} completed."
                definition = backend.describe_task_definition(service.task_definition)
                task = _task(backend, cluster, definition, deployment["id"])
                containers = []
                for container_definition in definition.container_definitions:
                    container = Container(definition)  # type: ignore[abstract]
                    container.name = container_definition["name"]
                    container.image = container_definition.get("image")
                    container.last_status = "RUNNING"
                    containers.append(container)
                task.containers = containers
            ended.append(f"{cluster}/{service.name}")
    return ended


def _task(backend: Any, cluster_name: str, definition: Any, started_by: str) -> Any:
    """A running Fargate task of the deployment. Built here, not with moto's run_task: that needs
    container-level memory (a Fargate task definition need not have it) and, for awsvpc, creates a
    network interface moto then fails to describe. Only the task's network is left out."""
    import copy

    from moto.ecs.models import Task

    cluster = backend.clusters[cluster_name]
    bare = copy.copy(definition)
    bare.network_mode = "bridge"  # no network interface: nothing here reads the task's network
    task = Task(
        cluster=cluster,
        task_definition=bare,
        container_instance_arn=None,
        resource_requirements={},
        backend=backend,
        group=f"family:{definition.family}",
        overrides={},
        started_by=started_by,
        tags=[],
        launch_type="FARGATE",
        networking_configuration=None,
        platform_version=None,
        capacity_provider_name=None,
    )
    task.last_status = "RUNNING"
    backend.tasks.setdefault(cluster_name, {})[task.task_arn] = task
    return task


def _previous(backend: Any, task_definition_arn: str) -> str | None:
    family, _, revision = task_definition_arn.rsplit("/", 1)[-1].partition(":")
    revisions = backend.task_definitions.get(family, {})
    older = [r for r in revisions if r < int(revision or 0)]
    return str(revisions[max(older)].arn) if older else None


class Settler:
    """``settle`` every ``interval`` seconds in a thread, while a command runs elsewhere."""

    def __init__(
        self, account: str, region: str, fails: Callable[[str], bool] = lambda n: False, interval: float = 0.2
    ) -> None:
        self._args = (account, region, fails)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.ended: list[str] = []
        self.errors: list[BaseException] = []

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.ended.extend(settle(*self._args))
            except Exception as exc:
                self.errors.append(exc)
                raise

    def __enter__(self) -> Settler:
        install()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.errors:
            raise RuntimeError(f"settling deployments failed: {self.errors[0]!r}") from self.errors[0]
