"""What the enforcer concludes about a service or task definition: the status every finding carries."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    COMPLIANT = "COMPLIANT"  # the sidecar is present and matches its profile
    DRIFTED = "DRIFTED"  # the sidecar is present but differs from its profile (upgrade off, or in audit)
    REMEDIATED = "REMEDIATED"  # a compliant revision was registered (and the service redeployed)
    NONCOMPLIANT = "NONCOMPLIANT"  # audit mode: the sidecar is missing; `changes` says what would change
    REFUSED = "REFUSED"  # the sidecar cannot be added safely; `reasons` says why
    SKIPPED = "SKIPPED"  # opted in, but the enforcer must not act (deployment controller, inactive service)
    NOT_OPTED_IN = "NOT_OPTED_IN"  # no opt-in tag, or opted out
    IGNORED = "IGNORED"  # the event concerns no service to enforce (the enforcer's own call, a failed call)
    FAILED = "FAILED"  # an AWS call failed; a work item is retried and finally dead-lettered
    VERIFIED = "VERIFIED"  # the enforcer's deployment completed and every new task runs the sidecar
    DEPLOYMENT_FAILED = (
        "DEPLOYMENT_FAILED"  # it failed or rolled back, or a task lacks the sidecar: quarantined
    )
    FLAPPING = "FLAPPING"  # something keeps taking the sidecar away again: quarantined
    QUARANTINED = "QUARANTINED"  # left alone until a person releases it; `release` says how
    RELEASED = "RELEASED"  # a person released the service from quarantine


# Outcomes that change nothing and ask nothing of a person: logged and counted, published only when
# the settings ask for everything (PUBLISH_ROUTINE). IGNORED is never published.
ROUTINE = frozenset({Status.COMPLIANT, Status.NOT_OPTED_IN})


# The outcomes a person follows per account (the dashboard's per-account widgets): each is also
# counted with an ``account`` dimension, besides the stack-wide count the alarms watch.
PER_ACCOUNT = frozenset(
    {
        Status.REMEDIATED,
        Status.REFUSED,
        Status.FAILED,
        Status.QUARANTINED,
        Status.FLAPPING,
        Status.DEPLOYMENT_FAILED,
    }
)


def metric_name(status: Status) -> str:
    """The CloudWatch metric counting a status (the alarms and the dashboard name them so):
    DEPLOYMENT_FAILED is DeploymentFailed."""
    return status.value.title().replace("_", "")
