"""Every cross-account and cross-service call path, read as AWS would (tests/unit/_policy.py), on the
templates rendered with the parameters the README deploys them with:

- each hub function whose adapters call sts:AssumeRole may assume the member role: its own policy
  allows it and the member role's trust admits its role (as CloudFormation names it, on
  HubRolePath); another role of the hub, a role off the path, or an account outside the
  organisation is refused;
- each member forwarding rule's role may put its events on the hub's bus, and the bus admits them
  from the organisation only and only the events the rules forward;
- with KmsKeyArn, the README's key policy lets every AWS service that writes with the key use it
  (CloudWatch to the alarm topic, EventBridge to the rules' dead-letter queue, SNS to the
  notifier's queues, CloudWatch Logs to the stack's log groups), and the functions' own grants
  count.

Each check is a function that raises AssertionError; ``test_each_check_fails_on_a_broken_template``
breaks the templates one way at a time (a condition dropped, a path changed, a statement removed)
and shows the check failing.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sidecar_enforcer.config import Settings

from . import _policy
from ._policy import Request, Stack, allows, decide, load
from ._readme import README, aws_commands
from ._template import FUNCTIONS, assuming_functions

ORGANIZATION = "o-abcdefghij"
OTHER_ORGANIZATION = "o-zzzzzzzzzz"
HUB = "111122223333"
MEMBER = "444455556666"
OUTSIDER = "999988887777"
OTHER_STACK_GROUPS = f"arn:aws:logs:us-east-1:{HUB}:log-group:/aws/lambda/other/*"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def readme_member_parameters(readme: str) -> dict[str, str]:
    """The member StackSet's parameters as the README's create-stack-set passes them."""
    (command,) = [a for a in aws_commands(readme) if a[1:3] == ["cloudformation", "create-stack-set"]]
    values = command[command.index("--parameters") + 1 :]
    values = values[: next((i for i, v in enumerate(values) if v.startswith("--")), len(values))]
    parameters = {}
    for value in values:
        fields = dict(part.split("=", 1) for part in value.split(","))
        parameters[fields["ParameterKey"]] = fields["ParameterValue"]
    return parameters


def readme_key_policy(readme: str) -> dict[str, Any]:
    """The README's key policy for KmsKeyArn (its one JSON block that is a policy with a KMS grant)."""
    blocks = [m.group(1) for m in re.finditer(r"```json\n(.*?)```", readme, re.S)]
    policies: list[dict[str, Any]] = [json.loads(b) for b in blocks if '"kms:' in b]
    (policy,) = policies
    return policy


@dataclass
class Deployment:
    """The hub and a member account's stacks, as the README deploys them."""

    hub_template: dict[str, Any]
    member_template: dict[str, Any]
    readme: str

    @property
    def member_parameters(self) -> dict[str, str]:
        return readme_member_parameters(self.readme)

    @property
    def hub_account(self) -> str:
        return self.member_parameters["HubAccountId"]

    @property
    def hub_region(self) -> str:
        return self.member_parameters["HubRegion"]

    def hub(self, **parameters: str) -> Stack:
        given = {"OrganizationId": self.member_parameters["OrganizationId"], **parameters}
        return Stack(self.hub_template, given, account=self.hub_account, region=self.hub_region)

    def member(self, region: str | None = None, account: str = MEMBER) -> Stack:
        return Stack(
            self.member_template,
            self.member_parameters,
            account=account,
            region=region or self.hub_region,
            stack_name="StackSet-sidecar-enforcer-member-0a1b2c3d",
        )


def deployment() -> Deployment:
    return Deployment(load("template.yaml"), load("member.yaml"), README)


def test_the_worker_and_the_backfill_function_assume_the_member_role() -> None:
    assert set(assuming_functions()) == {"worker", "backfill"}


# -- the member role's trust -----------------------------------------------------------------


def _assume(role_arn: str, target: str, organization: str) -> tuple[Request, Request]:
    """AssumeRole as the caller's account authorises it (its identity policy) and as the member
    role's trust does."""
    account = role_arn.split(":")[4]
    identity = Request("sts:AssumeRole", target, role_arn, {"aws:ResourceOrgID": ORGANIZATION})
    trust = Request(
        "sts:AssumeRole",
        target,
        role_arn,
        {"aws:PrincipalArn": role_arn, "aws:PrincipalOrgID": organization, "aws:PrincipalAccount": account},
    )
    return identity, trust


