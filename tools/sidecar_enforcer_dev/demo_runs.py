"""The demo's fleet runs: a fleet that predates the enforcer brought into line by a backfill, from the
command line and by the backfill function (act five); the rollout, an OU switched from audit to
enforce and the stop switch thrown in the middle of a run (act six)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

from .demo_moto import REGION, drain, forced_update, opted_in_cluster, sample_event, snapshot_cluster
from .local import Pipeline, lambda_context, load_function

LEGACY = "shop-legacy"
REPORTS = "demo-sidecar-enforcer-reports"


def backfill(session: boto3.session.Session, app: Pipeline, inbox: str) -> dict[str, bool]:
    """Act five: a fleet that existed before the enforcer (a cluster opted in by its tag, six
    services without the sidecar) brought into line by a backfill: audited, then remediated in
    waves that wait for verification (ECS's rollout played on moto by rollouts.Settler); and the
    backfill function's run in AWS, which ends in one digest and a report in S3."""
    ecs = session.client("ecs")
    account = session.client("sts").get_caller_identity()["Account"]
    opted_in_cluster(ecs, LEGACY, "legacy", 6)
    print(f"\nBackfill: cluster {LEGACY}, opted in by its tag, with 6 services that predate the enforcer:")
    audited, audit, enforced, markdown = _command_line_runs(account)
    print("  the enforce run's report (Markdown), its waves:")
    print(
        "\n".join(
            f"    {line}" for line in markdown.split("## Waves", 1)[1].split("##", 1)[0].strip().splitlines()
        )
    )
    function_run = _function_run(session, app, inbox)
    legacy_after = snapshot_cluster(ecs, LEGACY)
    return {
        "a backfill audit found the 6 legacy services NONCOMPLIANT and changed nothing": audited == 0
        and sum(r["status"] == "NONCOMPLIANT" for r in audit["results"] if r.get("cluster") == LEGACY) == 6,
        "a backfill in waves (2, then 4) remediated and VERIFIED all 6": enforced == 0
        and "| 1 | 2 | 2 | 0 |" in markdown
        and "| 2 | 4 | 4 | 0 |" in markdown
        and all("jaeger" in c for c in legacy_after.values()),
        "each backfill run published one digest; the function's run a report in S3 too": function_run,
    }


def _cli(args: list[str]) -> int:
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


def _command_line_runs(account: str) -> tuple[int, dict[str, Any], int, str]:
    """``sidecar-enforcer backfill`` in audit, then in enforce with waves: each exit code, the audit's
    JSON report and the enforce run's Markdown report."""
    from .rollouts import Settler

    with tempfile.TemporaryDirectory(prefix="demo-backfill-") as tmp:
        audit_report, enforce_report = Path(tmp) / "audit.json", Path(tmp) / "enforce.md"
        common = ["backfill", "--clusters", LEGACY, "--no-plans"]
        print("  $ sidecar-enforcer backfill --mode audit --clusters shop-legacy --report audit.json")
        audited = _cli([*common, "--mode", "audit", "--report", str(audit_report)])
        audit = json.loads(audit_report.read_text(encoding="utf-8"))
        print(
            "  $ sidecar-enforcer backfill --mode enforce --clusters shop-legacy --first-wave 2 "
            "--report enforce.md"
        )
        enforce = ["--mode", "enforce", "--first-wave", "2", "--poll", "0.1", "--report", str(enforce_report)]
        with Settler(account, REGION, interval=0.05):
            enforced = _cli([*common, *enforce])
        markdown = enforce_report.read_text(encoding="utf-8")
    return audited, audit, enforced, markdown


def _function_run(session: boto3.session.Session, app: Pipeline, inbox: str) -> bool:
    """The backfill function's audit run through the workers: one digest for each of the three runs,
    and the function's report in S3."""
    bucket = os.environ["REPORT_BUCKET"]
    function = load_function("backfill")
    answer = function.lambda_handler({"mode": "audit", "runId": "demo-backfill"}, lambda_context("backfill"))
    drained = app.drain()
    digests = [
        json.loads(m["Body"]) for m in drain(session.client("sqs"), inbox) if '"backfill-digest"' in m["Body"]
    ]
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
    return (
        len(digests) == 3
        and len(ours) == 1
        and answer["queued"] == drained.delivered
        and {o["Key"].rsplit("/", 1)[-1] for o in stored} == {"report.json", "report.html"}
    )


ROLLOUT = "shop-rollout"
STOP = "/sidecar-enforcer/stop"
ROLLOUT_POLICY = "/sidecar-enforcer/rollout"


class _Switches:
    """The stack's switches in SSM, thrown by hand, with the containers' clock for their 30-second
    cache moved past it at each throw (the demo does not wait)."""

    def __init__(self, ssm: Any) -> None:
        self._ssm = ssm
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def throw(self, name: str, value: str, what: str) -> None:
        self._ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
        self.now += 31  # past every container's cache (30 s)
        print(f"  $ aws ssm put-parameter --name {name} --value '{value}' --overwrite   # {what}")


def rollout(session: boto3.session.Session, inbox: str) -> dict[str, bool]:
    """Act six: the rollout. An OU of the organisation switched from audit to enforce in the rollout
    policy (an SSM parameter, no deploy); then the stop switch thrown in the middle of a backfill
    run's waves: the next wave is held and an event is decided in audit, "stopped"; released, the
    tick resumes the run to its end."""
    import sidecar_enforcer.usecases.rollout as rollout_module

    from . import rollouts

    rollouts.install()
    ecs, sqs = session.client("ecs"), session.client("sqs")
    org = session.client("organizations")
    account = session.client("sts").get_caller_identity()["Account"]
    switches = _Switches(session.client("ssm"))
    rollout_module.now = switches  # the demo moves the cache's clock on
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    platform = org.create_organizational_unit(ParentId=root, Name="platform")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=platform)
    opted_in_cluster(ecs, ROLLOUT, "api", 4)
    rollouts.settle(account, REGION)  # their own first deployments ended
    print(f"\nRoll out: account {account} in OU {platform} (moto's Organizations), cluster {ROLLOUT}:")
    modes = {"modes": {root: "enforce", platform: "audit"}}
    switches.throw(ROLLOUT_POLICY, json.dumps(modes), "the OU audits")
    os.environ.update(ROLLOUT_PARAMETER=ROLLOUT_POLICY, STOP_SWITCH_PARAMETER=STOP)
    app = Pipeline(sqs=sqs)  # containers started with the switches configured
    checks = _ou_switch(app, switches, root, platform, account, ecs)
    checks |= _stop_switch(app, switches, account, ecs, sqs, inbox)
    for name in ("ROLLOUT_PARAMETER", "STOP_SWITCH_PARAMETER"):
        os.environ.pop(name, None)
    return checks


