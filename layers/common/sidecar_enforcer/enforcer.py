"""The enforcer, as the handlers and the CLI see it: a trigger in, one finding per target out.

It routes each target of a trigger to its use case (``usecases/``), in the trigger's account and
region (``ecs_for(account, region)``: the enforcer's own account with its own credentials, a
member account through its member role), and hands every finding to the reporter, or to its
backfill run (``usecases.run_waves``): a run's item's, and the verdict on a deployment a run's wave
started. It decides nothing itself and knows nothing of the Lambda event format: the handler parses
the event into a Trigger first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .config import Mode, Settings
from .errors import AwsError, ConfigurationError, EnforcerError, NotFoundError
from .models.events import (
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    Target,
    TaskDefinitionTarget,
    Trigger,
)
from .models.findings import Finding, Status
from .models.work import RunTag, WorkItem, key_of
from .usecases.enforce_service import EnforceService
from .usecases.enforce_task_definition import EnforceTaskDefinition
from .usecases.fan_out import FanOutCluster
from .usecases.ports import Ecs, Identity
from .usecases.release import Release
from .usecases.scope import Reporter, Scope
from .usecases.verify_deployment import VerifyDeployment

if TYPE_CHECKING:  # built when a backfill run's item comes (wiring), not on every cold start
    from .usecases.rollout import Rollout
    from .usecases.run_waves import RunKeeper

log = logging.getLogger(__name__)


class Enforcer:
    def __init__(
        self,
        settings: Settings,
        ecs_for: Callable[[str, str], Ecs],
        identity: Callable[[], Identity],
        *,
        enforce_service: EnforceService,
        enforce_task_definition: EnforceTaskDefinition,
        verify_deployment: VerifyDeployment,
        release: Release,
        fan_out: FanOutCluster,
        report: Reporter,
        runs: Callable[[], RunKeeper] | None = None,
        rollout: Rollout | None = None,
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
        self._runs = runs
        self._rollout = rollout

    def handle(self, trigger: Trigger, *, run: RunTag | None = None) -> list[Finding]:
        """Enforce everything a work item asks for (the Router found it asks for
        something), in the event's account and region; publish and return one finding per target.
        ``run``: a backfill run's item, decided in the run's mode (``RunTag.audit``), its findings
        kept in the run and logged, not published (the run publishes one digest); a wave item is
        acted on once. A deployment a run's wave started is verified as any other, and its verdict
        kept in that run the same way."""
        mode = Mode.AUDIT if run is not None and run.audit else self.settings.enforcement_mode
        account = trigger.account or self._identity().account
        scope = self._switched(Scope.of(trigger, mode, run), account)
        findings: list[Finding] = []
        for target in trigger.targets:
            key = key_of(trigger, target)
            if run is not None and not self._keeper().acts_on(run, key):
                log.info("%s: not acted on in wave %s of backfill run %s", key, run.wave, run.id)
                continue
            if run is not None and run.wave is not None and scope.audit_because:
                # A wave's service the rollout policy keeps in audit: left as it is, a neutral end
                # of its wave (never a failure that would trip the run's breaker).
                skipped = self._skipped(target, scope, f"not changed by backfill run {run.id}")
                self._keeper().record(run, key, self._report.log(skipped))
                findings.append(skipped)
                continue
            for finding, started_by in self._outcomes(account, target, scope):
                if started_by is not None:  # the verdict on a deployment a run's wave started
                    self._keeper().verdict(started_by, key, self._report.log(finding))
                elif run is not None:  # the run publishes one digest
                    self._keeper().record(run, key, self._report.log(finding))
                else:
                    self._report(finding)
                findings.append(finding)
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
        ((finding, _),) = self._outcomes(scope.account, ServiceTarget(cluster, service), scope)
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
        scope = Scope(
            account or me.account, region, trigger, None, self.settings.enforcement_mode, me.arn, me.partition
        )
        return self._switched(scope, scope.account)

    def _switched(self, scope: Scope, account: str) -> Scope:
        """The scope in the mode the operators' switches allow (domain.safety.rollout: the most restrictive
        of the stack's or the run's mode, the stop switch and the rollout policy wins; a service's
        audit tag is applied later, by choose_profile). Read only when the scope would enforce."""
        return scope if self._rollout is None else self._rollout.applied(scope, account)

    @staticmethod
    def _skipped(target: Target, scope: Scope, what: str) -> Finding:
        return scope.finding(
            Status.SKIPPED,
            cluster=getattr(target, "cluster", None),
            service=getattr(target, "service", None),
            reasons=[f"{what}: {scope.audit_because}"],
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

    def _keeper(self) -> RunKeeper:
        if self._runs is None:
            raise ConfigurationError("a backfill run's item, but no run keeper (STATE_TABLE_NAME)")
        return self._runs()

    def _outcomes(
        self, account: str, target: Target, scope: Scope
    ) -> Iterable[tuple[Finding, RunTag | None]]:
        """Each finding about ``target``, with the run whose wave started the deployment it judged."""
        try:
            ecs = self._ecs_for(account, scope.region)
        except AwsError as exc:  # the member role cannot be assumed: FAILED, retried
            yield self._failed(target, scope, exc), None
            return
        try:
            if isinstance(target, DeploymentOutcome):
                yield self._verify_deployment.verdict(ecs, target, scope)
            else:
                yield from ((finding, None) for finding in self._target(ecs, target, scope))
        except AwsError as exc:
            yield self._failed(target, scope, exc), None
        except EnforcerError:
            raise  # a configuration fault or an item it cannot read: the handler answers those
        except Exception as exc:
            # A fault of the enforcer's own (a bug): FAILED like an AWS failure, so it is published and
            # the item retried, then dead-lettered; the log keeps the traceback, the status its type.
            log.exception("%s: unexpected %s", target, type(exc).__name__)
            unexpected = AwsError(
                f"unexpected {type(exc).__name__} in the enforcer (its log has the traceback)"
            )
            yield self._failed(target, scope, unexpected), None

    def _target(self, ecs: Ecs, target: Target, scope: Scope) -> Iterable[Finding]:
        if isinstance(target, ServiceTarget):
            yield self._enforce_service.named(ecs, target.cluster, target.service, scope, target.cluster_tags)
        elif isinstance(target, ClusterTarget):
            arns = list(ecs.list_services(target.cluster))
            cluster_tags = ecs.cluster_tags(target.cluster, fresh=True)
            for snapshot in ecs.describe_services(target.cluster, arns):
                yield self._enforce_service(ecs, snapshot, scope, cluster_tags=cluster_tags)
        elif isinstance(target, TaskDefinitionTarget):
            yield self._enforce_task_definition(ecs, target, scope)
