"""``sidecar-enforcer demo``: the main job against moto's server on a free 127.0.0.1 port.

Seeds a small fleet (see ``fleet``), replays real-shaped EventBridge events from ``events/``
through the router, the SQS FIFO work queue and the worker over HTTP (``local.Pipeline``), prints
a before/after table and the SNS messages, checks the outcome, and shuts the server down. Exit 0
when every check holds.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3
from sidecar_enforcer.adapters.dynamodb import create_table
from sidecar_enforcer.errors import EnforcerError
from sidecar_enforcer.profiles import builtin_profiles

from . import fleet
from .local import (
    LOCAL_TABLE,
    LOCAL_TOPIC,
    Pipeline,
    SlackStandIn,
    create_work_queue,
    lambda_context,
    load_function,
    project_root,
    queue_arn,
    subscribe_queue,
)

REGION = "us-east-1"
JAEGER_IMAGE = builtin_profiles()["jaeger"].image


def _snapshot(ecs: Any) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    names = sorted(fleet_services(ecs))
    for svc in ecs.describe_services(cluster=fleet.CLUSTER, services=names, include=["TAGS"])["services"]:
        td = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        tags = {t["key"]: t["value"] for t in svc.get("tags", [])}
        rows[svc["serviceName"]] = {
            "tag": tags.get("tracing-sidecar", "-"),
            "revision": f"{td['family']}:{td['revision']}",
            "arn": td["taskDefinitionArn"],
            "containers": ", ".join(c["name"] for c in td["containerDefinitions"]),
            "controller": (svc.get("deploymentController") or {}).get("type", "ECS"),
            "size": f"{td.get('cpu')}/{td.get('memory')}",
            "images": ", ".join(c["image"] for c in td["containerDefinitions"]),
        }
    return rows


def fleet_services(ecs: Any) -> list[str]:
    return [arn.rsplit("/", 1)[-1] for arn in ecs.list_services(cluster=fleet.CLUSTER)["serviceArns"]]


def _table(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> str:
    head = ("service", "tracing-sidecar", "controller", "before (cpu/memory)", "after (cpu/memory)")
    rows = [
        (
            name,
            before[name]["tag"],
            before[name]["controller"],
            f"{before[name]['revision']} {before[name]['size']} [{before[name]['containers']}]",
            f"{after[name]['revision']} {after[name]['size']} [{after[name]['containers']}]",
        )
        for name in sorted(before)
    ]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))

    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)])


def _events(identity_arn: str) -> list[tuple[str, Any]]:
    folder = project_root() / "events"

    def load(name: str) -> Any:
        return json.loads((folder / name).read_text(encoding="utf-8"))

    update = load("cloudtrail-updateservice.json")
    untagged = copy.deepcopy(update)
    untagged["id"] = "demo-untagged-service-update"
    untagged["detail"]["requestParameters"]["service"] = "billing-worker"
    compliant = copy.deepcopy(load("cloudtrail-tagresource-service.json"))
    compliant["detail"]["requestParameters"]["resourceArn"] = compliant["detail"]["requestParameters"][
        "resourceArn"
    ].replace("nexus-ai-api-prod", "search-gateway")

    def update_of(service: str) -> Any:
        copied = copy.deepcopy(update)
        copied["id"] = f"demo-update-{service}"
        copied["detail"]["requestParameters"]["service"] = service
        return copied

    own = copy.deepcopy(update)
    own["id"] = "demo-enforcer-own-call"
    own["detail"]["userIdentity"] = {"type": "AssumedRole", "arn": identity_arn}
    return [
        ("UpdateService nexus-ai-api-prod (deploy pipeline)", update),
        ("ECS deployment IN_PROGRESS nexus-ai-api-prod", load("ecs-deployment-in-progress.json")),
        ("UpdateService billing-worker (untagged)", untagged),
        ("TagResource search-gateway (already has Jaeger)", compliant),
        ("UpdateService payments-legacy (CODE_DEPLOY)", load("cloudtrail-updateservice-codedeploy.json")),
        ("UpdateService checkout-web (Fargate 256/512, no room)", update_of("checkout-web")),
        ("UpdateService catalog-search (Jaeger v1 by hand)", update_of("catalog-search")),
        ("UpdateService by the enforcer itself (loop guard)", own),
        ("UpdateService without 'service' (malformed)", load("malformed-updateservice-without-service.json")),
    ]


def run() -> int:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            AWS_ACCESS_KEY_ID="demo",
            AWS_SECRET_ACCESS_KEY="demo",  # noqa: S106 - moto accepts any key
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
        )
        print(f"moto server on http://{host}:{port} (AWS_ENDPOINT_URL)\n")
        return _run()
    finally:
        server.stop()


def _run() -> int:
    session = boto3.session.Session(region_name=REGION)
    ecs, sns, sqs = session.client("ecs"), session.client("sns"), session.client("sqs")
    identity = session.client("sts").get_caller_identity()
    account = identity["Account"]
    fleet.seed(ecs, session.client("ec2"), account, builtin_profiles()["jaeger"].container)
    topic = sns.create_topic(Name=LOCAL_TOPIC)["TopicArn"]
    inbox = sqs.create_queue(QueueName="demo-status-inbox")["QueueUrl"]
    subscribe_queue(sns, sqs, topic, inbox, raw=True)
    os.environ["STATUS_TOPIC_ARN"] = topic
    notifier_queue = _notifier_queue(sns, sqs, topic)
    create_table(session.client("dynamodb"), LOCAL_TABLE)
    os.environ["STATE_TABLE_NAME"] = LOCAL_TABLE
    os.environ["WORK_QUEUE_URL"] = create_work_queue(sqs)
    session.client("s3").create_bucket(Bucket=REPORTS)  # the stack's ReportBucket (backfill reports)
    os.environ["REPORT_BUCKET"] = REPORTS
    # The demo's policy: grow tasks that are too small (the default) and upgrade drifted sidecars;
    # a service whose sidecar is taken away more than once in an hour is FLAPPING.
    os.environ.update(GROW_TASK_SIZE="true", UPGRADE_DRIFTED="true", MAX_REVERTS="1")
    print(
        "Policy: GROW_TASK_SIZE=true UPGRADE_DRIFTED=true (the default upgrades nothing), MAX_REVERTS=1 "
        f"(default 3); state table {LOCAL_TABLE}\n"
    )

    before = _snapshot(ecs)
    app = Pipeline(sqs=sqs)
    print("Events replayed through functions/router, the work queue and functions/worker:")
    outcomes: list[str] = []
    findings: list[dict[str, Any]] = []
    for label, event in _events(identity["Arn"]):
        try:
            result = app.run(event)
            findings.extend(result["findings"])
            summary = "; ".join(
                f"{f['status']} {f.get('service') or f.get('family') or ''}".strip()
                for f in result["findings"]
            )
        except EnforcerError as exc:
            summary = (
                f"{type(exc).__name__}: {exc} -> Lambda retries, then the dead-letter queue keeps the event"
            )
        outcomes.append(summary)
        print(f"  - {label}\n      {summary}")
    after = _snapshot(ecs)
    print("\nServices in cluster " + fleet.CLUSTER + ":\n" + _table(before, after))

    safety = _safety(app, ecs, before, findings)
    safety |= _member_account(app, session)
    messages = _drain(sqs, inbox)
    routine = sum(f["status"] in ("COMPLIANT", "NOT_OPTED_IN") for f in findings)
    print(
        f"\nSNS status messages ({len(messages)}; the act one's {routine} routine outcome(s), COMPLIANT "
        "and NOT_OPTED_IN, are logged and counted, not published: PUBLISH_ROUTINE=true publishes them):"
    )
    bodies = [json.loads(m["Body"]) for m in messages]
    for body in bodies:
        where = f"{body.get('cluster', '')}/{body.get('service', '')}"
        print(f"  {body['status']:<17} {where}: {body['reasons'][0]}")
        if body["status"] == "REMEDIATED":
            print(f"  {'':<17} new revision {body['newTaskDefinitionArn']}")
            print(f"  {'':<17} {body['changes'][1] if len(body['changes']) > 1 else body['changes'][0]}")
        if body.get("newTaskSize"):
            print(f"  {'':<17} task size {body['oldTaskSize']} -> {body['newTaskSize']}")
    if bodies:
        attrs = {k: v["StringValue"] for k, v in messages[0].get("MessageAttributes", {}).items()}
        print(f"  message attributes (for filter policies), e.g.: {attrs}")
    safety |= _notifications(session, notifier_queue, len(bodies))
    safety |= _backfill(session, app, inbox)
    safety |= _rollout(session, inbox)
    return _check(before, after, bodies, findings, outcomes, safety)


def _safety(
    app: Pipeline, ecs: Any, before: dict[str, Any], findings: list[dict[str, Any]]
) -> dict[str, bool]:
    """Act two, with the state table: a failed deployment quarantines a service until a person
    releases it; a pipeline that keeps taking the sidecar away is FLAPPING."""
    print("\nSafety (the state table):")
    folder = project_root() / "events"
    deployed = next(
        (
            f.get("deploymentId")
            for f in findings
            if f.get("service") == "checkout-web" and f.get("deploymentId")
        ),
        None,
    )

    def handle(label: str, event: dict[str, Any]) -> dict[str, Any]:
        found: list[dict[str, Any]] = app.run(event)["findings"]
        (finding,) = found
        print(f"  - {label}\n      {finding['status']}: {finding['reasons'][-1]}")
        if finding.get("release"):
            print(f"      {finding['release']}")
        return finding

    def update(service: str, n: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (folder / "cloudtrail-updateservice.json").read_text(encoding="utf-8")
        )
        data["id"] = f"demo-safety-{n}"
        # A forced redeployment: an UpdateService that only scales is noise, dropped by the rule.
        data["detail"]["requestParameters"] = {
            "cluster": fleet.CLUSTER,
            "service": service,
            "forceNewDeployment": True,
        }
        return data

    failed_event: dict[str, Any] = json.loads(
        (folder / "ecs-deployment-in-progress.json").read_text(encoding="utf-8")
    )
    failed_event["id"] = "demo-safety-deployment-failed"
    failed_event["resources"] = [failed_event["resources"][0].replace("nexus-ai-api-prod", "checkout-web")]
    failed_event["detail"].update(
        eventType="ERROR",
        eventName="SERVICE_DEPLOYMENT_FAILED",
        deploymentId=str(deployed),
        reason="ECS deployment circuit breaker: tasks failed to start.",
    )
    failed = handle("checkout-web: its enforcer deployment FAILED (circuit breaker)", failed_event)
    # The circuit breaker rolls the service back to the revision it ran before (moto does not):
    # the next event finds it without the sidecar, a change the quarantine holds back.
    ecs.update_service(
        cluster=fleet.CLUSTER, service="checkout-web", taskDefinition=before["checkout-web"]["arn"]
    )
    held = handle("UpdateService checkout-web while quarantined", update("checkout-web", 1))
    released = app.worker.enforcer().release(REGION, fleet.CLUSTER, "checkout-web")
    print(f"  - sidecar-enforcer release --cluster {fleet.CLUSTER} --service checkout-web")
    print(f"      {released.status.value}: {released.reasons[0]}")

    source = before["nexus-ai-api-prod"]["arn"]
    flapping: dict[str, Any] = {}
    for n in (2, 3):
        ecs.update_service(cluster=fleet.CLUSTER, service="nexus-ai-api-prod", taskDefinition=source)
        flapping = handle(
            f"the pipeline puts nexus-ai-api-prod back on {source.rsplit('/', 1)[-1]} (revert {n - 1})",
            update("nexus-ai-api-prod", n),
        )
    terraform = str(flapping.get("remedy", {}).get("terraform", ""))
    if terraform:
        print("      remedy, for the pipeline's Terraform (also containerDefinitions and CloudFormation):")
        print("".join(f"        {line}\n" for line in terraform.splitlines()), end="")
    running = ecs.describe_services(cluster=fleet.CLUSTER, services=["nexus-ai-api-prod"])["services"][0]
    return {
        "checkout-web's failed deployment quarantined it until a person released it": deployed is not None
        and failed["status"] == "DEPLOYMENT_FAILED"
        and held["status"] == "QUARANTINED"
        and released.status.value == "RELEASED",
        "a pipeline reverting nexus-ai-api-prod twice is FLAPPING, named, not redeployed, told what to add": (
            flapping.get("status") == "FLAPPING"
            and "deploy-pipeline" in " ".join(flapping.get("revertedBy", []))
            and running["taskDefinition"] == source
            and 'name              = "jaeger"' in terraform
        ),
    }


MEMBER_ACCOUNT = "222222222222"
MEMBER_REGIONS = ("eu-west-1", "ap-southeast-2")


def _member_account(app: Pipeline, hub: boto3.session.Session) -> dict[str, bool]:
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
    hub_before = _snapshot(hub.client("ecs"))
    ok = True
    for n, region in enumerate(MEMBER_REGIONS):
        before = {r: _snapshot(ecs[r]) for r in MEMBER_REGIONS}
        (finding,) = app.run(_member_event(region, n))["findings"]
        print(
            f"  - UpdateService of nexus-ai-api-prod in {finding.get('account')} {finding.get('region')}\n"
            f"      {finding['status']}: new revision {finding.get('newTaskDefinitionArn')}"
        )
        after = _snapshot(ecs[region])
        others = [r for r in MEMBER_REGIONS if r != region]
        ok = ok and (
            finding["status"] == "REMEDIATED"
            and (finding.get("account"), finding.get("region")) == (MEMBER_ACCOUNT, region)
            and f":{region}:{MEMBER_ACCOUNT}:" in str(finding.get("newTaskDefinitionArn"))
            and "jaeger" not in before[region]["nexus-ai-api-prod"]["containers"]
            and "jaeger" in after["nexus-ai-api-prod"]["containers"]
            and all(_snapshot(ecs[r]) == before[r] for r in others)
            and _snapshot(hub.client("ecs")) == hub_before
        )
    return {
        f"a member account's events are enforced there ({MEMBER_ACCOUNT}, {regions}), each region "
        "alone, hub untouched": ok
    }


def _member_event(region: str, n: int) -> dict[str, Any]:
    """The sample UpdateService event as the member account's trail delivers it in ``region``."""
    event: dict[str, Any] = json.loads(
        (project_root() / "events" / "cloudtrail-updateservice.json").read_text(encoding="utf-8")
    )
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