def _update(service: str, n: int) -> dict[str, Any]:
    """A forced redeployment of a service of the rollout's cluster."""
    return forced_update(ROLLOUT, service, f"demo-rollout-{n}")


def _show(label: str, finding: dict[str, Any]) -> dict[str, Any]:
    print(f"  - {label}\n      {finding['status']} ({finding.get('mode')}): {finding['reasons'][-1]}")
    return finding


def _ou_switch(
    app: Pipeline, switches: _Switches, root: str, platform: str, account: str, ecs: Any
) -> dict[str, bool]:
    """The OU audits, then enforces: the same service's event is audited, then remediated."""
    from . import rollouts

    (audited,) = app.run(_update("api-0", 1))["findings"]
    _show("UpdateService api-0 while its OU audits", audited)
    modes = {"modes": {root: "audit", platform: "enforce"}}
    switches.throw(ROLLOUT_POLICY, json.dumps(modes), "the OU enforces")
    (enforced,) = app.run(_update("api-0", 2))["findings"]
    _show("UpdateService api-0 once its OU enforces", enforced)
    rollouts.settle(account, REGION)
    for name in ("api-0",):
        app.run(_ended_event(ecs, ROLLOUT, name))
    return {
        "an OU switched from audit to enforce in the rollout policy: audited, then remediated": (
            (audited["status"], audited["mode"]) == ("NONCOMPLIANT", "audit")
            and platform in audited["reasons"][-1]
            and (enforced["status"], enforced["mode"]) == ("REMEDIATED", "enforce")
        ),
    }


def _stop_switch(
    app: Pipeline, switches: _Switches, account: str, ecs: Any, sqs: Any, inbox: str
) -> dict[str, bool]:
    """The stop switch thrown while a run's first wave deploys: the next wave is held and an event is
    decided in audit; released, the next tick resumes the run to its end."""
    from . import rollouts

    waves = {"first": 2, "growth": 1, "perCluster": 2}
    request = {"mode": "enforce", "runId": "demo-rollout", "clusters": [ROLLOUT], **waves}
    answer = load_function("backfill").lambda_handler(request, lambda_context("backfill"))
    app.drain()  # the survey; wave 1 queued and deploying
    first = _deploying(ecs, ROLLOUT)
    print(f"  functions/backfill {json.dumps(request)}: wave 1 deploys {sorted(first)}")
    switches.throw(STOP, "on", "the stop switch, in the middle of the run")
    waiting = sorted(set(snapshot_cluster(ecs, ROLLOUT)) - first - {"api-0"})[0]  # in a later wave
    (stopped,) = app.run(_update(waiting, 3))["findings"]
    _show(f"UpdateService {waiting} while stopped", stopped)
    for name in rollouts.settle(account, REGION):  # wave 1's deployments end: wave 2 is held
        app.run(_ended_event(ecs, ROLLOUT, name.split("/")[1]))
    app.run(_tick("demo-rollout-tick-1"))
    held = _deploying(ecs, ROLLOUT)
    print(f"  wave 1 verified; the tick holds wave 2: deploying now {sorted(held) or 'nothing'}")
    switches.throw(STOP, "off", "released")
    app.run(_tick("demo-rollout-tick-2"))
    second = _deploying(ecs, ROLLOUT)
    print(f"  the next tick resumes the run: wave 2 deploys {sorted(second)}")
    for name in rollouts.settle(account, REGION):
        app.run(_ended_event(ecs, ROLLOUT, name.split("/")[1]))
    digests = [json.loads(m["Body"]) for m in drain(sqs, inbox) if '"backfill-digest"' in m["Body"]]
    digest: dict[str, Any] = next((d for d in digests if d.get("runId") == answer["runId"]), {})
    print(f"  the run's digest: {digest.get('totals')}")
    after = snapshot_cluster(ecs, ROLLOUT)
    return {
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
    data = sample_event("ecs-deployment-in-progress.json")
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
    data = sample_event("scheduled-outbox-tick.json")
    data["id"] = event_id
    return data
