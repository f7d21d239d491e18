"""Permissions as data: each adapter declares the IAM actions it calls (``PERMISSIONS`` beside the
calls, as Cloud Custodian's actions do), each function declares the adapters whose calls it makes
(``ADAPTERS`` in functions/<name>/app.py), and template.yaml grants each function exactly the union
of its adapters' actions: nothing missing (a call that fails with AccessDenied in production only)
and nothing more (a grant nobody uses). The router (parse, queue) is granted less than the worker."""

from __future__ import annotations

from typing import Any

import pytest

from ._template import (
    FUNCTIONS,
    adapters,
    declared,
    declared_adapters,
    granted,
    load,
    statements,
    worker_statements,
)

# Granted for the stack's infrastructure, not for an adapter's call: with KmsKeyArn, SQS and SNS ask
# the sender for a data key of the queues' and the topic's customer managed key (and the SQS event
# source's receives for Decrypt). Both statements are conditional (HasKmsKey).
KEY_GRANTS = {"kms:Decrypt", "kms:GenerateDataKey"}
# The worker assumes the member role in member accounts (template.yaml, AssumeMemberRole; only with
# OrganizationId). Until an adapter the worker uses declares sts:AssumeRole, it is expected here.
MEMBER_GRANTS = {"worker": {"sts:AssumeRole"}, "router": set(), "backfill": set(), "notifier": set()}
# The notifier's queues are polled through event source mappings of its own (template.yaml: each
# exists only with its queue), so its role holds the poller's actions (SAM adds them for the
# worker's SQS event).
POLLER_GRANTS = {"notifier": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}}


def expected(function: str) -> set[str]:
    return calls_of(function) | KEY_GRANTS | MEMBER_GRANTS[function] | POLLER_GRANTS.get(function, set())


def calls_of(function: str) -> set[str]:
    modules = adapters()
    return {action for name in declared_adapters(function) for action in modules[name].PERMISSIONS}


def test_each_function_declares_only_adapters_that_exist() -> None:
    known = set(adapters())
    for function in FUNCTIONS:
        assert declared_adapters(function) <= known, function


@pytest.mark.parametrize(("function", "resource"), FUNCTIONS.items())
def test_the_template_grants_each_function_exactly_what_it_calls(function: str, resource: str) -> None:
    assert granted(resource) == expected(function)


def test_the_router_is_granted_nothing_in_ecs_or_iam() -> None:
    router = granted("RouterFunction")

    assert not {a for a in router if a.startswith(("ecs:", "iam:", "sts:"))}
    # SSM: the switches only (the tick holds a backfill run's waves while the stop switch is on);
    # Organizations: read only (the rollout policy, when the tick finishes a reconciliation).
    assert {a for a in router if a.startswith("ssm:")} == {"ssm:GetParameters"}
    assert {a for a in router if a.startswith("organizations:")} <= {
        "organizations:ListParents",
        "organizations:ListRoots",
        "organizations:DescribeOrganizationalUnit",
        "organizations:DescribeAccount",
    }
    assert "sqs:SendMessage" in router  # the work queue
    assert granted("WorkerFunction") > router


def member_role_actions() -> set[str]:
    """What the member role (in every other account) must allow: the worker's and the backfill
    function's calls made there."""
    modules = adapters()
    return {
        action
        for function in ("worker", "backfill")
        for name in declared(function, "MEMBER_ADAPTERS")
        for action in modules[name].PERMISSIONS
    }


