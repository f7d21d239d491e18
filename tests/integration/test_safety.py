"""Safe automatic changes: exactly-once remediation, verification, quarantine and release, and the
faults a production run meets (throttling, PassRole denied, a timeout between register and update,
SNS down). The real handler against moto in process, with the state table."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from sidecar_enforcer.adapters.dynamodb import StateTable
from sidecar_enforcer.adapters.ecs import DeploymentState, EcsGateway, TaskState
from sidecar_enforcer.adapters.sns import StatusPublisher
from sidecar_enforcer.errors import AwsError, EnforcementFailedError, MalformedEventError, RejectedError
from sidecar_enforcer.ledger import Ledger
from sidecar_enforcer.models.findings import Finding
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.cli import main
from sidecar_enforcer_dev.local import Pipeline, create_work_queue

from ._safety import (
    FAMILY,
    NEXUS,
    PIPELINE,
    TERRAFORM,
    RawBody,
    error,
    inject,
    one,
    revert,
    service,
    update_by,
)
from .conftest import ACCOUNT, Aws, Inbox, event


def revisions(aws: Aws) -> list[str]:
    arns: list[str] = aws.ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]
    return [a for a in arns if a.split("/")[-1].split(":")[0] == FAMILY]


def deployment_event(name: str, deployment_id: str, reason: str = "") -> dict[str, Any]:
    data = event("ecs-deployment-in-progress.json")
    data["detail"].update(
        {"eventName": f"SERVICE_DEPLOYMENT_{name}", "deploymentId": deployment_id, "reason": reason}
    )
    return data


def statuses(inbox: Inbox) -> list[str]:
    return [m["body"]["status"] for m in inbox.messages()]


# -- quarantine: a pipeline that keeps reverting --------------------------------------------------


def test_a_pipeline_that_keeps_reverting_is_flapping_and_left_alone_until_released(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAX_REVERTS", "1")
    source = service(aws)["taskDefinition"]
    first = one(invoke(update_by(PIPELINE)))
    compliant = first["newTaskDefinitionArn"]

    # The pipeline reverts once: counted, deployed again with the same revision
    revert(aws, source)
    again = one(invoke(update_by(TERRAFORM)))
    assert again["status"] == "REMEDIATED"
    assert again["newTaskDefinitionArn"] == compliant
    assert again["reasons"][-1] == (
        f"the service had left the enforcer's revision for {source}, by {TERRAFORM}: "
        "revert 1 of at most 1 within 3600 s"
    )

    # Twice (more than MAX_REVERTS=1): FLAPPING, naming who reverted, and not deployed
    revert(aws, source)
    flapping = one(invoke(update_by(TERRAFORM)))
    assert flapping["status"] == "FLAPPING"
    assert flapping["revertedBy"] == [TERRAFORM]
    assert TERRAFORM in flapping["reasons"][0]
    assert "sidecar-enforcer release --cluster shop-prod --service nexus-ai-api-prod" in flapping["release"]
    assert service(aws)["taskDefinition"] == source
    assert len(revisions(aws)) == 2

    # Quarantined: every later event leaves it alone and says how to release it
    for later in (update_by(PIPELINE), event("ecs-deployment-in-progress.json")):
        quarantined = one(invoke(later))
        assert quarantined["status"] == "QUARANTINED"
        assert quarantined["release"] == flapping["release"]
    assert service(aws)["taskDefinition"] == source

    # A person releases it; the next event enforces it again, reusing the one compliant revision
    capsys.readouterr()
    assert main(["release", "--cluster", fleet.CLUSTER, "--service", NEXUS]) == 0
    released = json.loads(capsys.readouterr().out)
    assert released["status"] == "RELEASED"
    assert "FLAPPING" in released["reasons"][0]
    after = one(invoke(update_by(PIPELINE)))
    assert after["status"] == "REMEDIATED"
    assert service(aws)["taskDefinition"] == compliant
    assert len(revisions(aws)) == 2
    assert statuses(inbox) == [
        "REMEDIATED",
        "REMEDIATED",
        "FLAPPING",
        "QUARANTINED",
        "QUARANTINED",
        "RELEASED",
        "REMEDIATED",
    ]


def test_a_revert_counts_once_however_often_its_item_is_retried(
    aws: Aws, app: Any, inbox: Inbox, seeded: fleet.Fleet, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_REVERTS", "1")
    # a work queue that allows 3 receives (the template's allows 5) before it dead-letters an item
    queue = create_work_queue(aws.sqs, "retried.fifo", max_receives=3)
    monkeypatch.setenv("WORK_QUEUE_URL", queue)
    retried = Pipeline(app.router, app.worker, aws.sqs, queue)
    invoke = retried.run
    source = service(aws)["taskDefinition"]
    denied: list[bool] = []
    inject(
        monkeypatch,
        "before-send.ecs.UpdateService",
        lambda n: (
            error("AccessDeniedException", "not authorized to perform: ecs:UpdateService") if denied else None
        ),
    )
    compliant = one(invoke(update_by(PIPELINE)))["newTaskDefinitionArn"]

    # The pipeline reverts once; UpdateService is refused twice, and the work queue hands the same
    # item to the worker again
    revert(aws, source)
    denied.append(True)
    seen: list[str] = []
    real_process = retried.worker.process

    def process(records: list[dict[str, Any]]) -> Any:
        if len(seen) == 2:
            denied.clear()
        found, failures = real_process(records)
        seen.extend(f.status.value for f in found)
        return found, failures

    monkeypatch.setattr(retried.worker, "process", process)
    retried.run(update_by(TERRAFORM))

    assert seen == ["FAILED", "FAILED", "REMEDIATED"]
    assert service(aws)["taskDefinition"] == compliant
    messages = [m["body"] for m in inbox.messages()]
    assert [m["status"] for m in messages] == ["REMEDIATED", "FAILED", "FAILED", "REMEDIATED"]
    assert messages[-1]["reasons"][-1] == (
        f"the service had left the enforcer's revision for {source}, by {TERRAFORM}: "
        "revert 1 of at most 1 within 3600 s"
    )

    # A second revert is another one: more than MAX_REVERTS=1, FLAPPING
    revert(aws, source)
    flapping = one(invoke(update_by(TERRAFORM)))
    assert flapping["status"] == "FLAPPING"
    assert "taken away 2 times" in flapping["reasons"][0]


def test_release_by_tag_needs_the_current_quarantines_token(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_REVERTS", "0")
    source = service(aws)["taskDefinition"]
    invoke(update_by(PIPELINE))
    revert(aws, source)
    flapping = one(invoke(update_by(TERRAFORM)))
    token = flapping["release"].rsplit("=", 1)[1]
    arn = service(aws)["serviceArn"]

    aws.ecs.tag_resource(resourceArn=arn, tags=[{"key": "tracing-sidecar-release", "value": "stale"}])
    assert one(invoke(event("cloudtrail-tagresource-service.json")))["status"] == "QUARANTINED"

    aws.ecs.tag_resource(resourceArn=arn, tags=[{"key": "tracing-sidecar-release", "value": token}])
    finding = one(invoke(event("cloudtrail-tagresource-service.json")))

    assert finding["status"] == "REMEDIATED"
    assert statuses(inbox)[-2:] == ["RELEASED", "REMEDIATED"]
    assert service(aws)["taskDefinition"] == f"{flapping['sourceTaskDefinitionArn'].rsplit(':', 1)[0]}:2"


def test_release_of_a_service_not_quarantined_changes_nothing(
    aws: Aws, invoke: Any, inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    invoke(update_by(PIPELINE))
    capsys.readouterr()

    assert main(["release", "--cluster", fleet.CLUSTER, "--service", NEXUS]) == 0

    assert "not quarantined" in json.loads(capsys.readouterr().out)["reasons"][0]


def test_release_without_a_state_table_is_a_usage_error(
    invoke: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STATE_TABLE_NAME")

    assert main(["release", "--cluster", fleet.CLUSTER, "--service", NEXUS]) == 2
    assert "--state-table" in capsys.readouterr().err


# -- verification ---------------------------------------------------------------------------------


def tasks_running(containers: dict[str, str], stopped_reason: str | None = None) -> Any:
    """moto starts no containers for a service's tasks (its tasks hold one PENDING container), so
    ListTasks/DescribeTasks answer with what AWS would: each task's containers by lastStatus."""

    def deployment_tasks(self: EcsGateway, cluster: str, deployment_id: str) -> list[TaskState]:
        return [
            TaskState(
                f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/shop-prod/{n}",
                "td",
                "RUNNING",
                containers,
                stopped_reason,
            )
            for n in ("t1", "t2")
        ]

    return deployment_tasks


