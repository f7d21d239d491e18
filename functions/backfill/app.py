"""Backfill Lambda: invoked by hand (``aws lambda invoke``, ``sam remote invoke``) to bring a fleet
into line. It lists the clusters and services of the accounts and regions asked for and queues one
work item per service on the work queue the event path uses, tagged with a run id; the workers
decide each service as an event would (in audit mode), keep its status in the run and, once the
last one is done, write the report to the report bucket and publish one digest (usecases.runs).

Enforce mode then remediates the services the survey found to change in safe waves
(usecases.run_waves): a small first wave, growing, at most ``perCluster`` deployments of a cluster
in a wave, one wave at a time; each waits, across invocations, for its deployments' verdicts ("ECS
Deployment State Change" events, or the scheduled tick after ``verifySeconds``), and the run stops by
itself when more than ``failureShare`` of a wave failed. A stack deployed in audit mode refuses it
(one line: it would only audit).

Scheduled (``ReconcileSchedule``, an EventBridge "Scheduled Event"), it is the reconciliation: an
audit run over RECONCILE_ACCOUNTS x RECONCILE_REGIONS whose digest is published only when its
findings changed, and whose changes in the enforce scope go to the event path (usecases.reconcile).

Payload (models.backfill): ``{"mode": "audit" | "enforce", "accounts": [...] | "ORGANIZATION",
"regions": [...], "clusters": [...], "profile": "...", "runId": "...", "first": 5, "growth": 2,
"largest": 100, "perCluster": 10, "failureShare": 0.2, "verifySeconds": 1800}``. The answer names
the run: ``{"runId": ..., "queued": N, ...}``; ``sidecar-enforcer backfill-status RUN`` says how far
it is (the phase, and in a wave how many of its services ended).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from sidecar_enforcer.config import Settings
from sidecar_enforcer.handler import Handler
from sidecar_enforcer.models.backfill import ORGANIZATION, BackfillRequest, parse_request
from sidecar_enforcer.usecases.runs import RunRequest
from sidecar_enforcer.wiring import build_run_starter

handler = Handler(Settings.from_env)

# The adapters whose calls this function makes (template.yaml grants exactly their PERMISSIONS:
# tests/unit/test_permissions.py). "member": sts:AssumeRole on the member role of other accounts.
# A run this function finishes itself has no service (none was found): a reconciliation's has no
# change to queue, so the rollout's switches (ssm, organizations' tree) are never read here.
ADAPTERS = ("dynamodb", "identity", "member", "organizations", "s3", "sns", "sqs", "survey")
MEMBER_ADAPTERS = ("survey",)


@handler.logger.inject_lambda_context(log_event=True)
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return start(event)


def start(event: Any) -> dict[str, Any]:
    scheduled = is_scheduled(event)
    request = reconciliation(handler.settings()) if scheduled else parse_request(event)
    starter, organization = build_run_starter(handler.settings(), handler.clients())
    prefix = "rc" if scheduled else "bf"
    run = RunRequest(
        run_id=request.run_id or f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        mode=request.mode,
        places=places(request, organization),
        clusters=tuple(request.clusters or ()),
        profile=request.profile,
        waves=request.waves,
        reconcile=scheduled,
    )
    answer = starter(run)
    handler.logger.info("backfill run %s started: %d service(s) queued", run.run_id, answer["queued"])
    return answer


def is_scheduled(event: Any) -> bool:
    """The reconciliation's schedule (template.yaml, ReconcileSchedule) rather than a person."""
    return (
        isinstance(event, dict)
        and event.get("detail-type") == "Scheduled Event"
        and (event.get("source") == "aws.events")
    )


def reconciliation(config: Settings) -> BackfillRequest:
    """The scheduled audit of the whole scope: RECONCILE_ACCOUNTS x RECONCILE_REGIONS."""
    accounts: Any = None
    if config.reconcile_accounts == ORGANIZATION:
        accounts = ORGANIZATION
    elif config.reconcile_accounts:
        accounts = config.reconcile_accounts.split(",")
    regions = config.reconcile_regions.split(",") if config.reconcile_regions else None
    return parse_request({"mode": "audit", "accounts": accounts, "regions": regions})


def places(request: BackfillRequest, organization: Any) -> tuple[tuple[str, str], ...]:
    if request.accounts == "ORGANIZATION":
        accounts = organization()
    elif request.accounts:
        accounts = list(request.accounts)
    else:
        from sidecar_enforcer.adapters.identity import caller_identity

        accounts = [caller_identity(handler.clients().client("sts")).account]
    regions = request.regions or [os.environ.get("AWS_REGION", "us-east-1")]
    return tuple((a, r) for a in accounts for r in regions)
