"""Verify a deployment the enforcer started, once it ended ("ECS Deployment State Change").
COMPLETED is VERIFIED when every task it started runs the sidecar; FAILED (circuit breaker,
rollback), or a task without a running sidecar, is DEPLOYMENT_FAILED and quarantines the service.
A deployment a backfill run's wave started is named by its record: its verdict is that run's.
A deployment recorded only as an intent (the write of its id, or UpdateService's answer, was lost)
is the service's deployment of the intent's revision (``records.adopt``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import Settings
from ..domain.ecs.snapshots import ServiceSnapshot
from ..domain.safety import records
from ..domain.safety.service_rules import deployment_failed
from ..ledger import Ledger
from ..models.events import DeploymentOutcome
from ..models.findings import Finding, Status
from ..models.work import RunTag
from .ports import Ecs
from .scope import Scope


class VerifyDeployment:
    def __init__(self, settings: Settings, ledger: Ledger) -> None:
        self._settings = settings
        self._ledger = ledger

    def __call__(self, ecs: Ecs, target: DeploymentOutcome, scope: Scope) -> Finding:
        return self.verdict(ecs, target, scope)[0]

    def verdict(self, ecs: Ecs, target: DeploymentOutcome, scope: Scope) -> tuple[Finding, RunTag | None]:
        """The finding, and the backfill run (and wave) whose deployment it judged, if one started it."""
        where: dict[str, Any] = {
            "cluster": target.cluster,
            "service": target.service,
            "deployment_id": target.deployment_id,
        }
        service = ecs.describe_service(target.cluster, target.service)
        if service is None:
            return scope.finding(Status.SKIPPED, **where, reasons=["the service does not exist"]), None
        with self._ledger.service_lease(service.arn) as stored:
            record = records.adopt(stored, service.deployments)
            if record != stored:  # the intent's deployment, found: recorded as the deployment
                self._ledger.update_service(service.arn, lambda r: records.adopt(r, service.deployments))
            ended = records.not_ours(record, target.deployment_id, service.deployments)
            ours = record.deployment
            run = RunTag(ours.run, "enforce", ours.wave) if ours and ours.run and ours.wave else None
            if ended is not None and run is not None and ours and ours.deployment_id == target.deployment_id:
                # A run's deployment judged already: this is its event delivered again, maybe after
                # keeping the verdict in the run failed. The stored verdict again, for the run (its
                # count keeps each end once).
                return self._again(service, record, where, scope), run
            if ended is not None or ours is None:
                return scope.finding(
                    Status.IGNORED, **where, reasons=[ended or "no deployment recorded"]
                ), None
            where |= {"profile": ours.profile, "new_task_definition_arn": ours.task_definition}
            if target.completed:
                tasks = ecs.deployment_tasks(service.cluster_arn or service.cluster, target.deployment_id)
                problems = records.sidecar_problems(
                    [(t.arn, t.containers, t.stopped_reason) for t in tasks], ours.sidecar
                )
                if not tasks:
                    reason = f"deployment {target.deployment_id} completed with no running task to check"
                    self._conclude(service, ours, "UNCHECKED")
                    return scope.finding(Status.SKIPPED, **where, reasons=[reason]), run
                if not problems:
                    self._conclude(service, ours, Status.VERIFIED.value)
                    reason = f"the {ours.sidecar} container is RUNNING in all {len(tasks)} task(s)"
                    return scope.finding(Status.VERIFIED, **where, reasons=[reason]), run
            else:
                problems = [f"the deployment failed: {target.reason or 'no reason given'}"]
            now = self._ledger.now()
            failed = self._ledger.update_service(
                service.arn, lambda r: deployment_failed(r, ours, problems, now)
            )
            assert failed.quarantine is not None
            release = records.release_instructions(
                service.cluster, service.name, self._settings.release_tag_key, failed.quarantine.token
            )
            finding = scope.finding(Status.DEPLOYMENT_FAILED, **where, reasons=problems, release=release)
            return finding, run

    def _again(
        self, service: ServiceSnapshot, record: records.ServiceRecord, where: dict[str, Any], scope: Scope
    ) -> Finding:
        """The verdict a concluded deployment of a run's wave was given (its record's outcome)."""
        ours = record.deployment
        assert ours is not None
        assert ours.outcome is not None
        status = Status.SKIPPED if ours.outcome == "UNCHECKED" else Status(ours.outcome)
        where = where | {"profile": ours.profile, "new_task_definition_arn": ours.task_definition}
        reason = f"deployment {ours.deployment_id} already ended {ours.outcome} (its verdict, given again)"
        release = None
        if status is Status.DEPLOYMENT_FAILED and record.quarantine is not None:
            release = records.release_instructions(
                service.cluster, service.name, self._settings.release_tag_key, record.quarantine.token
            )
        return scope.finding(status, **where, reasons=[reason], release=release)

    def _conclude(self, service: ServiceSnapshot, ours: records.Deployment, outcome: str) -> None:
        ended = dataclasses.replace(ours, outcome=outcome)
        self._ledger.update_service(service.arn, lambda r: dataclasses.replace(r, deployment=ended))


def with_remediation(verdict: Finding, remediated: Finding) -> Finding:
    """A deployment's verdict as a run reports it: with what the remediation that started it changed."""
    return verdict.model_copy(
        update={
            "family": remediated.family,
            "profile_version": remediated.profile_version,
            "source_task_definition_arn": remediated.source_task_definition_arn,
            "new_task_definition_arn": verdict.new_task_definition_arn or remediated.new_task_definition_arn,
            "changes": remediated.changes,
        }
    )


def not_ended(remediated: Finding, seconds: float) -> Finding:
    """A remediation whose deployment had not ended when a run stopped waiting for it: FAILED."""
    why = f"deployment {remediated.deployment_id} had not ended after {seconds:.0f} s"
    return remediated.model_copy(update={"status": Status.FAILED, "reasons": [*remediated.reasons, why]})
