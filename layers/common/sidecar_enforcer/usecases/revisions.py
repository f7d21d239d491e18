"""What enforcing a service and enforcing a task definition share: the fields a plan puts in its
finding, the task role check, and the exactly-once registration of the compliant revision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..domain.ecs.arns import ROLES_STAY_HOME, foreign_role, role_arn
from ..domain.planning.plan import Decision, Plan
from ..domain.planning.policy import Policy
from ..domain.planning.profile import Profile
from ..domain.planning.remedy import remedy
from ..domain.safety import records
from ..errors import AwsError
from ..ledger import Ledger
from ..models.findings import Remedy, Status
from .ports import Ecs, TaskRoles
from .scope import Scope

# The statuses that ask a person to add the sidecar themselves: a pipeline that keeps taking it away
# (FLAPPING), a sidecar that differs from its profile (DRIFTED), a deployment controller the
# enforcer cannot deploy through (SKIPPED), audit mode (NONCOMPLIANT), and a refusal that only the
# enforcer's own policy or markers cause (REFUSED; domain.planning.remedy decides which).
REMEDIED = frozenset({Status.FLAPPING, Status.DRIFTED, Status.SKIPPED, Status.NONCOMPLIANT, Status.REFUSED})


def remedy_fields(
    status: Status, task_definition: dict[str, Any], plan: Plan, policy: Policy, *, shipped: bool
) -> dict[str, Any]:
    """The finding's ``remedy`` when its status asks a person to act and adding the sidecar by hand
    cures it: what to add to ``task_definition`` (the revision the service or pipeline runs)."""
    if status not in REMEDIED:
        return {}
    found = remedy(task_definition, plan, policy, shipped=shipped)
    return {} if found is None else {"remedy": Remedy.model_validate(found.to_json())}


def profile_fields(profile: Profile) -> dict[str, str]:
    return {"profile": profile.name, "profile_version": profile.version}


class Revisions:
    def __init__(self, ledger: Ledger, task_roles: Callable[[str], TaskRoles]) -> None:
        """``task_roles(account)``: the policy simulator in that account, asked only for the task's
        own account."""
        self._ledger = ledger
        self._task_roles = task_roles

    def fields(self, plan: Plan, scope: Scope) -> dict[str, Any]:
        """The finding's fields a plan decides: profile, sizes, warnings (the task role's included)."""
        fields: dict[str, Any] = profile_fields(plan.profile)
        if plan.resize is not None:
            fields |= {"old_task_size": plan.resize[0], "new_task_size": plan.resize[1]}
        if plan.decision is not Decision.REFUSED:
            fields["warnings"] = [*plan.warnings, *self._role_warnings(plan, scope)]
        return fields

    def compliant(self, ecs: Ecs, plan: Plan, source: str | None) -> tuple[str, list[str]]:
        """The compliant revision of ``source`` for the plan's profile version, registered once
        across every invocation (the source record's conditional write), and what was done."""
        request = plan.register_input
        assert request is not None
        label = plan.profile.label
        if source is None:  # a document ECS did not describe (no ARN): nothing to share it with
            return ecs.register(request), ["RegisterTaskDefinition", *plan.changes]
        arn, reused = self._ledger.compliant_revision(
            source,
            label,
            find=lambda: ecs.find_registered(source, label),
            register=lambda: ecs.register(request),
            usable=lambda arn: records.deployable(ecs.task_definition_status(arn)),
        )
        if reused:
            return arn, [f"reuse {arn}, registered earlier for this source and profile version"]
        return arn, ["RegisterTaskDefinition", *plan.changes]

    def _role_warnings(self, plan: Plan, scope: Scope) -> list[str]:
        """What the task role lacks for the sidecar (IAM's policy simulator, in the task's own
        account); a failed check is a warning too, never a reason to stop. A role of another account
        or partition is reported, never simulated or assumed there."""
        if not plan.permissions or plan.task_role_arn is None:
            return []
        role = role_arn(plan.task_role_arn, scope.partition, scope.account)
        why = foreign_role(role, scope.partition, scope.account)
        if why is not None:
            unchecked = f"what the {plan.profile.name} sidecar needs of it is not checked"
            return [f"task role {role} {why}: {ROLES_STAY_HOME}; {unchecked}"]
        try:
            denied = self._task_roles(scope.account).missing(role, plan.permissions)
        except AwsError as exc:
            return [f"could not check the task role's permissions: {exc}"]
        return [f"task role {role} lacks {d}: the {plan.profile.name} sidecar cannot export" for d in denied]
