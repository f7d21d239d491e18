"""Each adapter's ``PERMISSIONS`` is exactly what its code calls, read from its source.

The calls are the AWS operations named in an adapter module: a client method as an attribute
(``client.put_item(...)``, ``call("GetItem", client.get_item, ...)``) or as a string (a paginator's
``pages(..., "list_tasks")``, ``getattr(client, "describe_account")``), a waiter by name
(``client.get_waiter("table_exists")``), or a library that calls AWS with the client it is given
(Powertools' parameter providers). Method names map to operations through
botocore's own service models (``xform_name`` is how boto3 names a client's methods), for the
services the layer and the functions build clients for. The template tests hold the functions'
grants to ``PERMISSIONS``; this holds ``PERMISSIONS`` to the code.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache

import botocore.session
import pytest
import sidecar_enforcer.adapters
from botocore import xform_name
from botocore.exceptions import DataNotFoundError

from ._factories import ROOT

ADAPTERS = ROOT / "layers/common/sidecar_enforcer/adapters"
# The client factory and the call helpers, not an adapter: it names no operation itself.
NOT_ADAPTERS = {"aws"}

# Actions AWS authorizes as part of another call, declared beside it:
# - a RegisterTaskDefinition with tags is also authorized as ecs:TagResource (ECS Developer Guide,
#   "Grant permission to tag resources on creation": ecs:TagResource with ecs:CreateAction);
# - a RegisterTaskDefinition naming a taskRoleArn or executionRoleArn passes those roles, which needs
#   iam:PassRole on them (ECS Developer Guide, "Task IAM role" and "Task execution IAM role").
IMPLIED = {"ecs:RegisterTaskDefinition": {"ecs:TagResource", "iam:PassRole"}}
# Operations authorized as another action: SQS's batch actions have no IAM action of their own,
# SendMessage's permission is SendMessageBatch's (SQS Developer Guide, "Amazon SQS batch actions").
AUTHORIZED_AS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
# Calls that need no permission: "No permissions are required to perform this operation"
# (AWS STS API Reference, GetCallerIdentity).
FREE = {"sts:GetCallerIdentity"}
# Functions of an adapter module that no Lambda function runs, so nothing grants their calls.
NOT_IN_A_FUNCTION = {
    "dynamodb": {"create_table"},  # the demo's, local runs' and tests' table; the stack's is template.yaml's
}
# A library given a client, and the method called on it -> the operation it makes with that client
# (aws_lambda_powertools.utilities.parameters: SSMProvider.get_multiple pages GetParametersByPath,
# SSMProvider.get calls GetParameter, SecretsProvider.get calls GetSecretValue).
LIBRARY_CALLS = {
    ("SSMProvider", "get_multiple"): "ssm:GetParametersByPath",
    ("SSMProvider", "get"): "ssm:GetParameter",
    ("SecretsProvider", "get"): "secretsmanager:GetSecretValue",
}


def adapter_names() -> list[str]:
    found = pkgutil.iter_modules(sidecar_enforcer.adapters.__path__)
    return sorted(info.name for info in found if info.name not in NOT_ADAPTERS)


@cache
def services() -> frozenset[str]:
    """Every service the layer and the functions build a client for: ``<x>.client("service", ...)``."""
    sources = [*(ROOT / "layers/common/sidecar_enforcer").rglob("*.py"), *ROOT.glob("functions/*/app.py")]
    return frozenset(
        node.args[0].value
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


@cache
def operations() -> dict[str, frozenset[str]]:
    """A client method's name -> the IAM actions of the services that have it ("tag_resource" is
    ECS's, DynamoDB's, ...). The IAM prefix is the service's signing name for all of them."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in services():
        model = session.get_service_model(service)
        for operation in model.operation_names:
            found.setdefault(xform_name(operation), set()).add(f"{model.signing_name}:{operation}")
    return {method: frozenset(actions) for method, actions in found.items()}


@cache
def waiters() -> dict[str, frozenset[str]]:
    """A waiter's name (``get_waiter("table_exists")``) -> the actions of the operation it polls."""
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in services():
        model = session.get_service_model(service)
        try:
            waiter_model = session.get_waiter_model(service)
        except DataNotFoundError:  # the service has no waiters
            continue
        for name in waiter_model.waiter_names:
            operation = waiter_model.get_waiter(name).operation
            found.setdefault(xform_name(name), set()).add(f"{model.signing_name}:{operation}")
    return {name: frozenset(actions) for name, actions in found.items()}


def declared_in(tree: ast.Module) -> set[str]:
    """The module's literal ``PERMISSIONS`` tuple."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "PERMISSIONS":
            return set(ast.literal_eval(value))
    raise AssertionError("no PERMISSIONS = (...) in the module")


def nodes(tree: ast.AST, skipped: set[str]) -> Iterator[ast.AST]:
    """Every node of the tree, outside the functions named in ``skipped``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child.name in skipped:
            continue
        yield child
        yield from nodes(child, skipped)


