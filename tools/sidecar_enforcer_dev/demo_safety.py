"""The demo's safety acts: with the state table, a failed deployment quarantines a service until a
person releases it, and a pipeline that keeps taking the sidecar away is FLAPPING (act two); events
from a member account are enforced there, through its member role (act three)."""

from __future__ import annotations

from typing import Any

import boto3
from sidecar_enforcer.profiles import builtin_profiles

from . import fleet
from .demo_moto import REGION, forced_update, sample_event, snapshot
from .local import Pipeline


def safety(
    app: Pipeline, ecs: Any, before: dict[str, Any], findings: list[dict[str, Any]]
) -> dict[str, bool]:
    """Act two, with the state table: a failed deployment quarantines a service until a person
    releases it; a pipeline that keeps taking the sidecar away is FLAPPING."""
    print("\nSafety (the state table):")
    return _quarantine(app, ecs, before, findings) | _flapping(app, ecs, before)


def _handle(app: Pipeline, label: str, event: dict[str, Any]) -> dict[str, Any]:
    """One event through the pipeline, its one finding printed."""
    found: list[dict[str, Any]] = app.run(event)["findings"]
    (finding,) = found
    print(f"  - {label}\n      {finding['status']}: {finding['reasons'][-1]}")
    if finding.get("release"):
        print(f"      {finding['release']}")
    return finding


def _update(service: str, n: int) -> dict[str, Any]:
    return forced_update(fleet.CLUSTER, service, f"demo-safety-{n}")


def _quarantine(
    app: Pipeline, ecs: Any, before: dict[str, Any], findings: list[dict[str, Any]]
) -> dict[str, bool]:
    """checkout-web's enforcer deployment fails: quarantined, held while quarantined, released."""
    deployed = next(
        (
            f.get("deploymentId")
            for f in findings
            if f.get("service") == "checkout-web" and f.get("deploymentId")
        ),
        None,
    )
    failed_event = sample_event("ecs-deployment-in-progress.json")
    failed_event["id"] = "demo-safety-deployment-failed"
    failed_event["resources"] = [failed_event["resources"][0].replace("nexus-ai-api-prod", "checkout-web")]
    failed_event["detail"].update(
        eventType="ERROR",
        eventName="SERVICE_DEPLOYMENT_FAILED",
        deploymentId=str(deployed),
        reason="ECS deployment circuit breaker: tasks failed to start.",
    )
    failed = _handle(app, "checkout-web: its enforcer deployment FAILED (circuit breaker)", failed_event)
    # The circuit breaker rolls the service back to the revision it ran before (moto does not):
    # the next event finds it without the sidecar, a change the quarantine holds back.
    ecs.update_service(
        cluster=fleet.CLUSTER, service="checkout-web", taskDefinition=before["checkout-web"]["arn"]
    )
    held = _handle(app, "UpdateService checkout-web while quarantined", _update("checkout-web", 1))
    released = app.worker.enforcer().release(REGION, fleet.CLUSTER, "checkout-web")
    print(f"  - sidecar-enforcer release --cluster {fleet.CLUSTER} --service checkout-web")
    print(f"      {released.status.value}: {released.reasons[0]}")
    return {
        "checkout-web's failed deployment quarantined it until a person released it": deployed is not None
        and failed["status"] == "DEPLOYMENT_FAILED"
        and held["status"] == "QUARANTINED"
        and released.status.value == "RELEASED",
    }