def check_hub_functions_may_assume_the_member_role(d: Deployment) -> None:
    hub, member = d.hub(), d.member()
    role = member.getatt("MemberRole", "Arn")
    trust = member.properties("MemberRole")["AssumeRolePolicyDocument"]
    # The role the hub's code assumes (MEMBER_ROLE_NAME, from the hub's environment) is this one.
    environment = hub.resolve(d.hub_template["Globals"]["Function"]["Environment"]["Variables"])
    settings = Settings(member_role_name=environment["MEMBER_ROLE_NAME"])
    assert settings.member_role_arn("aws", MEMBER) == role, "the hub assumes another role than member.yaml's"
    for function, resource in assuming_functions().items():
        role_arn = hub.getatt(f"{resource}Role", "Arn")
        identity, assume = _assume(role_arn, role, ORGANIZATION)
        assert allows(hub.properties(resource)["Policies"], identity), f"{function}'s own policy"
        assert allows(trust, assume), f"the member role's trust refuses the {function}'s role {role_arn}"
        # A role CloudFormation replaces gets a new generated name: still trusted.
        replaced = role_arn.rsplit("-", 1)[0] + "-ZYXWVUT98765"
        assert allows(trust, _assume(replaced, role, ORGANIZATION)[1]), f"{function}'s replaced role"


def check_no_one_else_may_assume_the_member_role(d: Deployment) -> None:
    hub, member = d.hub(), d.member()
    role = member.getatt("MemberRole", "Arn")
    trust = member.properties("MemberRole")["AssumeRolePolicyDocument"]
    for function, resource in FUNCTIONS.items():
        if function not in assuming_functions():
            role_arn = hub.getatt(f"{resource}Role", "Arn")
            assert not allows(trust, _assume(role_arn, role, ORGANIZATION)[1]), f"{function} is trusted"
    for name, resource in d.hub_template["Resources"].items():  # the roles the hub declares itself
        if resource["Type"] == "AWS::IAM::Role":
            role_arn = hub.getatt(name, "Arn")
            assert not allows(trust, _assume(role_arn, role, ORGANIZATION)[1]), f"{name} is trusted"
    path = d.member_parameters.get("HubRolePath", "/sidecar-enforcer/")
    others = {
        "a role off the path": f"arn:aws:iam::{d.hub_account}:role/admin",
        "a role under another path": f"arn:aws:iam::{d.hub_account}:role/other{path}x",
        "a role on the path in another account": f"arn:aws:iam::{OUTSIDER}:role{path}x",
    }
    for what, arn in others.items():
        assert not allows(trust, _assume(arn, role, ORGANIZATION)[1]), what
    on_path = f"arn:aws:iam::{d.hub_account}:role{path}x"
    assert not allows(trust, _assume(on_path, role, OTHER_ORGANIZATION)[1]), "the hub left the organisation"
    # And the hub's functions assume nothing else: no other role, no account outside the organisation.
    for function, resource in assuming_functions().items():
        policies = hub.properties(resource)["Policies"]
        role_arn = hub.getatt(f"{resource}Role", "Arn")
        admin = f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"
        assert not allows(policies, _assume(role_arn, admin, ORGANIZATION)[0]), (
            f"{function} may assume {admin}"
        )
        outside = Request("sts:AssumeRole", role, role_arn, {"aws:ResourceOrgID": OTHER_ORGANIZATION})
        assert not allows(policies, outside), f"{function} may assume a role outside the organisation"


def check_the_hub_outputs_what_the_readme_passes(d: Deployment) -> None:
    hub = d.hub()
    outputs = d.hub_template["Outputs"]
    parameters = d.member_parameters
    member_declared = d.member_template["Parameters"]
    required = {name for name, spec in member_declared.items() if "Default" not in spec}
    assert required <= set(parameters), f"the README leaves out {sorted(required - set(parameters))}"
    assert set(parameters) <= set(member_declared)
    output = hub.resolve(outputs["HubRolePath"]["Value"])
    assert output == parameters["HubRolePath"], f"the hub outputs {output}, the README passes {parameters}"
    assert d.member_parameters["HubAccountId"] == hub.account


# -- the members' events to the hub's bus ----------------------------------------------------


def forwarding_rules(member: Stack) -> dict[str, dict[str, Any]]:
    return {
        name: member.properties(name)
        for name, resource in member.template["Resources"].items()
        if resource["Type"] == "AWS::Events::Rule" and member.condition(resource["Condition"])
    }


def _put_events(
    role_arn: str, bus: str, organization: str, source: list[str], detail_type: list[str]
) -> Request:
    return Request(
        "events:PutEvents",
        bus,
        role_arn,
        {
            "aws:PrincipalOrgID": organization,
            "aws:PrincipalAccount": role_arn.split(":")[4],
            "events:source": source,
            "events:detail-type": detail_type,
        },
    )