def _literal(call: ast.Call, position: int, keyword: str) -> str | None:
    values = [*call.args[position : position + 1], *(k.value for k in call.keywords if k.arg == keyword)]
    found = [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return found[0] if found else None


def called_in(name: str, tree: ast.Module) -> set[str]:
    """The actions the module's code calls; a method several services have counts as the service's
    the module declares (all of them when it declares none)."""
    prefixes = {action.split(":")[0] for action in declared_in(tree)}

    def resolve(actions: frozenset[str]) -> set[str]:
        mine = {a for a in actions if a.split(":")[0] in prefixes}
        return mine or set(actions)

    found: set[str] = set()
    providers: dict[str, str] = {}  # "self._provider" -> "SSMProvider"
    everything = list(nodes(tree, NOT_IN_A_FUNCTION.get(name, set())))
    for node in everything:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            constructor = node.value.func
            if isinstance(constructor, ast.Name) and any(constructor.id == c for c, _ in LIBRARY_CALLS):
                providers.update({ast.unparse(t): constructor.id for t in node.targets})
    for node in everything:
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            if node.attr in operations():
                found |= resolve(operations()[node.attr])
            provider = providers.get(ast.unparse(node.value))
            if provider and (provider, node.attr) in LIBRARY_CALLS:
                found.add(LIBRARY_CALLS[provider, node.attr])
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in operations():
            found |= resolve(operations()[node.value])  # a whole string, never a docstring's word
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get_waiter"
        ):
            waiter = _literal(node, 0, "waiter_name")
            if waiter is not None:
                found |= resolve(waiters().get(waiter, frozenset({f"?:{waiter}"})))
    return {AUTHORIZED_AS.get(action, action) for action in found}


def compare(name: str, source: str) -> tuple[set[str], set[str]]:
    """(called and not declared, declared and not called) for an adapter module's source."""
    tree = ast.parse(source)
    declared, called = declared_in(tree), called_in(name, tree)
    implied = {action for call in called for action in IMPLIED.get(call, set())}
    return called - declared - FREE, declared - called - implied


def source_of(name: str) -> str:
    return (ADAPTERS / f"{name}.py").read_text(encoding="utf-8")


def test_the_adapters_and_the_services_are_found() -> None:
    assert {"ecs", "dynamodb", "sns", "sqs", "iam", "identity", "profiles", "survey"} <= set(adapter_names())
    assert {"ecs", "dynamodb", "sqs", "sns", "iam", "sts", "ssm", "secretsmanager"} <= services()


@pytest.mark.parametrize("name", adapter_names())
def test_every_adapter_declares_the_actions_it_calls(name: str) -> None:
    module = importlib.import_module(f"sidecar_enforcer.adapters.{name}")
    source = source_of(name)
    assert declared_in(ast.parse(source)) == set(module.PERMISSIONS)  # the source read is what runs

    undeclared, uncalled = compare(name, source)

    assert undeclared == set(), f"{name}: calls what PERMISSIONS does not declare"
    assert uncalled == set(), f"{name}: PERMISSIONS declares what nothing calls"


def test_the_check_reads_every_kind_of_call() -> None:
    """A method passed to ``call``, a direct call, a paginator, a library's call, a free call."""
    assert called_in("ecs", ast.parse(source_of("ecs"))) >= {"ecs:DescribeServices", "ecs:ListTasks"}
    assert "dynamodb:PutItem" in called_in("dynamodb", ast.parse(source_of("dynamodb")))
    assert called_in("sqs", ast.parse(source_of("sqs"))) == {"sqs:SendMessage"}  # and SendMessageBatch
    assert called_in("organizations", ast.parse(source_of("organizations"))) == {"organizations:ListAccounts"}
    assert called_in("profiles", ast.parse(source_of("profiles"))) == {"ssm:GetParametersByPath"}
    assert called_in("identity", ast.parse(source_of("identity"))) == {"sts:GetCallerIdentity"}


EXTRA_CALL = "\n\ndef extra(client):\n    return {call}\n"


@pytest.mark.parametrize(
    ("name", "old", "new", "undeclared", "uncalled"),
    [
        # a paginated call (pages) that PERMISSIONS no longer declares
        ("ecs", '"ecs:ListTasks",\n', "", {"ecs:ListTasks"}, set()),
        # the call that implies ecs:TagResource and iam:PassRole, undeclared: only it is reported
        ("ecs", '"ecs:RegisterTaskDefinition",\n', "", {"ecs:RegisterTaskDefinition"}, set()),
        # an action declared that nothing calls
        ("survey", "PERMISSIONS = (", 'PERMISSIONS = ("ecs:DeleteService", ', set(), {"ecs:DeleteService"}),
        # a new call of the module's own service
        ("sqs", None, EXTRA_CALL.format(call="client.purge_queue()"), {"sqs:PurgeQueue"}, set()),
        # a new call by the operation's name
        (
            "sqs",
            None,
            EXTRA_CALL.format(call='getattr(client, "delete_queue")()'),
            {"sqs:DeleteQueue"},
            set(),
        ),
        # a call of a service the module declares nothing of
        ("identity", None, EXTRA_CALL.format(call="client.assume_role()"), {"sts:AssumeRole"}, set()),
        # the library's other method: another action
        ("profiles", ".get_multiple(", ".get(", {"ssm:GetParameter"}, {"ssm:GetParametersByPath"}),
        # the dev-only function's calls count once a function's code makes them
        (
            "dynamodb",
            "def create_table(",
            "def create(",
            {"dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTimeToLive"},
            set(),
        ),
    ],
)
def test_the_check_reports_exactly_what_a_changed_adapter_gets_wrong(
    name: str, old: str | None, new: str, undeclared: set[str], uncalled: set[str]
) -> None:
    source = source_of(name)
    changed = source + new if old is None else source.replace(old, new, 1)
    assert changed != source

    assert compare(name, changed) == (undeclared, uncalled)