LEGACY = "shop-legacy"
REPORTS = "demo-sidecar-enforcer-reports"


def _backfill(session: boto3.session.Session, app: Pipeline, inbox: str) -> dict[str, bool]:
    """Act five: a fleet that existed before the enforcer (a cluster opted in by its tag, six
    services without the sidecar) brought into line by a backfill: audited, then remediated in
    waves that wait for verification (ECS's rollout played on moto by rollouts.Settler); and the
    backfill function's run in AWS, which ends in one digest and a report in S3."""
    from .rollouts import Settler

    def cli(args: list[str]) -> int:
        """The command as a person runs it (a process of its own), against this moto server."""
        done = subprocess.run(  # noqa: S603 - our own command line, fixed arguments
            [sys.executable, "-m", "sidecar_enforcer_dev.cli", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        print("\n".join(f"    {line}" for line in done.stdout.strip().splitlines()))
        if done.returncode:
            print("    " + (done.stderr.strip().splitlines() or ["(no message)"])[-1])
        return done.returncode

    ecs = session.client("ecs")
    account = session.client("sts").get_caller_identity()["Account"]
    _opted_in_cluster(ecs, LEGACY, "legacy", 6)
    print(f"\nBackfill: cluster {LEGACY}, opted in by its tag, with 6 services that predate the enforcer:")
    with tempfile.TemporaryDirectory(prefix="demo-backfill-") as tmp:
        audit_report, enforce_report = Path(tmp) / "audit.json", Path(tmp) / "enforce.md"
        common = ["backfill", "--clusters", LEGACY, "--no-plans"]
        print("  $ sidecar-enforcer backfill --mode audit --clusters shop-legacy --report audit.json")
        audited = cli([*common, "--mode", "audit", "--report", str(audit_report)])
        audit = json.loads(audit_report.read_text(encoding="utf-8"))
        print(
            "  $ sidecar-enforcer backfill --mode enforce --clusters shop-legacy --first-wave 2 "
            "--report enforce.md"
        )
        with Settler(account, REGION, interval=0.05):
            enforced = cli(
                [
                    *common,
                    "--mode",
                    "enforce",
                    "--first-wave",
                    "2",
                    "--poll",
                    "0.1",
                    "--report",
                    str(enforce_report),
                ]
            )
        markdown = enforce_report.read_text(encoding="utf-8")
    print("  the enforce run's report (Markdown), its waves:")
    print(
        "\n".join(
            f"    {line}" for line in markdown.split("## Waves", 1)[1].split("##", 1)[0].strip().splitlines()
        )
    )

    bucket = os.environ["REPORT_BUCKET"]
    function = load_function("backfill")
    answer = function.lambda_handler({"mode": "audit", "runId": "demo-backfill"}, lambda_context("backfill"))
    drained = app.drain()
    sqs = session.client("sqs")
    digests = [json.loads(m["Body"]) for m in _drain(sqs, inbox) if '"backfill-digest"' in m["Body"]]
    print(
        f'\n  functions/backfill {{"mode": "audit"}}: run {answer["runId"]}, '
        f"{answer['queued']} service item(s) queued; the workers took {drained.delivered}"
    )
    print(f"  status messages the three backfill runs published: {len(digests)} digest(s), one per run")
    ours = [d for d in digests if d.get("runId") == answer["runId"]]
    digest = ours[0] if ours else {}
    if digest:
        print(
            f"  its digest: {digest['services']} services {digest['totals']}; "
            f"report {digest['report'].get('html')}"
        )
    stored = (
        session.client("s3")
        .list_objects_v2(Bucket=bucket, Prefix="backfill/demo-backfill/")
        .get("Contents", [])
    )
    legacy_after = _snapshot_cluster(ecs, LEGACY)
    return {
        "a backfill audit found the 6 legacy services NONCOMPLIANT and changed nothing": audited == 0
        and sum(r["status"] == "NONCOMPLIANT" for r in audit["results"] if r.get("cluster") == LEGACY) == 6,
        "a backfill in waves (2, then 4) remediated and VERIFIED all 6": enforced == 0
        and "| 1 | 2 | 2 | 0 |" in markdown
        and "| 2 | 4 | 4 | 0 |" in markdown
        and all("jaeger" in c for c in legacy_after.values()),
        "each backfill run published one digest; the function's run a report in S3 too": len(digests) == 3
        and len(ours) == 1
        and answer["queued"] == drained.delivered
        and {o["Key"].rsplit("/", 1)[-1] for o in stored} == {"report.json", "report.html"},
    }


ROLLOUT = "shop-rollout"
STOP = "/sidecar-enforcer/stop"
ROLLOUT_POLICY = "/sidecar-enforcer/rollout"


class _Clock:
    """The containers' clock for the switches' 30-second cache, moved on by hand (the demo does not
    wait)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _rollout(session: boto3.session.Session, inbox: str) -> dict[str, bool]:
    """Act six: the rollout. An OU of the organisation switched from audit to enforce in the rollout
    policy (an SSM parameter, no deploy); then the stop switch thrown in the middle of a backfill
    run's waves: the next wave is held and an event is decided in audit, "stopped"; released, the
    tick resumes the run to its end."""
    import sidecar_enforcer.usecases.rollout as rollout_module

    from . import rollouts

    rollouts.install()
    ecs, ssm, sqs = session.client("ecs"), session.client("ssm"), session.client("sqs")
    org = session.client("organizations")
    account = session.client("sts").get_caller_identity()["Account"]
    clock = _Clock()
    rollout_module.now = clock  # the demo moves the cache's clock on

    def throw(name: str, value: str, what: str) -> None:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
        clock.now += 31  # past every container's cache (30 s)
        print(f"  $ aws ssm put-parameter --name {name} --value '{value}' --overwrite   # {what}")

    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    platform = org.create_organizational_unit(ParentId=root, Name="platform")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=platform)
    _opted_in_cluster(ecs, ROLLOUT, "api", 4)
    rollouts.settle(account, REGION)  # their own first deployments ended
    print(f"\nRoll out: account {account} in OU {platform} (moto's Organizations), cluster {ROLLOUT}:")
    throw(ROLLOUT_POLICY, json.dumps({"modes": {root: "enforce", platform: "audit"}}), "the OU audits")
    os.environ.update(ROLLOUT_PARAMETER=ROLLOUT_POLICY, STOP_SWITCH_PARAMETER=STOP)
    app = Pipeline(sqs=sqs)  # containers started with the switches configured

    def update(service: str, n: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (project_root() / "events" / "cloudtrail-updateservice.json").read_text(encoding="utf-8")
        )
        data["id"] = f"demo-rollout-{n}"
        params = {"cluster": ROLLOUT, "service": service, "forceNewDeployment": True}
        data["detail"]["requestParameters"] = params
        return data

    def show(label: str, finding: dict[str, Any]) -> dict[str, Any]:
        print(f"  - {label}\n      {finding['status']} ({finding.get('mode')}): {finding['reasons'][-1]}")
        return finding

    (audited,) = app.run(update("api-0", 1))["findings"]
    show("UpdateService api-0 while its OU audits", audited)
    throw(ROLLOUT_POLICY, json.dumps({"modes": {root: "audit", platform: "enforce"}}), "the OU enforces")
    (enforced,) = app.run(update("api-0", 2))["findings"]
    show("UpdateService api-0 once its OU enforces", enforced)
    rollouts.settle(account, REGION)
    for name in ("api-0",):
        app.run(_ended_event(ecs, ROLLOUT, name))

    backfill = load_function("backfill")
    waves = {"first": 2, "growth": 1, "perCluster": 2}
    request = {"mode": "enforce", "runId": "demo-rollout", "clusters": [ROLLOUT], **waves}
    answer = backfill.lambda_handler(request, lambda_context("backfill"))
    app.drain()  # the survey; wave 1 queued and deploying
    first = _deploying(ecs, ROLLOUT)
    print(f"  functions/backfill {json.dumps(request)}: wave 1 deploys {sorted(first)}")
    throw(STOP, "on", "the stop switch, in the middle of the run")
    waiting = sorted(set(_snapshot_cluster(ecs, ROLLOUT)) - first - {"api-0"})[0]  # in a later wave
    (stopped,) = app.run(update(waiting, 3))["findings"]
    show(f"UpdateService {waiting} while stopped", stopped)
    for name in rollouts.settle(account, REGION):  # wave 1's deployments end: wave 2 is held
        app.run(_ended_event(ecs, ROLLOUT, name.split("/")[1]))
    app.run(_tick("demo-rollout-tick-1"))
    held = _deploying(ecs, ROLLOUT)
    print(f"  wave 1 verified; the tick holds wave 2: deploying now {sorted(held) or 'nothing'}")
    throw(STOP, "off", "released")
    app.run(_tick("demo-rollout-tick-2"))
    second = _deploying(ecs, ROLLOUT)
    print(f"  the next tick resumes the run: wave 2 deploys {sorted(second)}")
    for name in rollouts.settle(account, REGION):
        app.run(_ended_event(ecs, ROLLOUT, name.split("/")[1]))
    digests = [json.loads(m["Body"]) for m in _drain(sqs, inbox) if '"backfill-digest"' in m["Body"]]
    digest: dict[str, Any] = next((d for d in digests if d.get("runId") == answer["runId"]), {})
    print(f"  the run's digest: {digest.get('totals')}")
    after = _snapshot_cluster(ecs, ROLLOUT)
    for name in ("ROLLOUT_PARAMETER", "STOP_SWITCH_PARAMETER"):
        os.environ.pop(name, None)
    return {
        "an OU switched from audit to enforce in the rollout policy: audited, then remediated": (
            (audited["status"], audited["mode"]) == ("NONCOMPLIANT", "audit")
            and platform in audited["reasons"][-1]
            and (enforced["status"], enforced["mode"]) == ("REMEDIATED", "enforce")
        ),
        "the stop switch held a run's next wave and an event said stopped; released, the run ended": (
            (stopped["status"], stopped["mode"]) == ("NONCOMPLIANT", "audit")
            and stopped["reasons"][-1].startswith("stopped")
            and len(first) == 2
            and not held
            and len(second) == 1
            and digest.get("totals") == {"COMPLIANT": 1, "VERIFIED": 3}  # api-0: the OU's event did it
            and all("jaeger" in c for c in after.values())
        ),
    }


def _deploying(ecs: Any, cluster: str) -> set[str]:
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    return {
        svc["serviceName"]
        for svc in ecs.describe_services(cluster=cluster, services=arns)["services"]
        if any(d.get("rolloutState") == "IN_PROGRESS" for d in svc["deployments"])
    }


def _ended_event(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """The "ECS Deployment State Change" event of a service's PRIMARY deployment, once it ended, as
    EventBridge delivers it (moto sends none)."""
    svc = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    primary = next(d for d in svc["deployments"] if d["status"] == "PRIMARY")
    data: dict[str, Any] = json.loads(
        (project_root() / "events" / "ecs-deployment-in-progress.json").read_text(encoding="utf-8")
    )
    data["id"] = f"demo-ended-{primary['id']}"
    data["resources"] = [svc["serviceArn"]]
    data["detail"].update(
        eventName=f"SERVICE_DEPLOYMENT_{primary['rolloutState']}",
        deploymentId=primary["id"],
        reason=primary.get("rolloutStateReason", ""),
    )
    return data


def _tick(event_id: str) -> dict[str, Any]:
    """The router's scheduled tick (every 5 minutes in the stack)."""
    data: dict[str, Any] = json.loads(
        (project_root() / "events" / "scheduled-outbox-tick.json").read_text(encoding="utf-8")
    )
    data["id"] = event_id
    return data


def _drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message on a queue, with its attributes, taken off it."""
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
        )
    return found


def _snapshot_cluster(ecs: Any, cluster: str) -> dict[str, str]:
    """Each service's containers (comma separated) in a cluster."""
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    found = {}
    for svc in ecs.describe_services(cluster=cluster, services=arns)["services"]:
        definition = ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])["taskDefinition"]
        found[svc["serviceName"]] = ",".join(c["name"] for c in definition["containerDefinitions"])
    return found


