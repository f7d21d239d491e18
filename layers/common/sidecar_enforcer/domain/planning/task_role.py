"""The task's role as a plan reports it: its ARN, the permissions the profile's sidecar needs of it,
and what a person should know (no task role, or a role the enforcer neither simulates nor assumes
because it lives in another account or partition)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ecs.arns import ROLES_STAY_HOME, Arn, foreign_role
from .profile import Profile


@dataclass(frozen=True)
class TaskRole:
    """The task's role, what the profile's sidecar needs of it, and what a person should know when
    the task has none."""

    arn: str | None
    needs: list[tuple[str, str]]
    warnings: list[str]


def task_role(
    request: dict[str, Any], profile: Profile, values: dict[str, str], source: Arn | None
) -> TaskRole:
    """The permissions the sidecar needs of the task role, and what a person should know: no task
    role, or a role of another account or partition than the task definition's (``source``), which
    the enforcer neither simulates nor assumes there."""
    role = request.get("taskRoleArn") if isinstance(request.get("taskRoleArn"), str) else None
    warnings = []
    foreign_task_role = False
    for member, what in (("taskRoleArn", "task role"), ("executionRoleArn", "execution role")):
        named = request.get(member)
        why = (
            foreign_role(named, source.partition, source.account)
            if source and isinstance(named, str)
            else None
        )
        if why is None:
            continue
        unchecked = ""
        if member == "taskRoleArn" and profile.task_role_permissions:
            foreign_task_role = True
            unchecked = f"; what the {profile.name} sidecar needs of it is not checked"
        warnings.append(f"{what} {named} {why}: {ROLES_STAY_HOME}{unchecked}")
    checked = role and not foreign_task_role
    needs = (
        [(p.action, profile.resources(p, values)) for p in profile.task_role_permissions] if checked else []
    )
    if profile.task_role_permissions and not role:
        actions = ", ".join(sorted({p.action for p in profile.task_role_permissions}))
        warnings.append(
            f"the task has no taskRoleArn: the {profile.name} sidecar cannot call AWS; "
            f"give the task a role allowing {actions}"
        )
    return TaskRole(role, needs, warnings)
