"""``sidecar-enforcer demo``: the main job against moto's server on a free 127.0.0.1 port.

Seeds a small fleet (see ``fleet``), replays real-shaped EventBridge events from ``events/``
through the router, the SQS FIFO work queue and the worker over HTTP (``local.Pipeline``), prints
a before/after table and the SNS messages, checks the outcome, and shuts the server down. Exit 0
when every check holds. The later acts (safety, a member account, the notifier, the fleet runs)
live in ``demo_safety``, ``demo_notifier`` and ``demo_runs``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from typing import Any

import boto3
from sidecar_enforcer.adapters.dynamodb import create_table
from sidecar_enforcer.errors import EnforcerError
from sidecar_enforcer.profiles import builtin_profiles

from . import demo_notifier, demo_runs, demo_safety, fleet
from .demo_moto import REGION, drain, sample_event, snapshot
from .local import LOCAL_TABLE, LOCAL_TOPIC, Pipeline, create_work_queue, subscribe_queue

JAEGER_IMAGE = builtin_profiles()["jaeger"].image


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
    load = sample_event
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
    ecs, sqs = session.client("ecs"), session.client("sqs")
    identity = session.client("sts").get_caller_identity()
    fleet.seed(ecs, session.client("ec2"), identity["Account"], builtin_profiles()["jaeger"].container)
    inbox, notifier_queue = _stack(session)
    before = snapshot(ecs)
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
    after = snapshot(ecs)
    print("\nServices in cluster " + fleet.CLUSTER + ":\n" + _table(before, after))

    safety = demo_safety.safety(app, ecs, before, findings)
    safety |= demo_safety.member_account(app, session)
    bodies = _statuses(drain(sqs, inbox), findings)
    safety |= demo_notifier.notifications(session, notifier_queue, len(bodies))
    safety |= demo_runs.backfill(session, app, inbox)
    safety |= demo_runs.rollout(session, inbox)
    return _check(before, after, bodies, findings, outcomes, safety)


def _stack(session: boto3.session.Session) -> tuple[str, str]:
    """The stack's resources on moto, named in the environment as the template names them: the status
    topic (with an inbox queue to read it, and the notifier's queue), the state table, the work queue
    and the report bucket; and the demo's policy. Returns the inbox's and the notifier queue's URLs."""
    sns, sqs = session.client("sns"), session.client("sqs")
    topic = sns.create_topic(Name=LOCAL_TOPIC)["TopicArn"]
    inbox = sqs.create_queue(QueueName="demo-status-inbox")["QueueUrl"]
    subscribe_queue(sns, sqs, topic, inbox, raw=True)
    os.environ["STATUS_TOPIC_ARN"] = topic
    notifier_queue = demo_notifier.notifier_queue(sns, sqs, topic)
    create_table(session.client("dynamodb"), LOCAL_TABLE)
    os.environ["STATE_TABLE_NAME"] = LOCAL_TABLE
    os.environ["WORK_QUEUE_URL"] = create_work_queue(sqs)
    session.client("s3").create_bucket(Bucket=demo_runs.REPORTS)  # the stack's ReportBucket
    os.environ["REPORT_BUCKET"] = demo_runs.REPORTS
    # The demo's policy: grow tasks that are too small (the default) and upgrade drifted sidecars;
    # a service whose sidecar is taken away more than once in an hour is FLAPPING.
    os.environ.update(GROW_TASK_SIZE="true", UPGRADE_DRIFTED="true", MAX_REVERTS="1")
    print(
        "Policy: GROW_TASK_SIZE=true UPGRADE_DRIFTED=true (the default upgrades nothing), MAX_REVERTS=1 "
        f"(default 3); state table {LOCAL_TABLE}\n"
    )
    return inbox, notifier_queue


def _statuses(messages: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The status messages the topic delivered, printed with their attributes; their bodies."""
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
    return bodies


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