def _notifier_queue(sns: Any, sqs: Any, topic: str) -> str:
    """The notifier's queue, subscribed to the status topic as template.yaml does (raw delivery off:
    SNS's envelope, with the message attributes)."""
    queue: str = sqs.create_queue(QueueName="demo-notifier")["QueueUrl"]
    subscribe_queue(sns, sqs, topic, queue, raw=False)
    return queue


def _notifications(session: boto3.session.Session, queue: str, published: int) -> dict[str, bool]:
    """functions/notifier on what the status topic delivered to its queue: Block Kit to a stand-in
    for a Slack incoming webhook on 127.0.0.1 (its URL in Secrets Manager), and Amazon Q Developer's
    custom notifications to a chat topic. Shows what was actually posted and published."""
    sqs, sns = session.client("sqs"), session.client("sns")
    source_arn = queue_arn(sqs, queue)
    chat_topic = sns.create_topic(Name="demo-chat")["TopicArn"]
    chat_inbox = sqs.create_queue(QueueName="demo-chat-inbox")["QueueUrl"]
    subscribe_queue(sns, sqs, chat_topic, chat_inbox, raw=True)
    records, failures = [], []
    with SlackStandIn() as slack:
        secret = session.client("secretsmanager").create_secret(
            Name="demo-slack-webhook", SecretString=slack.url
        )
        os.environ.update(SLACK_WEBHOOK_SECRET_ARN=secret["ARN"], CHAT_TOPIC_ARN=chat_topic)
        notifier = load_function("notifier")
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            event = {
                "Records": [
                    {"messageId": m["MessageId"], "body": m["Body"], "eventSourceARN": source_arn}
                    for m in batch
                ]
            }
            records += event["Records"]
            failures += notifier.lambda_handler(event, lambda_context("notifier"))["batchItemFailures"]
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
            )
    posted = slack.delivered()
    chats = [json.loads(m["Body"]) for m in _drain(sqs, chat_inbox)]
    print(
        f"\nfunctions/notifier on the {len(records)} status(es) the topic delivered to its queue: "
        f"{len(posted)} Block Kit message(s) posted to a Slack webhook stand-in on 127.0.0.1 (URL from "
        f"Secrets Manager), {len(chats)} Amazon Q Developer notification(s) published to the chat topic."
    )

    def header(payload: dict[str, Any]) -> str:
        text: str = payload["blocks"][0]["text"]["text"]
        return text

    shown = [p for p in posted if "FLAPPING" in header(p)][:1] + [
        p for p in posted if "REMEDIATED" in header(p)
    ][:1]
    for payload in shown:
        print(f"\nSlack payload posted for {header(payload)}:")
        print(json.dumps(payload, indent=1, ensure_ascii=False))
    flapping = [c for c in chats if c["metadata"]["eventType"] == "FLAPPING"][:1]
    for notification in flapping:
        print("\nAmazon Q Developer custom notification (chat topic):")
        print(json.dumps(notification, indent=1, ensure_ascii=False))
    everything = json.dumps(posted) + json.dumps(chats)
    return {
        "every published status reached Slack (Block Kit) and the Amazon Q Developer chat topic, once": (
            len(records) == published
            and not failures
            and len(posted) == len(chats) == published
            and all(p["blocks"][0]["type"] == "header" for p in posted)
            and all(c["version"] == "1.0" and c["source"] == "custom" for c in chats)
            and len(shown) == 2
            and fleet.CANARY not in everything
        )
    }


