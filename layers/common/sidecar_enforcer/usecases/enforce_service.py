"""Enforce one service: gather -> decide -> act -> report.

Gather what ECS shows (the service with its tags, its cluster's tags when the service has no opt-in
tag, its task definition: a revision is immutable, so a warm container describes it once) and plan.
When nothing is to change, that is the answer: no state-table read, no lease. A service another
deployment controller deploys is answered before its task definition is read (rule 1 of
``domain.safety.service_rules``). When a change is planned, take the service's lease, read the service
again (what it runs now, not when the event began) with its record, and let
``domain.safety.service_rules.decide`` rule; then apply its verdict: write the record, register the
compliant revision once, record the intent to deploy it, deploy it, and record the deployment's id.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..domain.ecs.arns import task_definition_family, task_definition_revision
from ..domain.ecs.snapshots import ServiceSnapshot
from ..domain.ecs.taskdef import TaskDefinitionDocument
from ..domain.planning import plan_memo
from ..domain.planning.plan import Plan, find_sidecar, plan
from ..domain.planning.policy import Policy
from ..domain.planning.profile import Profile
from ..domain.safety import records
from ..domain.safety.records import RevertPolicy, ServiceRecord
from ..domain.safety.service_rules import ServiceFacts, Verdict, controller_verdict, decide, needs_record
from ..errors import AwsError, NotFoundError
from ..ledger import Ledger
from ..models.findings import Finding, Status
from ..profiles import Catalog
from .choose_profile import Chosen, choose_profile
from .ports import Ecs, PlanMemo
from .revisions import Revisions, profile_fields, remedy_fields
from .scope import Scope

Report = Callable[[Finding], Finding]
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Source:
    """The revision a service runs, as far as a decision needs it: described, or only remembered."""

    arn: str | None
    family: str | None
    document: TaskDefinitionDocument | None = None


class EnforceService:
    def __init__(
        self,
        settings: Settings,
        catalog: Callable[[], Catalog],
        revisions: Revisions,
        ledger: Ledger,
        report: Report,
        memo: PlanMemo | None = None,
    ) -> None:
        self._settings = settings
        # None on the event path (an event is about a revision just changed): every plan is made
        # afresh, and no memo is keyed or built (a hash of the profile and policy per event).
        self._memo = memo
        # A fleet run's per-service work done once: a context per profile and policy (a hash of
        # both), and a remembered plan per context and revision.
        self._contexts: dict[tuple[int, int], tuple[Profile, Policy, str]] = {}
        self._known: dict[tuple[str, str], tuple[Plan, str]] = {}
        self._plannings: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self._catalog = catalog
        self._revisions = revisions
        self._ledger = ledger
        self._report = report
        self._policy = RevertPolicy(settings.max_reverts, settings.revert_window_seconds)

    def named(
        self,
        ecs: Ecs,
        cluster: str,
        service: str,
        scope: Scope,
        cluster_tags: dict[str, str] | None = None,
    ) -> Finding:
        """The service an event or a person names (``cluster_tags``: as read for it, if they were)."""
        snapshot = ecs.describe_service(cluster, service)
        if snapshot is None:
            reason = "the service does not exist (deleted, or another cluster)"
            return scope.finding(Status.SKIPPED, cluster=cluster, service=service, reasons=[reason])
        return self(ecs, snapshot, scope, cluster_tags)

    def __call__(
        self,
        ecs: Ecs,
        snapshot: ServiceSnapshot,
        scope: Scope,
        cluster_tags: dict[str, str] | None = None,
    ) -> Finding:
        where: dict[str, Any] = {"cluster": snapshot.cluster, "service": snapshot.name}
        try:
            if snapshot.status != "ACTIVE":
                return scope.finding(Status.SKIPPED, **where, reasons=[f"the service is {snapshot.status}"])
            if self._settings.opt_in_tag_key not in snapshot.tags and cluster_tags is None:
                cluster_tags = ecs.cluster_tags(snapshot.cluster_arn or snapshot.cluster)
            chosen = choose_profile(
                self._settings, self._catalog, scope, where, snapshot.tags, cluster_tags, "service"
            )
            if isinstance(chosen, Finding):
                return chosen
            skipped = controller_verdict(snapshot)
            if skipped is not None:  # rule 1, before the task definition is read
                return self._controller(snapshot, skipped, chosen, where)
            source, facts = self._gather(ecs, snapshot, chosen, remembered=True)
            if not needs_record(snapshot, facts.plan, self._settings.release_tag_key):
                return self._act(ecs, source, facts, chosen, where)
            if chosen.scope.audit:  # changes nothing: no lease, but a quarantine is still told
                facts = dataclasses.replace(facts, record=self._ledger.service(snapshot.arn))
                return self._act(ecs, source, facts, chosen, where)
            with self._ledger.service_lease(snapshot.arn) as record:
                fresh = ecs.describe_service(snapshot.cluster_arn or snapshot.cluster, snapshot.name)
                if fresh is None or fresh.status != "ACTIVE":
                    return scope.finding(
                        Status.SKIPPED, **where, reasons=["the service was deleted meanwhile"]
                    )
                source, facts = self._gather(ecs, fresh, chosen, record)
                return self._act(ecs, source, facts, chosen, where)
        except AwsError as exc:
            status = Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED
            return scope.finding(status, **where, reasons=[str(exc)])

    def _controller(
        self, snapshot: ServiceSnapshot, verdict: Verdict, chosen: Chosen, where: dict[str, Any]
    ) -> Finding:
        """SKIPPED for a service another deployment controller deploys, from DescribeServices alone."""
        arn = snapshot.task_definition or None
        fields = where | {
            "family": task_definition_family(arn) if arn else None,
            "source_task_definition_arn": arn,
        }
        return chosen.scope.finding(
            verdict.status, **fields | profile_fields(chosen.profile), reasons=list(verdict.reasons)
        )

    def _gather(
        self,
        ecs: Ecs,
        snapshot: ServiceSnapshot,
        chosen: Chosen,
        record: ServiceRecord | None = None,
        *,
        remembered: bool = False,
    ) -> tuple[Source, ServiceFacts]:
        """The plan for the revision the service runs. ``remembered``: a plan the memo holds for it
        will do (deciding only; a change is always planned afresh from the described revision)."""
        source, decided = self._plan_for(ecs, snapshot.task_definition, chosen.profile, remembered)
        facts = ServiceFacts(
            service=snapshot,
            plan=decided,
            why=chosen.why,
            audit=chosen.scope.audit,
            release_tag_key=self._settings.release_tag_key,
            revert_policy=self._policy,
            now=self._ledger.now(),
            caller=chosen.scope.caller,
            record=record,
        )
        return source, facts

    def _plan_for(self, ecs: Ecs, arn: str, profile: Profile, remembered: bool) -> tuple[Source, Plan]:
        """The revision's plan: remembered, when the memo keeps one and it will do; else made afresh,
        in a fleet run by one service of the revision while the others running it wait for it."""
        memo = self._memo
        context = self._context(profile, self._settings.policy) if memo is not None else ""
        if memo is None or not remembered:
            return self._planned(ecs, arn, profile, context)
        known = self._known_plan(memo, context, arn, profile)
        if known is None:
            with self._planning(context, arn):
                known = self._known_plan(memo, context, arn, profile)
                if known is None:
                    return self._planned(ecs, arn, profile, context)
        decided, family = known
        return Source(arn, family), decided

    def _planned(self, ecs: Ecs, arn: str, profile: Profile, context: str) -> tuple[Source, Plan]:
        """The revision described and planned afresh; the plan kept in the memo, if there is one."""
        document = ecs.describe_task_definition(arn)
        policy = self._settings.policy
        decided = plan(document.task_definition, document.tags, profile, policy, source_arn=document.arn)
        immutable = document.arn and document.family and task_definition_revision(document.arn)
        if self._memo is not None and immutable:
            self._memo.put(context, str(document.arn), plan_memo.to_memo(decided, str(document.family)))
        return Source(document.arn, document.family, document), decided

    def _known_plan(
        self, memo: PlanMemo, context: str, arn: str, profile: Profile
    ) -> tuple[Plan, str] | None:
        """The plan the memo keeps for the revision, if it keeps one."""
        kept = memo.get(context, arn)
        return self._remembered(context, arn, kept, profile) if kept is not None else None

    def _planning(self, context: str, arn: str) -> threading.Lock:
        """The lock of one revision's planning in a context (a fleet run's threads share it)."""
        with self._lock:
            return self._plannings.setdefault((context, arn), threading.Lock())

    def _context(self, profile: Profile, policy: Policy) -> str:
        """domain.planning.plan_memo's context, made once per profile and policy (objects a run keeps;
        the entry holds both, so their ids cannot be reused by others while it stands)."""
        made = self._contexts.get((id(profile), id(policy)))
        if made is None:
            made = (profile, policy, plan_memo.context(profile, policy))
            self._contexts[(id(profile), id(policy))] = made
        return made[2]

    def _remembered(
        self, context: str, arn: str, kept: dict[str, Any], profile: Profile
    ) -> tuple[Plan, str] | None:
        """The plan the memo keeps for a revision, read once per context and revision (the context
        fingerprints the profile: one context, one profile)."""
        known = self._known.get((context, arn))
        if known is None:
            known = plan_memo.from_memo(kept, profile)
            if known is not None:
                self._known[(context, arn)] = known
        return known

    def _act(
        self,
        ecs: Ecs,
        source: Source,
        facts: ServiceFacts,
        chosen: Chosen,
        where: dict[str, Any],
    ) -> Finding:
        """Apply the verdict: the record first (a revert counted, a quarantine, a release), then
        the compliant revision and its deployment. A status that asks a person to add the sidecar
        carries the remedy for the revision the service runs."""
        verdict = decide(facts)
        scope = chosen.scope
        remedy = self._remedy(verdict.status, source, facts, chosen)
        if verdict.released:
            released = scope.finding(Status.RELEASED, **where, reasons=[verdict.released])
            self._report(released)
        if verdict.record is not None:
            decided = verdict.record
            self._ledger.update_service(
                facts.service.arn, lambda r: dataclasses.replace(decided, lease=r.lease)
            )
        if verdict.status is Status.QUARANTINED:
            return scope.finding(
                verdict.status, **where, reasons=list(verdict.reasons), release=verdict.release
            )
        where = where | {"family": source.family, "source_task_definition_arn": source.arn}
        if verdict.status is Status.SKIPPED:  # the deployment controller
            fields = where | profile_fields(facts.plan.profile)
            return scope.finding(verdict.status, **fields, reasons=list(verdict.reasons), **remedy)
        fields = where | self._revisions.fields(facts.plan, scope)
        if verdict.failed is not None:
            failed = verdict.failed
            return scope.finding(
                verdict.status,
                **fields | {"profile": failed.profile},
                reasons=list(verdict.reasons),
                deployment_id=failed.deployment_id,
                new_task_definition_arn=failed.task_definition,
                release=verdict.release,
            )
        if verdict.status is Status.FLAPPING:
            return scope.finding(
                verdict.status,
                **fields,
                reasons=list(verdict.reasons),
                reverted_by=list(verdict.reverted_by),
                release=verdict.release,
                **remedy,
            )
        if not verdict.register:
            return scope.finding(
                verdict.status,
                **fields,
                reasons=list(verdict.reasons),
                changes=list(verdict.changes),
                **remedy,
            )
        return self._remediate(ecs, source, facts, verdict, scope, fields)

    def _remedy(self, status: Status, source: Source, facts: ServiceFacts, chosen: Chosen) -> dict[str, Any]:
        """What a person adds by hand, for a status that asks for it. A plan the memo remembered has
        no revision to say what to add to: only a fleet run uses the memo, and the remedy is for the
        revision an event found."""
        if source.document is None:
            return {}
        return remedy_fields(
            status, source.document.task_definition, facts.plan, self._settings.policy, shipped=chosen.shipped
        )

    def _remediate(
        self,
        ecs: Ecs,
        source: Source,
        facts: ServiceFacts,
        verdict: Verdict,
        scope: Scope,
        fields: dict[str, Any],
    ) -> Finding:
        """Register (or reuse) the compliant revision and deploy it: UpdateService, unless the
        service already runs or rolls it out (never a second deployment).

        The deployment is recorded as the record's intent (the revision, no id) before UpdateService
        and as its deployment, with its id, after: whichever write or answer is lost after ECS
        accepted the change, the record names the revision deployed, and the deployment is
        verified, quarantined or counted as a revert from it (``records.adopt`` finds its id among
        the service's deployments)."""
        service, decided = facts.service, facts.plan
        assert decided.register_input is not None, "a change is applied from a plan made afresh (_gather)"
        arn, changes = self._revisions.compliant(ecs, decided, source.arn)
        deployment_id = None
        if service.deploys(arn):
            changes.append(f"service: already runs or deploys {arn}; no second deployment")
        else:
            containers = (decided.register_input or {}).get("containerDefinitions", [])
            index = find_sidecar(containers, decided.profile)
            intent = records.intent(
                arn,
                at=self._ledger.now(),
                profile=decided.profile.name,
                sidecar=containers[index]["name"] if index is not None else decided.profile.container_name,
                run=scope.run.id if scope.run else None,
                wave=scope.run.wave if scope.run else None,
            )
            self._ledger.update_service(service.arn, lambda r: dataclasses.replace(r, intent=intent))
            deployment_id = self._deploy(ecs, service, arn)
            changes.append("service: UpdateService with forceNewDeployment")
            try:
                self._ledger.update_service(service.arn, lambda r: records.started(r, intent, deployment_id))
            except AwsError as exc:  # the change is made, and the intent names it: not a failure
                fields = fields | {
                    "warnings": [
                        *fields.get("warnings", []),
                        f"deployment {deployment_id} not recorded ({exc}): the intent recorded before "
                        "UpdateService stands for it, matched to the service's deployment of the revision",
                    ]
                }
        return scope.finding(
            Status.REMEDIATED,
            **fields,
            new_task_definition_arn=arn,
            reasons=list(verdict.reasons),
            changes=changes,
            deployment_id=deployment_id,
        )

    @staticmethod
    def _deploy(ecs: Ecs, service: ServiceSnapshot, arn: str) -> str | None:
        """UpdateService to ``arn``; its deployment's id. A call that failed is checked against the
        service: when ECS shows a deployment of ``arn`` (it did not show one before the call), the
        change went through and only its answer was lost, so that deployment is the one started
        (one the service listed before the call, an earlier one still draining, is not)."""
        cluster = service.cluster_arn or service.cluster
        try:
            return ecs.deploy(cluster, service.name, arn)
        except AwsError as failed:
            try:
                now = ecs.describe_service(cluster, service.name)
            except AwsError:
                raise failed from None
            new = [d for d in now.deployments if service.deployment(d.id) is None] if now else []
            seen = records.deployment_of(new, arn)
            if seen is None:
                raise
            log.warning("UpdateService failed (%s), but deployment %s of %s started", failed, seen.id, arn)
            return seen.id