def _bus_policy(hub: Stack) -> dict[str, Any]:
    assert hub.condition(hub.template["Resources"]["OrganizationEventsPolicy"]["Condition"])
    properties: dict[str, Any] = hub.properties("OrganizationEventsPolicy")
    return properties


def check_each_member_rule_may_put_its_events_on_the_hub_bus(d: Deployment) -> None:
    hub, member = d.hub(), d.member(region="eu-west-1")
    bus_policy = _bus_policy(hub)
    bus = bus_policy["Statement"]["Resource"]
    assert bus == hub.resolve(d.hub_template["Outputs"]["EventBusArn"]["Value"])
    forward = member.properties("ForwardRole")
    rules = forwarding_rules(member)
    assert rules
    for name, rule in rules.items():
        (target,) = rule["Targets"]
        assert target["Arn"] == bus, f"{name} targets {target['Arn']}"
        assert target["RoleArn"] == member.getatt("ForwardRole", "Arn")
        service = Request(
            "sts:AssumeRole", target["RoleArn"], "events.amazonaws.com", {"aws:SourceAccount": MEMBER}
        )
        assert allows(forward["AssumeRolePolicyDocument"], service), (
            f"{name}: EventBridge cannot use its role"
        )
        pattern = rule["EventPattern"]
        for source in pattern["source"]:
            for detail_type in pattern["detail-type"]:
                put = _put_events(target["RoleArn"], bus, ORGANIZATION, [source], [detail_type])
                assert allows(forward["Policies"], put), f"{name}: its role may not put events on {bus}"
                assert allows(bus_policy["Statement"], put), f"{name}: the bus refuses {detail_type}"


def check_the_hub_bus_admits_nothing_else(d: Deployment) -> None:
    hub, member = d.hub(), d.member(region="eu-west-1")
    statement = _bus_policy(hub)["Statement"]
    bus = statement["Resource"]
    role = member.getatt("ForwardRole", "Arn")
    ecs, call = ["aws.ecs"], ["AWS API Call via CloudTrail"]
    refused = {
        "another organisation": _put_events(role, bus, OTHER_ORGANIZATION, ecs, call),
        "another source": _put_events(role, bus, ORGANIZATION, ["aws.ec2"], call),
        "another detail type": _put_events(role, bus, ORGANIZATION, ecs, ["ECS Task State Change"]),
        "one entry of another source": _put_events(role, bus, ORGANIZATION, ["aws.ecs", "my.app"], call),
    }
    for what, request in refused.items():
        assert not allows(statement, request), what


def check_the_bus_statement_id_fits_any_stack_name(d: Deployment) -> None:
    import botocore.session

    shape = botocore.session.get_session().get_service_model("events")
    put_permission = shape.operation_model("PutPermission").input_shape
    assert put_permission is not None
    limits = put_permission.members["StatementId"].metadata
    for name in ("a", "sidecar-enforcer-prod", "s" * 128):  # a stack name has 1 to 128 characters
        hub = Stack(d.hub_template, {"OrganizationId": ORGANIZATION}, stack_name=name)
        statement_id = hub.properties("OrganizationEventsPolicy")["StatementId"]
        assert limits["min"] <= len(statement_id) <= limits["max"], (name, statement_id)
        assert re.fullmatch(limits["pattern"], statement_id), statement_id


# -- the customer managed key ----------------------------------------------------------------