def _check(
    before: dict[str, Any],
    after: dict[str, Any],
    bodies: list[dict[str, Any]],
    findings: list[dict[str, Any]],
    outcomes: list[str],
    safety: dict[str, bool],
) -> int:
    by_service = {(b["status"], b.get("service")) for b in bodies}
    concluded = {(f["status"], f.get("service")) for f in findings}  # routine ones are not published
    everything = json.dumps(bodies) + "\n".join(outcomes)
    checks = {
        "nexus-ai-api-prod moved to a revision with jaeger": "jaeger"
        not in before["nexus-ai-api-prod"]["containers"]
        and "jaeger" in after["nexus-ai-api-prod"]["containers"],
        "a REMEDIATED message for nexus-ai-api-prod": ("REMEDIATED", "nexus-ai-api-prod") in by_service,
        "billing-worker untouched": before["billing-worker"] == after["billing-worker"],
        "payments-legacy SKIPPED (CODE_DEPLOY) and untouched": ("SKIPPED", "payments-legacy") in by_service
        and before["payments-legacy"] == after["payments-legacy"],
        "search-gateway compliant and untouched": ("COMPLIANT", "search-gateway") in concluded
        and before["search-gateway"] == after["search-gateway"],
        "checkout-web grew to 512 CPU units / 1024 MiB with jaeger": any(
            b.get("service") == "checkout-web" and b.get("newTaskSize") == "512 CPU units / 1024 MiB"
            for b in bodies
        )
        and after["checkout-web"]["size"] == "512/1024"
        and "jaeger" in after["checkout-web"]["containers"],
        "catalog-search's Jaeger v1 upgraded in place to the profile's image": after["catalog-search"][
            "images"
        ]
        == before["catalog-search"]["images"].replace("jaegertracing/all-in-one:1.57", JAEGER_IMAGE)
        and before["catalog-search"]["revision"] != after["catalog-search"]["revision"],
        **safety,
        "the environment canary appears in no message": fleet.CANARY not in everything,
    }
    print("\nChecks:")
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    return 0 if all(checks.values()) else 1


def _opted_in_cluster(ecs: Any, cluster: str, prefix: str, count: int) -> None:
    """A cluster opted in by its own tag, with ``count`` services (``prefix-0``...) that run
    billing-worker's revision, without the sidecar."""
    source = ecs.describe_services(cluster=fleet.CLUSTER, services=["billing-worker"])["services"][0]
    ecs.create_cluster(clusterName=cluster, tags=[{"key": "tracing-sidecar", "value": "jaeger"}])
    for n in range(count):
        ecs.create_service(
            cluster=cluster,
            serviceName=f"{prefix}-{n}",
            taskDefinition=source["taskDefinition"],
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=source["networkConfiguration"],
        )