def test_a_completed_deployment_with_the_sidecar_running_is_verified(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    remediated = one(invoke(update_by(PIPELINE)))
    monkeypatch.setattr(
        EcsGateway, "deployment_tasks", tasks_running({"api": "RUNNING", "jaeger": "RUNNING"})
    )

    completed = deployment_event("COMPLETED", remediated["deploymentId"])
    verified = one(invoke(completed))
    duplicate = deployment_event("COMPLETED", remediated["deploymentId"])
    again = one(invoke(duplicate))

    assert verified["status"] == "VERIFIED"
    assert verified["newTaskDefinitionArn"] == remediated["newTaskDefinitionArn"]
    assert "RUNNING in all 2 task(s)" in verified["reasons"][0]
    assert again["status"] == "IGNORED"
    assert "already ended VERIFIED" in again["reasons"][0]
    assert statuses(inbox) == ["REMEDIATED", "VERIFIED"]


def test_a_completed_deployment_whose_sidecar_stopped_fails_and_quarantines(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = service(aws)["taskDefinition"]
    remediated = one(invoke(update_by(PIPELINE)))
    monkeypatch.setattr(
        EcsGateway, "deployment_tasks", tasks_running({"api": "RUNNING", "jaeger": "STOPPED"}, "OutOfMemory")
    )

    failed = one(invoke(deployment_event("COMPLETED", remediated["deploymentId"])))

    assert failed["status"] == "DEPLOYMENT_FAILED"
    assert failed["reasons"][0] == "the jaeger container is STOPPED in task t1 (OutOfMemory)"
    assert "release" in failed
    # Its task definition is compliant: nothing to hold back, and no state-table read to say so.
    assert one(invoke(update_by(PIPELINE)))["status"] == "COMPLIANT"
    # The quarantine holds the next change: the sidecar taken away is not added back.
    revert(aws, source)
    assert one(invoke(update_by(PIPELINE)))["status"] == "QUARANTINED"
    assert service(aws)["taskDefinition"] == source


def test_a_failed_or_rolled_back_deployment_quarantines_the_service(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    source = service(aws)["taskDefinition"]
    remediated = one(invoke(update_by(PIPELINE)))
    reason = "ECS deployment circuit breaker: task failed to start."

    failed = one(invoke(deployment_event("FAILED", remediated["deploymentId"], reason)))
    rollback = one(
        invoke(
            deployment_event(
                "IN_PROGRESS",
                remediated["deploymentId"],
                "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/0.",
            )
        )
    )

    assert failed["status"] == "DEPLOYMENT_FAILED"
    assert failed["reasons"] == [f"the deployment failed: {reason}"]
    assert rollback["status"] == "IGNORED"  # the rollback is not enforced against
    # AWS's circuit breaker puts the service back on the revision it ran before (moto does not):
    revert(aws, source)
    assert one(invoke(update_by(PIPELINE)))["status"] == "QUARANTINED"
    assert service(aws)["taskDefinition"] == source
    assert statuses(inbox) == ["REMEDIATED", "DEPLOYMENT_FAILED", "QUARANTINED"]


def test_a_rollback_seen_before_its_failed_event_is_a_failure_not_a_revert_to_fight(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = service(aws)["taskDefinition"]
    remediated = one(invoke(update_by(PIPELINE)))
    # The circuit breaker rolls the enforcer's deployment back: the service is on its old revision
    # and lists the enforcer's deployment as FAILED (moto keeps no rollout state: it is set here)
    revert(aws, source)
    real_describe = EcsGateway.describe_services

    def describe(self: EcsGateway, cluster: str, services: list[str]) -> list[Any]:
        rollback = DeploymentState("ecs-svc/rollback", "PRIMARY", source, "IN_PROGRESS")
        failed = DeploymentState(
            remediated["deploymentId"], "ACTIVE", remediated["newTaskDefinitionArn"], "FAILED"
        )
        return [
            dataclasses.replace(s, deployments=(rollback, failed))
            for s in real_describe(self, cluster, services)
        ]

    monkeypatch.setattr(EcsGateway, "describe_services", describe)
    # Recorded on the gateway class: the handler's ECS client exists already, so a botocore hook
    # added to new clients (inject) would never see this call.
    deploys: list[str] = []
    real_deploy = EcsGateway.deploy

    def deploy(self: EcsGateway, cluster: str, name: str, arn: str) -> str | None:
        deploys.append(arn)
        return real_deploy(self, cluster, name, arn)

    monkeypatch.setattr(EcsGateway, "deploy", deploy)

    finding = one(invoke(event("ecs-deployment-in-progress.json")))

    assert finding["status"] == "DEPLOYMENT_FAILED"
    assert "rolloutState FAILED" in finding["reasons"][0]
    assert deploys == []
    assert service(aws)["taskDefinition"] == source
    assert one(invoke(update_by(PIPELINE)))["status"] == "QUARANTINED"


def test_a_deployment_the_enforcer_did_not_start_is_ignored_and_not_published(
    aws: Aws, invoke: Any, inbox: Inbox
) -> None:
    invoke(update_by(PIPELINE))

    finding = one(invoke(deployment_event("COMPLETED", "ecs-svc/someone-elses")))

    assert finding["status"] == "IGNORED"
    assert statuses(inbox) == ["REMEDIATED"]


# -- faults ---------------------------------------------------------------------------------------


def test_throttling_is_retried_by_botocore_and_the_service_ends_compliant(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = inject(
        monkeypatch,
        "before-send.ecs.RegisterTaskDefinition",
        lambda n: error("ThrottlingException", "Rate exceeded") if n <= 2 else None,
    )

    finding = one(invoke(update_by(PIPELINE)))

    assert finding["status"] == "REMEDIATED"
    assert len(seen) == 3  # two throttled, then through
    assert len(revisions(aws)) == 2
    assert service(aws)["taskDefinition"] == finding["newTaskDefinitionArn"]


def test_passrole_denied_fails_changes_nothing_and_keeps_the_event(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = service(aws)["taskDefinition"]
    denied = (
        "User: arn:aws:sts::123456789012:assumed-role/sidecar-enforcer/fn is not authorized to perform: "
        "iam:PassRole on resource: arn:aws:iam::123456789012:role/nexus-ai-api-task"
    )
    fixed: list[bool] = []
    inject(
        monkeypatch,
        "before-send.ecs.RegisterTaskDefinition",
        lambda n: None if fixed else error("AccessDeniedException", denied),
    )
    update = update_by(PIPELINE)
    original = json.dumps(update, sort_keys=True)

    with pytest.raises(EnforcementFailedError, match="iam:PassRole"):
        invoke(update)

    assert json.dumps(update, sort_keys=True) == original  # the on-failure destination gets it as it came
    assert service(aws)["taskDefinition"] == source
    assert len(revisions(aws)) == 1
    (message,) = inbox.messages()
    assert message["body"]["status"] == "FAILED"
    assert "AccessDeniedException" in message["body"]["reasons"][0]

    # Once the role may pass it, Lambda's retry of the same event succeeds
    fixed.append(True)
    assert one(invoke(update))["status"] == "REMEDIATED"
    assert len(revisions(aws)) == 2


def test_a_timeout_between_register_and_update_is_retried_with_the_recorded_revision(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = service(aws)["taskDefinition"]
    real_deploy = EcsGateway.deploy
    calls: list[str] = []

    def deploy(self: EcsGateway, cluster: str, name: str, arn: str) -> str | None:
        calls.append(arn)
        if len(calls) == 1:  # the function times out waiting for UpdateService
            raise AwsError("UpdateService: ReadTimeoutError")
        return real_deploy(self, cluster, name, arn)

    monkeypatch.setattr(EcsGateway, "deploy", deploy)
    update = update_by(PIPELINE)

    with pytest.raises(EnforcementFailedError, match="ReadTimeoutError"):
        invoke(update)
    assert service(aws)["taskDefinition"] == source
    assert len(revisions(aws)) == 2  # registered, not yet deployed

    retried = one(invoke(update))  # Lambda retries the same event

    assert retried["status"] == "REMEDIATED"
    assert retried["changes"][0].startswith("reuse ")
    assert calls == [retried["newTaskDefinitionArn"]] * 2
    assert len(revisions(aws)) == 2
    assert service(aws)["taskDefinition"] == retried["newTaskDefinitionArn"]


def refuse_inactive_revisions(monkeypatch: pytest.MonkeyPatch, aws: Aws) -> list[str]:
    """AWS refuses UpdateService to a deregistered revision (INACTIVE, DELETE_IN_PROGRESS); moto
    deploys it anyway, so the refusal is added here. Returns the revisions deployed."""
    real_deploy = EcsGateway.deploy
    deployed: list[str] = []

    def deploy(self: EcsGateway, cluster: str, name: str, arn: str) -> str | None:
        status = aws.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"]
        if status != "ACTIVE":
            raise RejectedError("UpdateService: ClientException: TaskDefinition is inactive")
        deployed.append(arn)
        return real_deploy(self, cluster, name, arn)

    monkeypatch.setattr(EcsGateway, "deploy", deploy)
    return deployed


def test_a_deregistered_compliant_revision_is_replaced_not_deployed(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed = refuse_inactive_revisions(monkeypatch, aws)
    source = service(aws)["taskDefinition"]
    compliant = one(invoke(update_by(PIPELINE)))["newTaskDefinitionArn"]
    revert(aws, source)
    assert one(invoke(update_by(PIPELINE)))["changes"][0] == (
        f"reuse {compliant}, registered earlier for this source and profile version"
    )

    # Someone deregisters the enforcer's revision (this container has already looked at it)
    aws.ecs.deregister_task_definition(taskDefinition=compliant)
    revert(aws, source)
    replaced = one(invoke(update_by(PIPELINE)))

    fresh = replaced["newTaskDefinitionArn"]
    assert replaced["status"] == "REMEDIATED"
    assert replaced["changes"][0] == "RegisterTaskDefinition"
    assert fresh != compliant
    assert service(aws)["taskDefinition"] == fresh
    assert revisions(aws) == [source, fresh]  # the ACTIVE ones
    assert deployed == [compliant, compliant, fresh]

    # The fresh revision is the one recorded: the next event reuses it
    revert(aws, source)
    again = one(invoke(update_by(PIPELINE)))
    assert again["newTaskDefinitionArn"] == fresh
    assert again["changes"][0].startswith(f"reuse {fresh}")
    assert len(revisions(aws)) == 2


def test_sns_down_never_blocks_the_remediation_and_the_status_is_published_later(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_publish = StatusPublisher.publish

    def down(self: StatusPublisher, finding: Finding) -> str:
        raise AwsError("Publish: InternalError (SNS down)")

    monkeypatch.setattr(StatusPublisher, "publish", down)

    finding = one(invoke(update_by(PIPELINE)))

    assert finding["status"] == "REMEDIATED"
    assert service(aws)["taskDefinition"] == finding["newTaskDefinitionArn"]
    assert inbox.messages() == []

    # SNS is back: the scheduled tick publishes what was kept
    monkeypatch.setattr(StatusPublisher, "publish", real_publish)
    assert "published 1 status" in one(invoke(event("scheduled-outbox-tick.json")))["reasons"][0]
    (message,) = inbox.messages()
    assert message["body"] == finding
    assert "published 0 status" in one(invoke(event("scheduled-outbox-tick.json")))["reasons"][0]


def sns_error(code: str, message: str) -> AWSResponse:
    """An SNS error answer (the query protocol answers in XML)."""
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
        "</Error><RequestId>r</RequestId></ErrorResponse>"
    ).encode()
    return AWSResponse(
        "https://sns.us-east-1.amazonaws.com/",
        400,
        HTTPHeaders.from_dict({"x-amzn-requestid": "r"}),
        RawBody(body),
    )


def test_a_status_sns_refuses_for_good_never_blocks_the_outbox_and_ends_in_the_dead_letter_queue(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = aws.sqs.create_queue(QueueName="sidecar-enforcer-dead-letters")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", queue)
    monkeypatch.setenv("PUBLISH_ROUTINE", "true")  # the COMPLIANT status behind is published too
    refused = sns_error("InvalidParameter", "Invalid parameter: Message too long")
    outage = sns_error("AuthorizationError", "not authorized to perform: SNS:Publish")
    # SNS refuses one status for good each time it is published (publishes 1, 3 and 5), and is
    # briefly unreachable for the next status (publish 2)
    publishes = inject(
        monkeypatch,
        "before-send.sns.Publish",
        lambda n: refused if n in (1, 3, 5) else outage if n == 2 else None,
    )

    poisoned = one(invoke(update_by(PIPELINE)))  # REMEDIATED: refused, kept (attempt 1)
    behind = one(invoke(update_by(PIPELINE)))  # COMPLIANT: SNS unreachable, kept behind it
    assert inbox.messages() == []

    # The ticks: attempt 2 is refused and the status behind it published; attempt 3 is refused and
    # the status goes to the dead-letter queue
    first = one(invoke(event("scheduled-outbox-tick.json")))
    second = one(invoke(event("scheduled-outbox-tick.json")))

    assert "published 1 status" in first["reasons"][0]
    assert "published 0 status" in second["reasons"][0]
    assert [m["body"] for m in inbox.messages()] == [behind]
    (dead,) = aws.sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == poisoned  # intact
    assert poisoned["status"] == "REMEDIATED"
    assert "InvalidParameter" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert len(publishes) == 5
    kept = aws.dynamodb.query(
        TableName="sidecar-enforcer-state",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "outbox"}},
    )["Items"]
    assert kept == []


def test_a_kept_status_that_cannot_be_read_is_dead_lettered_not_a_failed_tick(
    aws: Aws, invoke: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = aws.sqs.create_queue(QueueName="sidecar-enforcer-dead-letters")["QueueUrl"]
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", queue)
    unreadable = {"status": "FROM_A_LATER_VERSION", "service": NEXUS}
    Ledger(StateTable(aws.dynamodb, "sidecar-enforcer-state")).outbox_add(unreadable)

    ticks = [one(invoke(event("scheduled-outbox-tick.json")))["status"] for _ in range(3)]

    assert ticks == ["IGNORED"] * 3
    (dead,) = aws.sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == unreadable
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "kept status unreadable: 1 error(s)"


# -- the canary, on every path ----------------------------------------------------------------------


def test_no_environment_value_on_any_path(
    aws: Aws,
    invoke: Any,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MAX_REVERTS", "0")
    monkeypatch.setenv("ENFORCEMENT_MODE", "enforce")
    source = service(aws)["taskDefinition"]
    results: list[Any] = []

    def run(data: dict[str, Any]) -> None:
        try:
            results.append(invoke(data))
        except (EnforcementFailedError, MalformedEventError) as exc:
            results.append(str(exc))

    # FAILED (PassRole denied), then REMEDIATED with SNS down (the outbox), FLAPPING, QUARANTINED,
    # RELEASED, DEPLOYMENT_FAILED, a malformed event, and the tick that drains the outbox
    seen = inject(
        monkeypatch,
        "before-send.ecs.RegisterTaskDefinition",
        lambda n: (
            error("AccessDeniedException", "not authorized to perform: iam:PassRole") if n == 1 else None
        ),
    )
    run(update_by(PIPELINE))
    real_publish = StatusPublisher.publish
    monkeypatch.setattr(
        StatusPublisher, "publish", lambda self, f: (_ for _ in ()).throw(AwsError("Publish: down"))
    )
    run(update_by(PIPELINE))
    monkeypatch.setattr(StatusPublisher, "publish", real_publish)
    revert(aws, source)
    run(update_by(TERRAFORM))
    run(event("ecs-deployment-in-progress.json"))
    main(["release", "--cluster", fleet.CLUSTER, "--service", NEXUS])
    remediated = invoke(update_by(PIPELINE))["findings"][0]
    results.append(remediated)
    monkeypatch.setattr(
        EcsGateway, "deployment_tasks", tasks_running({"api": "RUNNING", "jaeger": "STOPPED"})
    )
    run(deployment_event("COMPLETED", remediated["deploymentId"]))
    run(event("malformed-updateservice-without-service.json"))
    run(event("scheduled-outbox-tick.json"))

    printed = capsys.readouterr()
    table = aws.dynamodb.scan(TableName="sidecar-enforcer-state")["Items"]
    everything = "\n".join(
        [
            printed.out,
            printed.err,
            caplog.text,
            repr(results),
            repr(table),
            *(m["raw"] for m in inbox.messages()),
        ]
    )
    for status in ("FAILED", "REMEDIATED", "FLAPPING", "QUARANTINED", "RELEASED", "DEPLOYMENT_FAILED"):
        assert status in everything, status  # the capture did see each path
    assert seen
    assert fleet.CANARY not in everything