def key_users(hub: Stack) -> dict[str, list[Request]]:
    """What calls KMS with the key, found in the rendered template: the service that writes to each
    resource encrypted with it, and each function whose own policy grants its use."""
    resources = hub.template["Resources"]
    present = {
        name: r for name, r in resources.items() if "Condition" not in r or hub.condition(r["Condition"])
    }
    users: dict[str, list[Request]] = {}

    def add(
        what: str, principal: str, actions: tuple[str, ...], context: dict[str, Any] | None = None
    ) -> None:
        users[what] = [Request(a, KEY, principal, context or {}) for a in actions]

    data_key = ("kms:GenerateDataKey", "kms:Decrypt")
    encrypted = {
        name for name in present if hub.properties(name).get("KmsMasterKeyId") == KEY
    }  # queues and topics
    for name in encrypted:
        arn = hub.getatt(name, "Arn") if present[name]["Type"] == "AWS::SQS::Queue" else hub.ref(name)
        for alarm, resource in present.items():
            if resource["Type"] == "AWS::CloudWatch::Alarm" and arn in hub.properties(alarm)["AlarmActions"]:
                add(f"{alarm} -> {name}", "cloudwatch.amazonaws.com", data_key)
        for function, resource in present.items():
            for event, spec in (resource.get("Properties", {}).get("Events") or {}).items():
                dead = hub.resolve(spec.get("Properties", {}).get("DeadLetterConfig", {})).get("Arn")
                if dead == arn and spec["Type"] in ("EventBridgeRule", "Schedule"):
                    add(f"{function}{event} dead letters -> {name}", "events.amazonaws.com", data_key)
        for subscription, resource in present.items():
            if resource["Type"] != "AWS::SNS::Subscription":
                continue
            properties = hub.properties(subscription)
            dead = properties.get("RedrivePolicy", {}).get("deadLetterTargetArn")
            if properties["Protocol"] == "sqs" and arn in (properties["Endpoint"], dead):
                add(f"{subscription} -> {name}", "sns.amazonaws.com", data_key)
    for name, resource in present.items():
        if resource["Type"] == "AWS::Logs::LogGroup" and hub.properties(name).get("KmsKeyId") == KEY:
            group = hub.properties(name)["LogGroupName"]
            arn = f"arn:aws:logs:{hub.region}:{hub.account}:log-group:{group}"
            context = {"kms:EncryptionContext:aws:logs:arn": arn}
            logs = f"logs.{hub.region}.amazonaws.com"
            add(
                f"{name}",
                logs,
                ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:DescribeKey"),
                context,
            )
        if resource["Type"] == "AWS::Serverless::Function":
            role = hub.getatt(f"{name}Role", "Arn")
            users[f"{name}'s role"] = [Request(a, KEY, role) for a in ("kms:GenerateDataKey", "kms:Decrypt")]
    return users


def check_every_sender_may_use_the_key(d: Deployment) -> None:
    hub = d.hub(
        KmsKeyArn=KEY,
        ChatbotTopic="create",
        SlackWebhookSecretArn="arn:aws:secretsmanager:us-east-1:111122223333:secret:sidecar-enforcer/slack-AbCdEf",
        SlackSecondWebhookSecretArn="arn:aws:secretsmanager:us-east-1:111122223333:secret:oncall-AbCdEf",
    )
    policy = readme_key_policy(d.readme)
    users = key_users(hub)
    principals = {request.principal for requests in users.values() for request in requests}
    assert {
        "cloudwatch.amazonaws.com",
        "events.amazonaws.com",
        "sns.amazonaws.com",
        f"logs.{hub.region}.amazonaws.com",
    } <= principals, principals
    for what, requests in users.items():
        for request in requests:
            assert allows(policy, request), f"the key policy refuses {what}: {request.action}"
            if request.principal.startswith("arn:"):  # a function's role: its own policy must allow too
                function = what.removesuffix("'s role")
                policies = hub.properties(function)["Policies"]
                assert allows(policies, request), f"{function}'s policy does not grant {request.action}"


def check_the_key_serves_no_one_else(d: Deployment) -> None:
    policy = readme_key_policy(d.readme)
    hub = d.hub(KmsKeyArn=KEY)
    other_group = f"arn:aws:logs:{hub.region}:{hub.account}:log-group:/aws/lambda/someone-else"
    refused = {
        "another service": Request("kms:Decrypt", KEY, "s3.amazonaws.com"),
        "another account's role": Request("kms:Decrypt", KEY, f"arn:aws:iam::{OUTSIDER}:role/x"),
        "another log group": Request(
            "kms:Encrypt",
            KEY,
            f"logs.{hub.region}.amazonaws.com",
            {"kms:EncryptionContext:aws:logs:arn": other_group},
        ),
        "CloudWatch deleting the key": Request("kms:ScheduleKeyDeletion", KEY, "cloudwatch.amazonaws.com"),
    }
    for what, request in refused.items():
        assert not allows(policy, request), what


# -- the services' deliveries to the queues ---------------------------------------------------


