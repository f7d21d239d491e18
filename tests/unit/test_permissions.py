"""Permissions as data: each adapter declares the IAM actions it calls (``PERMISSIONS`` beside the
calls, as Cloud Custodian's actions do), each function declares the adapters whose calls it makes
(``ADAPTERS`` in functions/<name>/app.py), and template.yaml grants each function exactly the union
of its adapters' actions: nothing missing (a call that fails with AccessDenied in production only)
and nothing more (a grant nobody uses). The router (parse, queue) is granted less than the worker."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import pytest
import sidecar_enforcer.adapters
import yaml

from ._factories import ROOT

# The client factory, not an adapter: it calls nothing itself.
NOT_ADAPTERS = {"aws"}


class _CloudFormation(yaml.SafeLoader):
    """template.yaml with its intrinsic functions (!Sub, !GetAtt, !If, ...) read as plain data."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    raise yaml.constructor.ConstructorError(
        None, None, f"!{suffix} on a {type(node).__name__}", node.start_mark
    )


_CloudFormation.add_multi_constructor("!", _any_tag)


def adapters() -> dict[str, ModuleType]:
    package = sidecar_enforcer.adapters
    return {
        info.name: importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name not in NOT_ADAPTERS
    }


FUNCTIONS = {
    "router": "RouterFunction",
    "worker": "WorkerFunction",
    "backfill": "BackfillFunction",
    "notifier": "NotifierFunction",
}

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


def declared(function: str, name: str) -> set[str]:
    """A literal tuple (``ADAPTERS``, ``MEMBER_ADAPTERS``) from the function's source."""
    source = (ROOT / "functions" / function / "app.py").read_text(encoding="utf-8")
    block = source[source.index(f"\n{name} = (") :]
    block = block[: block.index(")\n") + 1]
    found: dict[str, Any] = {}
    exec(compile(block, "app.py", "exec"), found)  # noqa: S102 - a literal tuple from our own file
    return set(found[name])


def declared_adapters(function: str) -> set[str]:
    return declared(function, "ADAPTERS")


def calls_of(function: str) -> set[str]:
    modules = adapters()
    return {action for name in declared_adapters(function) for action in modules[name].PERMISSIONS}


def load(name: str = "template.yaml") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / name).read_text(encoding="utf-8"), Loader=_CloudFormation)  # noqa: S506
    return loaded


def granted(resource: str, name: str = "template.yaml") -> set[str]:
    """Every action of the resource's policies (both branches of an !If): a function's Policies, or
    a role's Policies' documents."""
    policies = load(name)["Resources"][resource]["Properties"]["Policies"]
    return actions_in(policies)


def actions_in(policies: Any) -> set[str]:
    actions: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            action = node.get("Action")
            actions.update([action] if isinstance(action, str) else action or [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(policies)
    return actions


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


def statements(policies: Any) -> dict[str, dict[str, Any]]:
    """The statements of a policy list by Sid (both branches of an !If)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "Effect" in node and "Action" in node:
                found[node.get("Sid", str(node["Action"]))] = node
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(policies)
    return found


def worker_statements() -> dict[str, dict[str, Any]]:
    return statements(load()["Resources"]["WorkerFunction"]["Properties"]["Policies"])


def test_registration_is_allowed_only_with_the_enforcer_s_marker_tag_in_the_request() -> None:
    from sidecar_enforcer import ENFORCER_NAME
    from sidecar_enforcer.domain.markers import MARKER_MANAGED_BY

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