def test_in_a_member_account_the_worker_calls_ecs_and_the_policy_simulator_only() -> None:
    """The state table, the status topic, the queues and the profiles' SSM path stay the hub's: the
    member role is granted ECS (with iam:PassRole for the task definitions' roles) and IAM's policy
    simulator for the task roles, and the hub's worker role sts:AssumeRole on it."""
    assert declared("worker", "MEMBER_ADAPTERS") <= declared_adapters("worker")
    assert declared("backfill", "MEMBER_ADAPTERS") <= declared_adapters("backfill")
    assert member_role_actions() == {
        "ecs:DescribeServices",
        "ecs:DescribeClusters",
        "ecs:ListClusters",  # a backfill run's survey of a member account
        "ecs:ListServices",
        "ecs:DescribeTaskDefinition",
        "ecs:ListTaskDefinitions",
        "ecs:RegisterTaskDefinition",
        "ecs:TagResource",
        "ecs:UpdateService",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "iam:PassRole",
        "iam:SimulatePrincipalPolicy",
    }
    assert "sts:AssumeRole" in calls_of("worker")
    assert "sts:AssumeRole" not in calls_of("router")  # the router only recognises the member role


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_the_check_fails_for_a_missing_or_an_extra_grant(
    change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison is the test: an adapter that calls one action more, or one fewer, breaks it."""
    sqs = adapters()["sqs"]  # the module itself: a change to it shows in every adapters() call
    calls = (*sqs.PERMISSIONS, "sqs:PurgeQueue") if change == "extra" else ()
    monkeypatch.setattr(sqs, "PERMISSIONS", calls)

    assert granted("RouterFunction") != expected("router")
    assert granted("WorkerFunction") != expected("worker")


def test_registration_is_allowed_only_with_the_enforcer_s_marker_tag_in_the_request() -> None:
    from sidecar_enforcer import ENFORCER_NAME
    from sidecar_enforcer.domain.planning.markers import MARKER_MANAGED_BY

    found = worker_statements()
    register, tag = found["EcsRegisterMarkedTaskDefinitions"], found["EcsTagOnRegister"]

    assert register["Condition"] == {"StringEquals": {f"aws:RequestTag/{MARKER_MANAGED_BY}": ENFORCER_NAME}}
    assert tag["Condition"]["StringEquals"] == {
        "ecs:CreateAction": "RegisterTaskDefinition",  # tag-on-create only, never retagging
        f"aws:RequestTag/{MARKER_MANAGED_BY}": ENFORCER_NAME,
    }


def test_roles_are_passed_only_to_ecs_tasks_and_only_those_the_parameter_names() -> None:
    passrole = worker_statements()["PassTaskRolesToEcs"]

    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert passrole["Resource"].endswith(":role/${PassRoleNamePattern}")
    assert load()["Parameters"]["PassRoleNamePattern"]["Default"] == "*"  # README: the one broad grant


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:ecs:eu-west-1:111122223333:service/prod/web",  # service/<cluster>/<name>
        "arn:aws:ecs:eu-west-1:111122223333:service/web",  # the old format, service/<name>
    ],
)
def test_service_mutations_and_reads_cover_both_service_arn_formats(arn: str) -> None:
    import fnmatch

    found = worker_statements()
    for sid in ("EcsUpdateService", "EcsDescribeServicesAndClusters"):
        resources = found[sid]["Resource"]
        patterns = [resources] if isinstance(resources, str) else resources
        concrete = [
            p.replace("${AWS::Partition}", "aws")
            .replace("${AWS::Region}", "eu-west-1")
            .replace("${AWS::AccountId}", "111122223333")
            for p in patterns
        ]
        assert any(fnmatch.fnmatchcase(arn, p) for p in concrete), sid


def test_the_worker_assumes_only_the_member_role_and_only_in_the_organisation() -> None:
    assume = worker_statements()["AssumeMemberRole"]

    assert assume["Resource"] == "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"
    assert assume["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "OrganizationId"}}


def notifier_statements() -> dict[str, dict[str, Any]]:
    return statements(load()["Resources"]["NotifierFunction"]["Properties"]["Policies"])


def test_the_notifier_reads_only_the_webhook_secrets_it_is_given_and_touches_no_service() -> None:
    found = notifier_statements()

    # !If [condition, !Ref parameter, !Ref AWS::NoValue], read as plain data
    assert found["ReadSlackWebhookSecrets"]["Resource"] == [
        ["HasSlack", "SlackWebhookSecretArn", "AWS::NoValue"],
        ["HasSecondSlack", "SlackSecondWebhookSecretArn", "AWS::NoValue"],
    ]
    assert found["DecryptSlackWebhookSecrets"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "secretsmanager.${AWS::Region}.amazonaws.com"
    }
    assert found["DeadLetterMalformedRecords"]["Resource"] == "NotifierDeadLetterQueue.Arn"
    notifier = granted("NotifierFunction")
    assert not {a for a in notifier if a.startswith(("ecs:", "iam:", "ssm:", "sts:", "dynamodb:"))}