def queue_senders(stack: Stack) -> list[tuple[str, str, str]]:
    """(service, queue ARN, source ARN) of every delivery a service makes to a queue of the stack:
    a rule's dead letters (EventBridge) and a subscription's messages and dead letters (SNS)."""
    resources = stack.template["Resources"]
    present = {n: r for n, r in resources.items() if "Condition" not in r or stack.condition(r["Condition"])}
    senders = []
    for name, resource in present.items():
        if resource["Type"] == "AWS::Events::Rule":
            for target in stack.properties(name).get("Targets", []):
                if "DeadLetterConfig" in target:
                    senders.append(
                        ("events.amazonaws.com", target["DeadLetterConfig"]["Arn"], stack.getatt(name, "Arn"))
                    )
        for event, spec in (resource.get("Properties", {}).get("Events") or {}).items():
            dead = stack.resolve(spec.get("Properties", {}).get("DeadLetterConfig", {})).get("Arn")
            if dead and spec["Type"] in ("EventBridgeRule", "Schedule"):
                senders.append(("events.amazonaws.com", dead, stack.getatt(f"{name}{event}", "Arn")))
        if resource["Type"] == "AWS::SNS::Subscription":
            properties = stack.properties(name)
            if properties["Protocol"] == "sqs":
                for queue in (
                    properties["Endpoint"],
                    properties.get("RedrivePolicy", {}).get("deadLetterTargetArn"),
                ):
                    if queue:
                        senders.append(("sns.amazonaws.com", queue, properties["TopicArn"]))
    return senders


def queue_policies(stack: Stack) -> dict[str, list[Any]]:
    """Each queue's (by ARN) resource policy statements."""
    resources = stack.template["Resources"]
    urls = {
        stack.ref(n): stack.getatt(n, "Arn") for n, r in resources.items() if r["Type"] == "AWS::SQS::Queue"
    }
    policies: dict[str, list[Any]] = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::SQS::QueuePolicy" and (
            "Condition" not in resource or stack.condition(resource["Condition"])
        ):
            properties = stack.properties(name)
            for url in properties["Queues"]:
                policies.setdefault(urls[url], []).append(properties["PolicyDocument"])
    return policies


def _send(service: str, queue: str, source: str, account: str) -> Request:
    return Request("sqs:SendMessage", queue, service, {"aws:SourceArn": source, "aws:SourceAccount": account})


def _queue_stacks(d: Deployment) -> list[Stack]:
    slack = "arn:aws:secretsmanager:us-east-1:111122223333:secret:sidecar-enforcer/slack-AbCdEf"
    second = "arn:aws:secretsmanager:us-east-1:111122223333:secret:oncall-AbCdEf"
    return [
        d.hub(SlackWebhookSecretArn=slack, SlackSecondWebhookSecretArn=second),
        d.member(region="eu-west-1"),
    ]


def check_each_service_may_deliver_to_its_queues(d: Deployment) -> None:
    for stack in _queue_stacks(d):
        policies = queue_policies(stack)
        senders = queue_senders(stack)
        assert senders
        for service, queue, source in senders:
            request = _send(service, queue, source, stack.account)
            assert allows(policies.get(queue, []), request), f"{queue} refuses {service} from {source}"


def check_the_queues_take_nothing_else(d: Deployment) -> None:
    for stack in _queue_stacks(d):
        policies = queue_policies(stack)
        for service, queue, source in queue_senders(stack):
            other = source.rsplit(":", 1)[0] + ":someone-else"
            assert not allows(policies.get(queue, []), _send(service, queue, other, stack.account)), (
                f"{queue} takes {service} from {other}"
            )


CHECKS: list[Callable[[Deployment], None]] = [
    check_hub_functions_may_assume_the_member_role,
    check_no_one_else_may_assume_the_member_role,
    check_the_hub_outputs_what_the_readme_passes,
    check_each_member_rule_may_put_its_events_on_the_hub_bus,
    check_the_hub_bus_admits_nothing_else,
    check_the_bus_statement_id_fits_any_stack_name,
    check_every_sender_may_use_the_key,
    check_the_key_serves_no_one_else,
    check_each_service_may_deliver_to_its_queues,
    check_the_queues_take_nothing_else,
]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__.removeprefix("check_") for c in CHECKS])
def test_the_templates_pass(check: Callable[[Deployment], None]) -> None:
    check(deployment())


# -- each check fails on a broken template ---------------------------------------------------


def _trust(d: Deployment) -> dict[str, Any]:
    statement: dict[str, Any] = d.member_template["Resources"]["MemberRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"][0]
    return statement


def _bus_statement(d: Deployment) -> dict[str, Any]:
    statement: dict[str, Any] = d.hub_template["Resources"]["OrganizationEventsPolicy"]["Properties"][
        "Statement"
    ]
    return statement


def _key_statement(d: Deployment, sid: str) -> dict[str, Any]:
    policy = readme_key_policy(d.readme)
    statements: list[dict[str, Any]] = [s for s in policy["Statement"] if s["Sid"] == sid]
    (statement,) = statements
    return statement


