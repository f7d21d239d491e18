"""The use case: target -> describe -> plan -> register -> deploy -> report.

The handler (and the CLI) parse an event into a Trigger and call :meth:`Enforcer.handle`. This module
reads state through the ECS adapter, asks ``domain.plan`` for a decision, acts only when the decision
says so, and hands every outcome to the publisher. It knows nothing of the Lambda event format.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from .adapters.ecs import EcsGateway, ServiceSnapshot
from .adapters.iam import TaskRoleChecker
from .adapters.identity import Identity
from .config import Mode, Settings
from .domain import records
from .domain.arns import task_definition_revision
from .domain.plan import Decision, Plan, find_sidecar, is_managed, older_revision, plan
from .domain.profile import Profile
from .domain.selection import select_profile, tag_dict
from .errors import AwsError, ConfigurationError, NotFoundError, RejectedError
from .ledger import Ledger
from .models.events import (
    SCHEDULED,
    ClusterTarget,
    DeploymentOutcome,
    ServiceTarget,
    TaskDefinitionTarget,
    Trigger,
)
from .models.findings import Finding, Status
from .profiles import Catalog

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, finding: Finding) -> str: ...


class DeadLetters(Protocol):
    def send(self, message: dict[str, Any], reason: str) -> None: ...


@dataclass(frozen=True)
class _Context:
    """What every finding of one trigger shares."""

    account: str
    region: str
    trigger: str
    event_id: str | None
    mode: Mode
    caller: str | None = None  # who made the call behind the event (CloudTrail), when known
    partition: str = "aws"  # of the event (or of the enforcer's identity, for a manual run)
    # Warnings every finding made in this context carries: ``_select`` adds the one saying a custom
    # document replaced the shipped profile the service asks for.
    warnings: tuple[str, ...] = ()

    def finding(self, status: Status, **fields: Any) -> Finding:
        if self.warnings:
            fields["warnings"] = [*self.warnings, *fields.get("warnings", [])]
        return Finding(
            status=status,
            account=self.account,
            region=self.region,
            trigger=self.trigger,
            event_id=self.event_id,
            mode=self.mode.value,
            **fields,
        )


class Enforcer:
    def __init__(
        self,
        settings: Settings,
        profiles: Callable[[], Catalog],
        ecs_for: Callable[[str], EcsGateway],
        identity: Callable[[], Identity],
        publisher: Publisher | None = None,
        task_roles: Callable[[], TaskRoleChecker] | None = None,
        ledger: Ledger | None = None,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.settings = settings
        self._profiles = profiles
        self._ecs_for = ecs_for
        self._identity = identity
        self._publisher = publisher
        self._task_roles = task_roles
        self._ledger = ledger
        self._dead_letters = dead_letters
        self._kept = False  # this container put a status in the outbox: drain after a publish works
        self._revert_policy = records.RevertPolicy(settings.max_reverts, settings.revert_window_seconds)

    # -- entry points ---------------------------------------------------------------------------

    def _context(self, trigger: Trigger) -> _Context:
        return _Context(
            trigger.account,
            trigger.region,
            trigger.name,
            trigger.event_id,
            self.settings.enforcement_mode,
            trigger.caller_arn,
            trigger.partition,
        )

    def ignored(self, trigger: Trigger) -> Finding | None:
        """The IGNORED finding of an event that asks for nothing (logged, never published), or None.
        Decided from the event and the enforcer's own identity (cached per container) alone, so the
        handler answers it before it records the event: no AWS call on a warm container."""
        reason = trigger.ignored or self._untouched_tags(trigger)
        own = (trigger.caller_arn or trigger.caller_role_arn) is not None and trigger.name != SCHEDULED
        if reason is None and own and self._identity().made(trigger.caller_arn, trigger.caller_role_arn):
            reason = "the enforcer's own call (CloudTrail hands it back): nothing to do"
        where: dict[str, Any] = {}
        if reason is None and len(trigger.targets) == 1 and isinstance(trigger.targets[0], DeploymentOutcome):
            # One read of the service's record (its key is in the event) tells whether the
            # deployment is the enforcer's to verify: no lease, no DescribeServices otherwise.
            target = trigger.targets[0]
            if self._ledger is not None and target.service_arn is not None:
                reason = records.not_ours(self._ledger.service(target.service_arn), target.deployment_id)
                where = {
                    "cluster": target.cluster,
                    "service": target.service,
                    "deployment_id": target.deployment_id,
                }
        if reason is None:
            return None
        return self._report(self._context(trigger).finding(Status.IGNORED, **where, reasons=[reason]))

    def handle(self, trigger: Trigger) -> list[Finding]:
        """Enforce everything an event asks for, once ``ignored`` found it asks for something (the
        handler asks that first, before it records the event); publish and return one finding per
        target."""
        ctx = self._context(trigger)
        if trigger.name == SCHEDULED:
            sent = self.drain_outbox()
            reason = f"published {sent} status(es) kept while SNS refused them"
            return [self._report(ctx.finding(Status.IGNORED, reasons=[reason]))]
        me = self._identity()
        if trigger.account and trigger.account != me.account:
            reason = (
                f"the event comes from account {trigger.account}; this enforcer acts in {me.account} only"
            )
            return [self._report(ctx.finding(Status.SKIPPED, reasons=[reason]))]
        ecs = self._ecs_for(trigger.region)
        findings: list[Finding] = []
        for target in trigger.targets:
            findings.extend(self._report(f) for f in self._target(ecs, target, ctx))
        return findings

    def _untouched_tags(self, trigger: Trigger) -> str | None:
        """Why a TagResource needs nothing: it set neither the opt-in key nor the release key (a
        cost centre or an owner tag changes no decision, so it publishes nothing either)."""
        watched = {self.settings.opt_in_tag_key, self.settings.release_tag_key}
        if trigger.tag_keys is None or trigger.tag_keys & watched:
            return None
        keys = ", ".join(sorted(trigger.tag_keys)[:5]) or "none"
        return f"TagResource set tags ({keys}) other than {' and '.join(sorted(watched))}: nothing to do"

    def enforce_service(self, region: str, cluster: str, service: str, *, trigger: str = "manual") -> Finding:
        me = self._identity()
        partition = me.arn.split(":")[1] if me.arn.count(":") >= 5 else "aws"
        ctx = _Context(me.account, region, trigger, None, self.settings.enforcement_mode, me.arn, partition)
        (finding,) = self._target(self._ecs_for(region), ServiceTarget(cluster, service), ctx)
        return self._report(finding)

    def release(self, region: str, cluster: str, service: str) -> Finding:
        """Lift a service's quarantine (``sidecar-enforcer release``, run by a person whose identity
        the status names): the enforcer acts on it again at its next event, with its revert count
        started afresh."""
        me = self._identity()
        by = me.arn
        ctx = _Context(me.account, region, "release", None, self.settings.enforcement_mode, by)
        where: dict[str, Any] = {"cluster": cluster, "service": service}
        if self._ledger is None:
            raise ConfigurationError("release needs the state table (STATE_TABLE_NAME)")
        state = self._ecs_for(region).describe_service(cluster, service)
        if state is None:
            return self._report(ctx.finding(Status.SKIPPED, **where, reasons=["the service does not exist"]))
        with self._ledger.service_lease(state.arn) as record:
            if record.quarantine is None:
                reason = "the service is not quarantined: nothing to release"
                return self._report(ctx.finding(Status.SKIPPED, **where, reasons=[reason]))
            return self._report(self._release(state, record, ctx, f"by {by}"))

    def drain_outbox(self) -> int:
        """Publish the statuses SNS refused earlier (kept in the state table), oldest first; one it
        refuses for good goes to the dead-letter queue after a few attempts."""
        if self._ledger is None or self._publisher is None:
            return 0
        publisher = self._publisher

        def publish(message: dict[str, Any]) -> str:
            try:
                finding = Finding.model_validate(message)
            except ValidationError as exc:  # no retry can publish it either
                raise RejectedError(f"kept status unreadable: {exc.error_count()} error(s)") from None
            return publisher.publish(finding)

        dead_letter = self._dead_letters.send if self._dead_letters is not None else None
        sent = self._ledger.outbox_drain(publish, dead_letter=dead_letter)
        if sent:
            log.info("published %d kept status(es)", sent)
        return sent

    # -- targets ----------------------------------------------------------------------------------

    def _target(self, ecs: EcsGateway, target: Any, ctx: _Context) -> Iterable[Finding]:
        try:
            if isinstance(target, ServiceTarget):
                state = ecs.describe_service(target.cluster, target.service)
                if state is None:
                    yield ctx.finding(
                        Status.SKIPPED,
                        cluster=target.cluster,
                        service=target.service,
                        reasons=["the service does not exist (deleted, or another cluster)"],
                    )
                    return
                yield self._service(ecs, state, ctx)
            elif isinstance(target, ClusterTarget):
                arns = list(ecs.list_services(target.cluster))
                cluster_tags = ecs.cluster_tags(target.cluster)
                for state in ecs.describe_services(target.cluster, arns):
                    yield self._service(ecs, state, ctx, cluster_tags=cluster_tags)
            elif isinstance(target, TaskDefinitionTarget):
                yield self._task_definition(ecs, target, ctx)
            elif isinstance(target, DeploymentOutcome):
                yield self._outcome(ecs, target, ctx)
        except AwsError as exc:
            where = getattr(target, "cluster", None)
            yield ctx.finding(
                Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED,
                cluster=where,
                service=getattr(target, "service", None),
                family=getattr(target, "task_definition", None),
                reasons=[str(exc)],
            )

    def _service(
        self,
        ecs: EcsGateway,
        state: ServiceSnapshot,
        ctx: _Context,
        cluster_tags: dict[str, str] | None = None,
    ) -> Finding:
        where: dict[str, Any] = {"cluster": state.cluster, "service": state.name}
        try:
            if state.status != "ACTIVE":
                return ctx.finding(Status.SKIPPED, **where, reasons=[f"the service is {state.status}"])
            key = self.settings.opt_in_tag_key
            if key not in state.tags and cluster_tags is None:
                cluster_tags = ecs.cluster_tags(state.cluster_arn or state.cluster)
            chosen = self._select(ctx, where, state.tags, cluster_tags, "service")
            if isinstance(chosen, Finding):
                return chosen
            profile, why, ctx = chosen
            if self._ledger is None:
                return self._enforce(ecs, state, profile, why, ctx, where, None)
            if ctx.mode is Mode.AUDIT:  # changes nothing: no lease, but a quarantine is still told
                record = self._ledger.service(state.arn)
                if record.quarantine:
                    return self._quarantined(state, record.quarantine, ctx, where)
                return self._enforce(ecs, state, profile, why, ctx, where, None)
            with self._ledger.service_lease(state.arn) as record:
                # Read again under the lease: what the service runs now, not when the event began.
                fresh = ecs.describe_service(state.cluster_arn or state.cluster, state.name)
                if fresh is None or fresh.status != "ACTIVE":
                    return ctx.finding(Status.SKIPPED, **where, reasons=["the service was deleted meanwhile"])
                quarantine = record.quarantine
                if quarantine and fresh.tags.get(self.settings.release_tag_key) == quarantine.token:
                    tag = f"{self.settings.release_tag_key}={quarantine.token}"
                    self._report(self._release(fresh, record, ctx, f"the tag {tag}"))
                    record = records.released(record)
                elif quarantine:
                    return self._quarantined(fresh, quarantine, ctx, where)
                return self._enforce(ecs, fresh, profile, why, ctx, where, record)
        except AwsError as exc:
            status = Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED
            return ctx.finding(status, **where, reasons=[str(exc)])

    def _enforce(
        self,
        ecs: EcsGateway,
        state: ServiceSnapshot,
        profile: Profile,
        why: str,
        ctx: _Context,
        where: dict[str, Any],
        record: records.ServiceRecord | None,
    ) -> Finding:
        """Plan the service's task definition; register and deploy when the plan says so.
        ``record`` is the service's record, read under its lease (None: no state table, or audit)."""
        document = ecs.describe_task_definition(state.task_definition)
        decided = plan(
            document.task_definition, document.tags, profile, self.settings.policy, source_arn=document.arn
        )
        where = where | {"family": document.family, "source_task_definition_arn": document.arn}
        if decided.register_input is not None and state.deployment_controller != "ECS":
            return ctx.finding(
                Status.SKIPPED,
                **where,
                **_profile(profile),
                reasons=[_controller_reason(state.deployment_controller), *decided.reasons],
            )
        finding = self._act(ecs, decided, ctx, where, why)
        if finding.status is Status.REMEDIATED and finding.new_task_definition_arn:
            finding = self._deploy(ecs, state, finding, decided, ctx, record)
        return finding

    def _deploy(
        self,
        ecs: EcsGateway,
        state: ServiceSnapshot,
        finding: Finding,
        decided: Plan,
        ctx: _Context,
        record: records.ServiceRecord | None,
    ) -> Finding:
        """UpdateService to the compliant revision, unless the service already runs or rolls it
        out (never a second deployment). With the state table, ``state`` was read under the
        service's lease; a service that left the enforcer's revision counts a revert, and too many
        make it FLAPPING (quarantined, not deployed)."""
        arn = str(finding.new_task_definition_arn)
        cluster = state.cluster_arn or state.cluster
        current = state if record is not None else ecs.describe_service(cluster, state.name)
        if current is not None and current.deploys(arn):
            change = f"service: already runs or deploys {arn}; no second deployment"
            return finding.model_copy(update={"changes": [*finding.changes, change]})
        failed = self._failed_rollout(state, finding, ctx, record)
        if failed is not None:
            return failed
        counted = self._count_revert(state, finding, ctx, record)
        if isinstance(counted, Finding):
            return counted
        if counted:
            finding = finding.model_copy(update={"reasons": [*finding.reasons, counted]})
        ledger = self._ledger
        deployment_id = ecs.deploy(cluster, state.name, arn)
        if ledger is not None:
            containers = (decided.register_input or {}).get("containerDefinitions", [])
            index = find_sidecar(containers, decided.profile)
            deployment = records.Deployment(
                task_definition=arn,
                deployment_id=deployment_id,
                at=ledger.now(),
                profile=decided.profile.name,
                sidecar=containers[index]["name"] if index is not None else decided.profile.container_name,
            )
            ledger.update_service(state.arn, lambda r: dataclasses.replace(r, deployment=deployment))
        return finding.model_copy(
            update={
                "changes": [*finding.changes, "service: UpdateService with forceNewDeployment"],
                "deployment_id": deployment_id,
            }
        )

    def _failed_rollout(
        self, state: ServiceSnapshot, finding: Finding, ctx: _Context, record: records.ServiceRecord | None
    ) -> Finding | None:
        """The service shows the enforcer's deployment as rolloutState FAILED (the circuit breaker
        rolls it back) before its FAILED event arrived: that is a failure, not a revert to fight."""
        ours = record.deployment if record is not None else None
        if ours is None or ours.deployment_id is None or ours.outcome is not None:
            return None
        seen = state.deployment(ours.deployment_id)
        if seen is None or seen.rollout_state != "FAILED":
            return None
        problems = [f"deployment {ours.deployment_id} of {ours.task_definition} shows rolloutState FAILED"]
        return finding.model_copy(
            update={
                "status": Status.DEPLOYMENT_FAILED,
                "reasons": problems,
                "changes": [],
                "profile": ours.profile,
                "deployment_id": ours.deployment_id,
                "new_task_definition_arn": ours.task_definition,
                "release": self._quarantine_failed(state, ours, problems),
            }
        )

    def _count_revert(
        self, state: ServiceSnapshot, finding: Finding, ctx: _Context, record: records.ServiceRecord | None
    ) -> Finding | str | None:
        """When the service left the revision the enforcer deployed to it, count a revert naming
        the caller: the FLAPPING finding when that makes too many (the service is quarantined),
        else a reason saying so."""
        if self._ledger is None or record is None:
            return None
        if not records.reverted(record, state.task_definition, state.rolling_out):
            return None
        outcome = records.record_revert(
            record,
            now=self._ledger.now(),
            caller=ctx.caller,
            task_definition=state.task_definition,
            policy=self._revert_policy,
        )
        counted = outcome.record
        if outcome.counted:
            self._ledger.update_service(
                state.arn,
                lambda r: dataclasses.replace(r, reverts=counted.reverts, quarantine=counted.quarantine),
            )
        if counted.quarantine is None:
            policy = self._revert_policy
            return (
                f"the service had left the enforcer's revision for {state.task_definition}, by "
                f"{ctx.caller or records.UNKNOWN_CALLER}: revert {len(counted.reverts)} of at most "
                f"{policy.max_reverts} within {policy.window_seconds} s"
            )
        return finding.model_copy(
            update={
                "status": Status.FLAPPING,
                "reasons": outcome.reasons,
                "changes": [],
                "new_task_definition_arn": None,
                "reverted_by": outcome.callers,
                "release": self._instructions(state, counted.quarantine),
            }
        )

    def _outcome(self, ecs: EcsGateway, target: DeploymentOutcome, ctx: _Context) -> Finding:
        """A deployment ended. The enforcer's own: COMPLETED is VERIFIED when every task it started
        runs the sidecar; FAILED (circuit breaker, rollback), or a task without a running sidecar,
        is DEPLOYMENT_FAILED and quarantines the service."""
        where: dict[str, Any] = {
            "cluster": target.cluster,
            "service": target.service,
            "deployment_id": target.deployment_id,
        }
        if self._ledger is None:
            reason = "without a state table the enforcer cannot tell which deployments it started"
            return ctx.finding(Status.IGNORED, **where, reasons=[reason])
        state = ecs.describe_service(target.cluster, target.service)
        if state is None:
            return ctx.finding(Status.SKIPPED, **where, reasons=["the service does not exist"])
        with self._ledger.service_lease(state.arn) as record:
            ended = records.not_ours(record, target.deployment_id)
            ours = record.deployment
            if ended is not None or ours is None:
                return ctx.finding(Status.IGNORED, **where, reasons=[ended or "no deployment recorded"])
            where |= {"profile": ours.profile, "new_task_definition_arn": ours.task_definition}
            if target.completed:
                tasks = ecs.deployment_tasks(state.cluster_arn or state.cluster, target.deployment_id)
                problems = records.sidecar_problems(
                    [(t.arn, t.containers, t.stopped_reason) for t in tasks], ours.sidecar
                )
                if not tasks:
                    reason = f"deployment {target.deployment_id} completed with no running task to check"
                    self._conclude(state, ours, "UNCHECKED")
                    return ctx.finding(Status.SKIPPED, **where, reasons=[reason])
                if not problems:
                    self._conclude(state, ours, Status.VERIFIED.value)
                    reason = f"the {ours.sidecar} container is RUNNING in all {len(tasks)} task(s)"
                    return ctx.finding(Status.VERIFIED, **where, reasons=[reason])
            else:
                problems = [f"the deployment failed: {target.reason or 'no reason given'}"]
            release = self._quarantine_failed(state, ours, problems)
            return ctx.finding(Status.DEPLOYMENT_FAILED, **where, reasons=problems, release=release)

    def _quarantine_failed(
        self, state: ServiceSnapshot, ours: records.Deployment, problems: list[str]
    ) -> str:
        """The enforcer's deployment failed: record it, quarantine the service; how to release it."""
        assert self._ledger is not None
        now = self._ledger.now()
        quarantined = self._conclude(
            state,
            ours,
            Status.DEPLOYMENT_FAILED.value,
            lambda r: records.quarantine(r, Status.DEPLOYMENT_FAILED.value, "; ".join(problems), now=now),
        )
        assert quarantined.quarantine is not None
        return self._instructions(state, quarantined.quarantine)

    def _conclude(
        self,
        state: ServiceSnapshot,
        ours: records.Deployment,
        outcome: str,
        then: Callable[[records.ServiceRecord], records.ServiceRecord] = lambda r: r,
    ) -> records.ServiceRecord:
        """Record how the enforcer's deployment ended (and ``then`` anything else)."""
        assert self._ledger is not None
        ended = dataclasses.replace(ours, outcome=outcome)
        return self._ledger.update_service(
            state.arn, lambda r: then(dataclasses.replace(r, deployment=ended))
        )

    def _quarantined(
        self, state: ServiceSnapshot, quarantine: records.Quarantine, ctx: _Context, where: dict[str, Any]
    ) -> Finding:
        since = datetime.fromtimestamp(quarantine.since, UTC).isoformat(timespec="seconds")
        reason = f"quarantined since {since} ({quarantine.status}): {quarantine.reason}"
        return ctx.finding(
            Status.QUARANTINED, **where, reasons=[reason], release=self._instructions(state, quarantine)
        )

    def _release(
        self, state: ServiceSnapshot, record: records.ServiceRecord, ctx: _Context, how: str
    ) -> Finding:
        assert self._ledger is not None
        assert record.quarantine is not None
        self._ledger.update_service(state.arn, records.released)
        reason = f"released {how} from {record.quarantine.status} ({record.quarantine.reason})"
        return ctx.finding(Status.RELEASED, cluster=state.cluster, service=state.name, reasons=[reason])

    def _instructions(self, state: ServiceSnapshot, quarantine: records.Quarantine) -> str:
        return records.release_instructions(
            state.cluster, state.name, self.settings.release_tag_key, quarantine.token
        )

    def _task_definition(self, ecs: EcsGateway, target: TaskDefinitionTarget, ctx: _Context) -> Finding:
        document = ecs.describe_task_definition(target.task_definition)
        where = {"family": document.family, "source_task_definition_arn": document.arn}
        if document.task_definition.get("status", "ACTIVE") != "ACTIVE":
            return ctx.finding(Status.SKIPPED, **where, reasons=["the task definition is not ACTIVE"])
        if task_definition_revision(target.task_definition) is not None:
            # A revision named by its ARN (TagResource): only the family's newest ACTIVE revision
            # is enforced, or the compliant copy of an older one would become the family's newest
            # and anything run by family name would silently go back to an old release.
            newest = ecs.describe_task_definition(str(document.family))
            if newest.arn != document.arn:
                copied, reason = older_revision(document.arn, newest.arn, newest.tags)
                status = Status.COMPLIANT if copied else Status.SKIPPED
                return ctx.finding(status, **where, reasons=[reason])
        if is_managed(document.tags):
            return ctx.finding(Status.COMPLIANT, **where, reasons=["registered by the enforcer"])
        chosen = self._select(
            ctx, where, tag_dict(document.tags) or target.request_tags, None, "task definition"
        )
        if isinstance(chosen, Finding):
            return chosen
        profile, why, ctx = chosen
        decided = plan(
            document.task_definition, document.tags, profile, self.settings.policy, source_arn=document.arn
        )
        return self._act(ecs, decided, ctx, where, why)

    def _select(
        self,
        ctx: _Context,
        where: dict[str, Any],
        own_tags: dict[str, str],
        cluster_tags: dict[str, str] | None,
        own_kind: str,
    ) -> tuple[Profile, str, _Context] | Finding:
        """The profile the tags ask for, why, and the context to act in (audit when the tag says
        so; warning when a custom document replaced the shipped profile of that name), or the
        NOT_OPTED_IN / REFUSED finding."""
        selection = select_profile(
            key=self.settings.opt_in_tag_key,
            default_profile=self.settings.default_profile,
            own_tags=own_tags,
            cluster_tags=cluster_tags,
            own_kind=own_kind,
        )
        if selection.profile is None:
            return ctx.finding(Status.NOT_OPTED_IN, **where, reasons=[selection.reason])
        catalog = self._profiles()
        profile = catalog.get(selection.profile)
        if profile is None:
            known = ", ".join(sorted(catalog.profiles)) or "none"
            problem = catalog.errors.get(selection.profile) or f"no such profile exists (known: {known})"
            reason = f"{selection.reason}, but {problem}"
            return ctx.finding(Status.REFUSED, **where, profile=selection.profile, reasons=[reason])
        if selection.audit:
            ctx = dataclasses.replace(ctx, mode=Mode.AUDIT)
        replaced = catalog.replacement(selection.profile)
        if replaced:
            ctx = dataclasses.replace(ctx, warnings=(*ctx.warnings, replaced))
        return profile, selection.reason, ctx

    # -- acting on a decision ---------------------------------------------------------------------

    def _act(self, ecs: EcsGateway, decided: Plan, ctx: _Context, where: dict[str, Any], why: str) -> Finding:
        """COMPLIANT / REFUSED / DRIFTED-without-a-request are reported; a planned request (MISSING, or
        DRIFTED with upgrades on) is registered, or in audit mode reported with the planned changes.
        Returns REMEDIATED with the new ARN; the caller redeploys."""
        fields: dict[str, Any] = {**where, **_profile(decided.profile)}
        if decided.resize is not None:
            fields |= {"old_task_size": decided.resize[0], "new_task_size": decided.resize[1]}
        if decided.decision is not Decision.REFUSED:
            fields["warnings"] = [*decided.warnings, *self._role_warnings(decided, ctx)]
        if decided.register_input is None:
            return ctx.finding(Status(decided.decision.value), **fields, reasons=decided.reasons)
        if ctx.mode is Mode.AUDIT:
            status = Status.NONCOMPLIANT if decided.decision is Decision.MISSING else Status.DRIFTED
            return ctx.finding(status, **fields, reasons=[why, *decided.reasons], changes=decided.changes)
        source = where.get("source_task_definition_arn")
        request = decided.register_input
        label = decided.profile.label
        if source and self._ledger is not None:
            existing, reused = self._ledger.compliant_revision(
                source,
                label,
                find=lambda: ecs.find_registered(source, label),
                register=lambda: ecs.register(request),
                usable=lambda arn: records.deployable(ecs.task_definition_status(arn)),
            )
        else:
            found = ecs.find_registered(source, label) if source else None
            existing, reused = (found, True) if found else (ecs.register(request), False)
        if reused:
            changes = [f"reuse {existing}, registered earlier for this source and profile version"]
        else:
            changes = ["RegisterTaskDefinition", *decided.changes]
        return ctx.finding(
            Status.REMEDIATED,
            **fields,
            new_task_definition_arn=existing,
            reasons=[why, *decided.reasons],
            changes=changes,
        )

    def _role_warnings(self, decided: Plan, ctx: _Context) -> list[str]:
        """What the task role lacks for the sidecar (IAM policy simulator); a failed check is a
        warning too, never a reason to stop."""
        if not decided.permissions or decided.task_role_arn is None or self._task_roles is None:
            return []
        role = decided.task_role_arn
        if not role.startswith("arn:"):  # the API also takes a role's name
            role = f"arn:{ctx.partition}:iam::{ctx.account}:role/{role}"
        try:
            denied = self._task_roles().missing(role, decided.permissions)
        except AwsError as exc:
            return [f"could not check the task role's permissions: {exc}"]
        return [
            f"task role {role} lacks {d}: the {decided.profile.name} sidecar cannot export" for d in denied
        ]

    def _report(self, finding: Finding) -> Finding:
        """Log every finding; publish all but IGNORED ones. A status SNS refuses (after botocore's
        retries) never undoes or blocks a remediation: it is kept in the outbox and published
        later (by the scheduled tick, or by this container once SNS takes statuses again)."""
        message = finding.to_message()
        level = logging.ERROR if finding.status is Status.FAILED else logging.INFO
        log.log(level, "%s", finding.status.value, extra={"finding": message})
        if finding.status is Status.IGNORED or self._publisher is None:
            return finding
        try:
            self._publisher.publish(finding)
        except AwsError as exc:
            log.error("status not published: %s", exc, extra={"finding": message})
            self._keep(message, refused=isinstance(exc, RejectedError))
            return finding
        if self._kept:
            self._kept = False
            self._drain_quietly()
        return finding

    def _keep(self, message: dict[str, Any], *, refused: bool) -> None:
        if self._ledger is None:
            return
        try:
            self._ledger.outbox_add(message, refused=refused)
            self._kept = True
        except AwsError as exc:
            log.error("status not kept for a later publish: %s", exc, extra={"finding": message})

    def _drain_quietly(self) -> None:
        try:
            self.drain_outbox()
        except AwsError as exc:
            log.error("kept statuses not published: %s", exc)


def _profile(profile: Profile) -> dict[str, str]:
    return {"profile": profile.name, "profile_version": profile.version}


def _controller_reason(controller: str) -> str:
    if controller == "CODE_DEPLOY":
        return (
            "the service uses the CODE_DEPLOY deployment controller: UpdateService cannot change its task "
            "definition; add the sidecar to the task definition your CodeDeploy deployment registers"
        )
    return (
        f"the service uses the {controller} deployment controller: its task sets are managed outside ECS "
        "(CreateTaskSet); add the sidecar there"
    )
