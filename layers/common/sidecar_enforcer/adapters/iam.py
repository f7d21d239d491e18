"""IAM's policy simulator: does a task role allow what a profile's sidecar needs?

SimulatePrincipalPolicy evaluates the role's identity policies (and permissions boundary) for each
action on the given resources; ``EvalDecision`` is ``allowed``, ``explicitDeny`` or ``implicitDeny``
(IAM API reference). Resource policies and SCPs are not part of it, so an ``allowed`` is necessary,
not sufficient. IAM action used: ``PERMISSIONS``, on the task roles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .aws import pages

PERMISSIONS = ("iam:SimulatePrincipalPolicy",)

TTL_SECONDS = 300.0  # role policies change rarely; a warm Lambda container re-checks after this


class TaskRoleChecker:
    def __init__(self, client: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, list[str]]] = {}

    def missing(self, role_arn: str, permissions: Sequence[tuple[str, str]]) -> list[str]:
        """'action on resource (decision)' for every permission the role does not grant."""
        key = (role_arn, tuple(permissions))
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < TTL_SECONDS:
            return cached[1]
        by_resource: dict[str, list[str]] = {}
        for action, resource in permissions:
            by_resource.setdefault(resource, []).append(action)
        denied: list[str] = []
        for resource, actions in by_resource.items():
            for page in pages(
                "SimulatePrincipalPolicy",
                self._client,
                "simulate_principal_policy",
                PolicySourceArn=role_arn,
                ActionNames=actions,
                ResourceArns=[resource],
            ):
                for result in page.get("EvaluationResults", []):
                    if result.get("EvalDecision") != "allowed":
                        denied.append(
                            f"{result['EvalActionName']} on {resource} ({result.get('EvalDecision')})"
                        )
        self._cache[key] = (self._clock(), denied)
        return denied