def _set_key_policy(d: Deployment, policy: dict[str, Any]) -> None:
    old = readme_key_policy(d.readme)
    start = d.readme.index('"Sid": "AccountIamPolicies"')
    start = d.readme.rindex("```json\n", 0, start) + len("```json\n")
    end = d.readme.index("```", start)
    assert json.loads(d.readme[start:end]) == old
    d.readme = d.readme[:start] + json.dumps(policy, indent=2) + "\n" + d.readme[end:]


def _drop_key_statement(d: Deployment, sid: str) -> None:
    policy = readme_key_policy(d.readme)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != sid]
    _set_key_policy(d, policy)


def _edit_key_statement(d: Deployment, sid: str, edit: Callable[[dict[str, Any]], None]) -> None:
    policy = readme_key_policy(d.readme)
    for statement in policy["Statement"]:
        if statement["Sid"] == sid:
            edit(statement)
    _set_key_policy(d, policy)


def _trust_the_worker_role_only(d: Deployment) -> None:
    condition = _trust(d)["Condition"]
    condition.pop("ArnLike")
    condition["ArnEquals"] = {"aws:PrincipalArn": d.hub().getatt("WorkerFunctionRole", "Arn")}


def _drop_role_path(d: Deployment, resource: str) -> None:
    del d.hub_template["Resources"][resource]["Properties"]["RolePath"]


def _assume_grant(d: Deployment, resource: str) -> dict[str, Any]:
    """The function's AssumeMemberRole statement (inside its !If HasOrganization)."""
    statements = d.hub_template["Resources"][resource]["Properties"]["Policies"][0]["Statement"]
    (wrapped,) = [s for s in statements if "AssumeMemberRole" in json.dumps(s)]
    statement: dict[str, Any] = wrapped["Fn::If"][1]
    assert statement["Sid"] == "AssumeMemberRole"
    return statement


def _drop_assume_grant(d: Deployment, resource: str) -> None:
    statements = d.hub_template["Resources"][resource]["Properties"]["Policies"][0]["Statement"]
    statements[:] = [s for s in statements if "AssumeMemberRole" not in json.dumps(s)]


