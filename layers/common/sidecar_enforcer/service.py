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
from typing import Any, Protocol

from .adapters.ecs import EcsGateway, ServiceState
from .adapters.iam import TaskRoleChecker
from .adapters.identity import Identity
from .config import Mode, Settings
from .domain.plan import Decision, Plan, is_managed, plan
from .domain.selection import select_profile, tag_dict
from .errors import AwsError, NotFoundError
from .models.events import ClusterTarget, ServiceTarget, TaskDefinitionTarget, Trigger
from .models.findings import Finding, Status
from .models.profiles import Profile
from .profiles import Catalog

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, finding: Finding) -> str: ...


@dataclass(frozen=True)
class _Context:
    """What every finding of one trigger shares."""

    account: str
    region: str
    trigger: str
    event_id: str | None
    mode: Mode

    def finding(self, status: Status, **fields: Any) -> Finding:
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
    ) -> None:
        self.settings = settings
        self._profiles = profiles
        self._ecs_for = ecs_for
        self._identity = identity
        self._publisher = publisher
        self._task_roles = task_roles

    # -- entry points ---------------------------------------------------------------------------

    def handle(self, trigger: Trigger) -> list[Finding]:
        """Enforce everything one event asks for; publish and return one finding per target."""
        ctx = _Context(
            trigger.account, trigger.region, trigger.name, trigger.event_id, self.settings.enforcement_mode
        )
        if trigger.ignored:
            return [self._report(ctx.finding(Status.IGNORED, reasons=[trigger.ignored]), publish=False)]
        me = self._identity()
        if me.made(trigger.caller_arn, trigger.caller_role_arn):
            reason = "the enforcer's own call (CloudTrail hands it back): nothing to do"
            return [self._report(ctx.finding(Status.IGNORED, reasons=[reason]), publish=False)]
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

    def enforce_service(self, region: str, cluster: str, service: str, *, trigger: str = "manual") -> Finding:
        me = self._identity()
        ctx = _Context(me.account, region, trigger, None, self.settings.enforcement_mode)
        (finding,) = self._target(self._ecs_for(region), ServiceTarget(cluster, service), ctx)
        return self._report(finding)

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
        self, ecs: EcsGateway, state: ServiceState, ctx: _Context, cluster_tags: dict[str, str] | None = None
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
            document = ecs.describe_task_definition(state.task_definition)
            decided = plan(
                document.task_definition,
                document.tags,
                profile,
                self.settings.policy,
                source_arn=document.arn,
            )
            where |= {"family": document.family, "source_task_definition_arn": document.arn}
            if decided.register_input is not None and state.deployment_controller != "ECS":
                return ctx.finding(
                    Status.SKIPPED,
                    **where,
                    **_profile(profile),
                    reasons=[_controller_reason(state.deployment_controller), *decided.reasons],
                )
            finding = self._act(ecs, decided, ctx, where, why)
            if finding.status is Status.REMEDIATED and finding.new_task_definition_arn:
                finding = self._deploy(ecs, state, finding, finding.new_task_definition_arn)
            return finding
        except AwsError as exc:
            status = Status.SKIPPED if isinstance(exc, NotFoundError) else Status.FAILED
            return ctx.finding(status, **where, reasons=[str(exc)])

    def _deploy(self, ecs: EcsGateway, state: ServiceState, finding: Finding, arn: str) -> Finding:
        """UpdateService to the compliant revision, unless the service (re-read now: another event
        may have been handled meanwhile) already runs or rolls it out: never a second deployment."""
        cluster = state.cluster_arn or state.cluster
        current = ecs.describe_service(cluster, state.name)
        if current is not None and current.deploys(arn):
            change = f"service: already runs or deploys {arn}; no second deployment"
        else:
            ecs.deploy(cluster, state.name, arn)
            change = "service: UpdateService with forceNewDeployment"
        return finding.model_copy(update={"changes": [*finding.changes, change]})

    def _task_definition(self, ecs: EcsGateway, target: TaskDefinitionTarget, ctx: _Context) -> Finding:
        document = ecs.describe_task_definition(target.task_definition)
        where = {"family": document.family, "source_task_definition_arn": document.arn}
        if document.task_definition.get("status", "ACTIVE") != "ACTIVE":
            return ctx.finding(Status.SKIPPED, **where, reasons=["the task definition is not ACTIVE"])
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
        so), or the NOT_OPTED_IN / REFUSED finding."""
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
            fields["warnings"] = [*decided.warnings, *self._role_warnings(decided, ctx.account)]
        if decided.register_input is None:
            return ctx.finding(Status(decided.decision.value), **fields, reasons=decided.reasons)
        if ctx.mode is Mode.AUDIT:
            status = Status.NONCOMPLIANT if decided.decision is Decision.MISSING else Status.DRIFTED
            return ctx.finding(status, **fields, reasons=[why, *decided.reasons], changes=decided.changes)
        source = where.get("source_task_definition_arn")
        existing = ecs.find_registered(source, decided.profile.label) if source else None
        if existing:
            changes = [f"reuse {existing}, registered earlier for this source and profile version"]
        else:
            existing = ecs.register(decided.register_input)
            changes = ["RegisterTaskDefinition", *decided.changes]
        return ctx.finding(
            Status.REMEDIATED,
            **fields,
            new_task_definition_arn=existing,
            reasons=[why, *decided.reasons],
            changes=changes,
        )

    def _role_warnings(self, decided: Plan, account: str | None) -> list[str]:
        """What the task role lacks for the sidecar (IAM policy simulator); a failed check is a
        warning too, never a reason to stop."""
        if not decided.permissions or decided.task_role_arn is None or self._task_roles is None:
            return []
        role = decided.task_role_arn
        if not role.startswith("arn:"):  # the API also takes a role's name
            role = f"arn:aws:iam::{account}:role/{role}"
        try:
            denied = self._task_roles().missing(role, decided.permissions)
        except AwsError as exc:
            return [f"could not check the task role's permissions: {exc}"]
        return [
            f"task role {role} lacks {d}: the {decided.profile.name} sidecar cannot export" for d in denied
        ]

    def _report(self, finding: Finding, *, publish: bool = True) -> Finding:
        message = finding.to_message()
        level = logging.ERROR if finding.status is Status.FAILED else logging.INFO
        log.log(level, "%s", finding.status.value, extra={"finding": message})
        if publish and self._publisher is not None:
            try:
                self._publisher.publish(finding)
            except AwsError as exc:  # never undo or block a remediation because SNS failed
                log.error("status not published: %s", exc, extra={"finding": message})
        return finding


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
