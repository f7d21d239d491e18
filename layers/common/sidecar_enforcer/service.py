"""The enforcer, as the handlers and the CLI see it: a trigger in, one finding per target out.

It routes each target of a trigger to its use case (``usecases/``), in the trigger's account and
region (``ecs_for(account, region)``: the enforcer's own account with its own credentials, a
member account through its member role), and hands every finding to the reporter. It decides
nothing itself and knows nothing of the Lambda event format: the handler parses the event into a
Trigger first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .adapters.ecs import EcsGateway
from .adapters.identity import Identity
from .config import Mode, Settings
from .errors import AwsError, NotFoundError
from .models.events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    Target,
    TaskDefinitionTarget,
    Trigger,
)
from .models.findings import Finding, Status
from .models.work import WorkItem
from .usecases.enforce_service import EnforceService
from .usecases.enforce_task_definition import EnforceTaskDefinition
from .usecases.fan_out import FanOutCluster
from .usecases.release import Release
from .usecases.scope import Reporter, Scope
from .usecases.verify_deployment import VerifyDeployment


class Enforcer:
    def __init__(
        self,
        settings: Settings,
        ecs_for: Callable[[str, str], EcsGateway],
        identity: Callable[[], Identity],
        *,
        enforce_service: EnforceService,
        enforce_task_definition: EnforceTaskDefinition,
        verify_deployment: VerifyDeployment,
        release: Release,
        fan_out: FanOutCluster,
        report: Reporter,
    ) -> None:
        self.settings = settings
        self._ecs_for = ecs_for
        self._identity = identity
        self._enforce_service = enforce_service
        self._enforce_task_definition = enforce_task_definition
        self._verify_deployment = verify_deployment
        self._release = release
        self._fan_out = fan_out
        self._report = report

    def handle(self, trigger: Trigger, *, audit: bool = False, quiet: bool = False) -> list[Finding]:
        """Enforce everything a work item asks for (the router's Gate found it asks for
        something), in the event's account and region; publish and return one finding per target.
        ``audit``: change nothing, whatever the settings say; ``quiet``: log the findings, publish
        none (a backfill run's items: the run publishes one digest)."""
        mode = Mode.AUDIT if audit else self.settings.enforcement_mode
        scope = Scope.of(trigger, mode)
        report = self._report.log if quiet else self._report
        account = trigger.account or self._identity().account
        try:
            ecs = self._ecs_for(account, trigger.region)
        except AwsError as exc:  # the member role cannot be assumed: every target FAILED, retried
            return [report(self._failed(target, scope, exc)) for target in trigger.targets]
        findings: list[Finding] = []
        for target in trigger.targets:
            findings.extend(report(f) for f in self._target(ecs, target, scope))
        return findings

    def enforce_service(
        self,
        region: str,
        cluster: str,
        service: str,
        *,
        trigger: str = "manual",
        account: str | None = None,
    ) -> Finding:
        """One service, named by a person (``sidecar-enforcer enforce``), in the enforcer's own
        account unless ``account`` names a member account."""
        scope = self._manual(region, trigger, account)
        target = ServiceTarget(cluster, service)
        try:
            ecs = self._ecs_for(scope.account, region)
        except AwsError as exc:
            return self._report(self._failed(target, scope, exc))
        (finding,) = self._target(ecs, target, scope)
        return self._report(finding)

    def release(self, region: str, cluster: str, service: str, *, account: str | None = None) -> Finding:
        """Lift a service's quarantine (``sidecar-enforcer release``)."""
        scope = self._manual(region, "release", account)
        return self._report(self._release(self._ecs_for(scope.account, region), cluster, service, scope))

    def fan_out(self, item: WorkItem) -> int | None:
        """Queue one item per service of a cluster item's cluster (the worker), listed in the item's
        account and region; None when ECS names services of another account."""
        trigger = item.trigger
        account = trigger.account or self._identity().account
        return self._fan_out(self._ecs_for(account, trigger.region), item)

    def _manual(self, region: str, trigger: str, account: str | None = None) -> Scope:
        me = self._identity()
        return Scope(
            account or me.account, region, trigger, None, self.settings.enforcement_mode, me.arn, me.partition
        )

    @staticmethod
    def _failed(target: Target, scope: Scope, exc: AwsError) -> Finding:
        return scope.finding(
            Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED,
            cluster=getattr(target, "cluster", None),
            service=getattr(target, "service", None),
            family=getattr(target, "task_definition", None),
            reasons=[str(exc)],
        )

    def _target(self, ecs: EcsGateway, target: Target, scope: Scope) -> Iterable[Finding]:
        try:
            if isinstance(target, ServiceTarget):
                yield self._enforce_service.named(
                    ecs, target.cluster, target.service, scope, target.cluster_tags
                )
            elif isinstance(target, ClusterTarget):
                arns = list(ecs.list_services(target.cluster))
                cluster_tags = ecs.cluster_tags(target.cluster, fresh=True)
                for snapshot in ecs.describe_services(target.cluster, arns):
                    yield self._enforce_service(ecs, snapshot, scope, cluster_tags=cluster_tags)
            elif isinstance(target, TaskDefinitionTarget):
                yield self._enforce_task_definition(ecs, target, scope)
            elif isinstance(target, DeploymentOutcome):
                yield self._verify_deployment(ecs, target, scope)
        except AwsError as exc:
            yield self._failed(target, scope, exc)