BREAKS: dict[str, tuple[Callable[[Deployment], None], Callable[[Deployment], None]]] = {
    "the backfill role off the trusted path": (
        lambda d: _drop_role_path(d, "BackfillFunction"),
        check_hub_functions_may_assume_the_member_role,
    ),
    "the worker role off the trusted path": (
        lambda d: _drop_role_path(d, "WorkerFunction"),
        check_hub_functions_may_assume_the_member_role,
    ),
    "the trust names another path": (
        lambda d: _trust(d)["Condition"]["ArnLike"].update(
            {"aws:PrincipalArn": {"Fn::Sub": "arn:${AWS::Partition}:iam::${HubAccountId}:role/other/*"}}
        ),
        check_hub_functions_may_assume_the_member_role,
    ),
    "the trust names the worker's role ARN only (as it did)": (
        _trust_the_worker_role_only,
        check_hub_functions_may_assume_the_member_role,
    ),
    "the backfill function not granted sts:AssumeRole": (
        lambda d: _drop_assume_grant(d, "BackfillFunction"),
        check_hub_functions_may_assume_the_member_role,
    ),
    "the hub's role name not the member role's": (
        lambda d: d.hub_template["Parameters"]["MemberRoleName"].update({"Default": "enforcer"}),
        check_hub_functions_may_assume_the_member_role,
    ),
    "the trust without the path condition": (
        lambda d: _trust(d)["Condition"].pop("ArnLike"),
        check_no_one_else_may_assume_the_member_role,
    ),
    "the trust without the organisation condition": (
        lambda d: _trust(d)["Condition"].pop("StringEquals"),
        check_no_one_else_may_assume_the_member_role,
    ),
    "a role of the hub's own on the trusted path": (
        lambda d: d.hub_template["Resources"].update(
            {"SchedulerRole": {"Type": "AWS::IAM::Role", "Properties": {"Path": "/sidecar-enforcer/"}}}
        ),
        check_no_one_else_may_assume_the_member_role,
    ),
    "the backfill function may assume any role": (
        lambda d: _assume_grant(d, "BackfillFunction").update({"Resource": "*"}),
        check_no_one_else_may_assume_the_member_role,
    ),
    "the router's role on the trusted path": (
        lambda d: d.hub_template["Resources"]["RouterFunction"]["Properties"].update(
            {"RolePath": {"Ref": "HubRolePath"}}
        ),
        check_no_one_else_may_assume_the_member_role,
    ),
    "the README passes another path": (
        lambda d: setattr(
            d, "readme", d.readme.replace("ParameterValue=/sidecar-enforcer/", "ParameterValue=/x/")
        ),
        check_the_hub_outputs_what_the_readme_passes,
    ),
    "the forwarding role may put events on another bus": (
        lambda d: d.member_template["Resources"]["ForwardRole"]["Properties"]["Policies"][0][
            "PolicyDocument"
        ]["Statement"][0].update(
            {"Resource": {"Fn::Sub": "arn:${AWS::Partition}:events:${HubRegion}:${HubAccountId}:event-bus/x"}}
        ),
        check_each_member_rule_may_put_its_events_on_the_hub_bus,
    ),
    "the bus admits another detail type only": (
        lambda d: _bus_statement(d)["Condition"]["ForAllValues:StringEquals"].update(
            {"events:detail-type": ["ECS Task State Change"]}
        ),
        check_each_member_rule_may_put_its_events_on_the_hub_bus,
    ),
    "a member rule forwarding what the bus refuses": (
        lambda d: d.member_template["Resources"]["ForwardEcsDeploymentStateChange"]["Properties"][
            "EventPattern"
        ].update({"detail-type": ["ECS Service Action"]}),
        check_each_member_rule_may_put_its_events_on_the_hub_bus,
    ),
    "the bus without the organisation condition": (
        lambda d: _bus_statement(d)["Condition"].pop("StringEquals"),
        check_the_hub_bus_admits_nothing_else,
    ),
    "the bus without the source and detail type conditions": (
        lambda d: _bus_statement(d)["Condition"].pop("ForAllValues:StringEquals"),
        check_the_hub_bus_admits_nothing_else,
    ),
    "the bus's conditions on any one entry": (
        lambda d: _bus_statement(d)["Condition"].update(
            {"ForAnyValue:StringEquals": _bus_statement(d)["Condition"].pop("ForAllValues:StringEquals")}
        ),
        check_the_hub_bus_admits_nothing_else,
    ),
    "the statement id named after the stack": (
        lambda d: d.hub_template["Resources"]["OrganizationEventsPolicy"]["Properties"].update(
            {"StatementId": {"Fn::Sub": "sidecar-enforcer-${AWS::StackName}"}}
        ),
        check_the_bus_statement_id_fits_any_stack_name,
    ),
    "no key statement for CloudWatch": (
        lambda d: _drop_key_statement(d, "AlarmsToTheAlarmTopic"),
        check_every_sender_may_use_the_key,
    ),
    "no key statement for EventBridge": (
        lambda d: _drop_key_statement(d, "RuleDeadLettersToTheQueue"),
        check_every_sender_may_use_the_key,
    ),
    "no key statement for SNS": (
        lambda d: _drop_key_statement(d, "StatusTopicToTheNotifierQueues"),
        check_every_sender_may_use_the_key,
    ),
    "no key statement for the account's IAM policies": (
        lambda d: _drop_key_statement(d, "AccountIamPolicies"),
        check_every_sender_may_use_the_key,
    ),
    "the log groups' key statement for another stack": (
        lambda d: _edit_key_statement(
            d,
            "TheStackLogGroups",
            lambda s: s["Condition"]["ArnLike"].update(
                {"kms:EncryptionContext:aws:logs:arn": OTHER_STACK_GROUPS}
            ),
        ),
        check_every_sender_may_use_the_key,
    ),
    "the log groups renamed": (
        lambda d: d.hub_template["Resources"]["WorkerLogGroup"]["Properties"].update(
            {"LogGroupName": {"Fn::Sub": "/aws/lambda/${WorkerFunction}"}}
        ),
        check_every_sender_may_use_the_key,
    ),
    "the log groups' key statement without its condition": (
        lambda d: _edit_key_statement(d, "TheStackLogGroups", lambda s: s.pop("Condition")),
        check_the_key_serves_no_one_else,
    ),
    "a rule's dead letters not admitted by its queue": (
        lambda d: d.hub_template["Resources"]["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"][
            "Statement"
        ][0]["Condition"]["ArnEquals"]["aws:SourceArn"].pop(),
        check_each_service_may_deliver_to_its_queues,
    ),
    "the member's dead-letter queue not admitting EventBridge": (
        lambda d: d.member_template["Resources"]["ForwardDeadLetterQueuePolicy"]["Properties"][
            "PolicyDocument"
        ]["Statement"][0].update({"Principal": {"Service": "sns.amazonaws.com"}}),
        check_each_service_may_deliver_to_its_queues,
    ),
    "the notifier's queues without the topic condition": (
        lambda d: d.hub_template["Resources"]["NotifierQueuePolicy"]["Properties"]["PolicyDocument"][
            "Statement"
        ][0].pop("Condition"),
        check_the_queues_take_nothing_else,
    ),
}