def _flapping(app: Pipeline, ecs: Any, before: dict[str, Any]) -> dict[str, bool]:
    """The pipeline puts nexus-ai-api-prod back on its old revision twice: FLAPPING, with the remedy."""
    source = before["nexus-ai-api-prod"]["arn"]
    flapping: dict[str, Any] = {}
    for n in (2, 3):
        ecs.update_service(cluster=fleet.CLUSTER, service="nexus-ai-api-prod", taskDefinition=source)
        flapping = _handle(
            app,
            f"the pipeline puts nexus-ai-api-prod back on {source.rsplit('/', 1)[-1]} (revert {n - 1})",
            _update("nexus-ai-api-prod", n),
        )
    terraform = str(flapping.get("remedy", {}).get("terraform", ""))
    if terraform:
        print("      remedy, for the pipeline's Terraform (also containerDefinitions and CloudFormation):")
        print("".join(f"        {line}\n" for line in terraform.splitlines()), end="")
    running = ecs.describe_services(cluster=fleet.CLUSTER, services=["nexus-ai-api-prod"])["services"][0]
    return {
        "a pipeline reverting nexus-ai-api-prod twice is FLAPPING, named, not redeployed, told what to add": (
            flapping.get("status") == "FLAPPING"
            and "deploy-pipeline" in " ".join(flapping.get("revertedBy", []))
            and running["taskDefinition"] == source
            and 'name              = "jaeger"' in terraform
        ),
    }


MEMBER_ACCOUNT = "222222222222"
MEMBER_REGIONS = ("eu-west-1", "ap-southeast-2")


def member_account(app: Pipeline, hub: boto3.session.Session) -> dict[str, bool]:
    """Act three: events from a member account of the organisation, in two regions other than the
    hub's, are each enforced in that account and region through the member role, and nothing changes
    in the hub, nor in the other region. (moto's server acts in the account whose role was assumed;
    it does not check the role's trust policy, AWS does.)"""
    regions = " and ".join(MEMBER_REGIONS)
    print(f"\nA member account ({MEMBER_ACCOUNT}, {regions}), through its sidecar-enforcer-member role:")
    role = f"arn:aws:iam::{MEMBER_ACCOUNT}:role/sidecar-enforcer-member"
    creds = hub.client("sts").assume_role(RoleArn=role, RoleSessionName="demo-seed")["Credentials"]
    ecs: dict[str, Any] = {}
    for region in MEMBER_REGIONS:
        member = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=region,
        )
        ecs[region] = member.client("ecs")
        fleet.seed(ecs[region], member.client("ec2"), MEMBER_ACCOUNT, builtin_profiles()["jaeger"].container)
    hub_before = snapshot(hub.client("ecs"))
    ok = True
    for n, region in enumerate(MEMBER_REGIONS):
        before = {r: snapshot(ecs[r]) for r in MEMBER_REGIONS}
        (finding,) = app.run(_member_event(region, n))["findings"]
        print(
            f"  - UpdateService of nexus-ai-api-prod in {finding.get('account')} {finding.get('region')}\n"
            f"      {finding['status']}: new revision {finding.get('newTaskDefinitionArn')}"
        )
        after = snapshot(ecs[region])
        others = [r for r in MEMBER_REGIONS if r != region]
        ok = ok and (
            finding["status"] == "REMEDIATED"
            and (finding.get("account"), finding.get("region")) == (MEMBER_ACCOUNT, region)
            and f":{region}:{MEMBER_ACCOUNT}:" in str(finding.get("newTaskDefinitionArn"))
            and "jaeger" not in before[region]["nexus-ai-api-prod"]["containers"]
            and "jaeger" in after["nexus-ai-api-prod"]["containers"]
            and all(snapshot(ecs[r]) == before[r] for r in others)
            and snapshot(hub.client("ecs")) == hub_before
        )
    return {
        f"a member account's events are enforced there ({MEMBER_ACCOUNT}, {regions}), each region "
        "alone, hub untouched": ok
    }


def _member_event(region: str, n: int) -> dict[str, Any]:
    """The sample UpdateService event as the member account's trail delivers it in ``region``."""
    event = sample_event("cloudtrail-updateservice.json")
    event |= {"id": f"demo-member-{n + 1}", "account": MEMBER_ACCOUNT, "region": region}
    detail = event["detail"]
    detail["awsRegion"] = region
    detail["recipientAccountId"] = MEMBER_ACCOUNT
    identity = detail["userIdentity"]
    identity["accountId"] = MEMBER_ACCOUNT
    identity["arn"] = identity["arn"].replace("123456789012", MEMBER_ACCOUNT)
    issuer = identity["sessionContext"]["sessionIssuer"]
    issuer["arn"] = issuer["arn"].replace("123456789012", MEMBER_ACCOUNT)
    return event