@pytest.mark.parametrize("broken", BREAKS)
def test_each_check_fails_on_a_broken_template(broken: str) -> None:
    breaking, check = BREAKS[broken]
    d = deployment()
    d.hub_template, d.member_template = copy.deepcopy(d.hub_template), copy.deepcopy(d.member_template)
    breaking(d)

    with pytest.raises(AssertionError):
        check(d)


# -- the evaluator itself ----------------------------------------------------------------------


def test_an_explicit_deny_wins_over_an_allow() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
    request = Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:111122223333:q", "sns.amazonaws.com")

    assert decide([allow], request) == _policy.ALLOW
    assert decide([allow, deny], request) == _policy.DENY
    assert decide([], request) == _policy.IMPLICIT_DENY


def test_for_all_values_holds_for_an_absent_key_and_for_any_value_does_not() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"events:source": ["aws.ecs"]}},
    }
    any_value = copy.deepcopy(statement)
    any_value["Condition"] = {"ForAnyValue:StringEquals": {"events:source": ["aws.ecs"]}}
    bare = Request(
        "events:PutEvents", "arn:aws:events:us-east-1:1:event-bus/default", "arn:aws:iam::1:role/r"
    )

    assert allows(statement, bare)  # as AWS documents: pair it with a key that is always present
    assert not allows(any_value, bare)


def test_arn_like_matches_field_by_field_and_condition_keys_ignore_case() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnLike": {"AWS:PrincipalArn": "arn:aws:iam::111122223333:role/p/*"}},
    }

    def request(arn: str) -> Request:
        return Request("sts:AssumeRole", "arn:aws:iam::2:role/m", arn, {"aws:principalarn": arn})

    assert allows(statement, request("arn:aws:iam::111122223333:role/p/deep/name"))
    assert not allows(statement, request("arn:aws:iam::111122223333:role/q/name"))
    assert not allows(statement, request("arn:aws:iam::999988887777:role/p/name"))  # not the account


def test_an_operator_it_cannot_read_is_an_error_not_a_pass() -> None:
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "*",
        "Resource": "*",
        "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
    }

    with pytest.raises(NotImplementedError):
        allows(statement, Request("s3:GetObject", "arn:aws:s3:::b/k", "arn:aws:iam::1:role/r"))


def test_a_negated_operator_holds_when_its_key_is_absent_so_a_deny_on_it_applies() -> None:
    # IAM user guide, condition operators: a key absent from the request context matches no value,
    # so an operator that requires no match (StringNotEquals, ArnNotLike, ...) is true: a Deny
    # "unless aws:PrincipalOrgID is ours" refuses a caller that has no organisation at all.
    allow = {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*"}
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": ORGANIZATION}},
    }
    queue = "arn:aws:sqs:us-east-1:111122223333:q"
    member = Request("sqs:SendMessage", queue, "arn:aws:iam::1:role/r", {"aws:PrincipalOrgID": ORGANIZATION})
    no_organisation = Request("sqs:SendMessage", queue, "arn:aws:iam::1:role/r")

    assert decide([allow, deny], member) == _policy.ALLOW
    assert decide([allow, deny], no_organisation) == _policy.DENY
    for operator in ("ArnNotEquals", "ArnNotLike", "StringNotLike"):
        statement = dict(deny, Condition={operator: {"aws:SourceArn": "arn:aws:sns:*:*:t"}})
        assert decide([allow, statement], no_organisation) == _policy.DENY, operator


def test_wildcards_are_only_star_and_question_mark_brackets_are_literal() -> None:
    # IAM's *Like operators and Resource/Action matching know * and ? only: a "[" in a policy is a
    # character to match, never a set of characters (as fnmatch would read it).
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:Get[O]bject",
        "Resource": "arn:aws:s3:::b/[ab]?",
        "Condition": {"StringLike": {"aws:PrincipalTag/team": "[ab]*"}},
    }

    def request(action: str, key: str, team: str) -> Request:
        return Request(
            action, f"arn:aws:s3:::b/{key}", "arn:aws:iam::1:role/r", {"aws:PrincipalTag/team": team}
        )

    assert allows(statement, request("s3:Get[O]bject", "[ab]1", "[ab]x"))
    assert not allows(statement, request("s3:GetObject", "[ab]1", "[ab]x"))
    assert not allows(statement, request("s3:Get[O]bject", "a1", "[ab]x"))
    assert not allows(statement, request("s3:Get[O]bject", "[ab]1", "ax"))
