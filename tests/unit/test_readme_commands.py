"""The ``aws`` commands in the README's code blocks are ones the AWS CLI takes: each names a service and
an operation botocore's models know, every option is a member of the operation's input (in the CLI's
kebab case), a global option or a CLI customisation listed here, each value has its member's type
(integers, booleans as flags, enums, timestamps, lists, shorthand structures whose keys exist), every
required member is given, and every command names its ``--region``. A wrong flag fails here, not on
a platform team's first deploy."""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, OperationModel, Shape, StringShape, StructureShape

from ._readme import README, aws_commands

# The CLI's own options, valid with any command (aws help, "Global Options"), and how many values
# each takes.
GLOBAL_OPTIONS = {
    "--region": 1,
    "--output": 1,
    "--query": 1,
    "--profile": 1,
    "--endpoint-url": 1,
    "--no-cli-pager": 0,
    "--no-paginate": 0,
    "--debug": 0,
    "--color": 1,
    "--cli-binary-format": 1,
}
GLOBAL_ENUMS = {
    "--output": {"json", "text", "table", "yaml", "yaml-stream"},
    "--cli-binary-format": {"base64", "raw-in-base64-out"},
}
# CLI customisations: positional arguments the CLI adds to an operation (lambda invoke's outfile),
# and options it renames (awscli/customizations/argrename.py: SNS Subscribe's Endpoint would clash
# with the global --endpoint-url).
POSITIONALS = {("lambda", "invoke"): 1}
RENAMED = {("sns", "subscribe", "notification-endpoint"): "Endpoint"}

_SESSION = botocore.session.get_session()


def operation(service: str, command: str) -> OperationModel:
    if service not in _SESSION.get_available_services():
        raise AssertionError(f"aws {service}: no such service")
    model = _SESSION.get_service_model(service)
    by_cli_name = {botocore.xform_name(name, "-"): name for name in model.operation_names}
    if command not in by_cli_name:
        raise AssertionError(f"aws {service} {command}: no such operation")
    return model.operation_model(by_cli_name[command])


def _options(argv: list[str]) -> list[tuple[str, list[str]]]:
    options: list[tuple[str, list[str]]] = []
    for token in argv:
        if token.startswith("--"):
            options.append((token, []))
        elif options:
            options[-1][1].append(token)
        else:
            raise AssertionError(f"{token!r}: a value before any option")
    return options


def _shorthand(text: str) -> dict[str, list[str]]:
    """``A=1,B=x,y`` (the CLI's shorthand for a structure): a value without ``=`` continues the
    previous key's list."""
    parsed: dict[str, list[str]] = {}
    key = None
    for part in text.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            parsed[key] = [value]
        elif key is not None:
            parsed[key].append(part)
        else:
            raise AssertionError(f"{text!r}: not shorthand")
    return parsed


def _check_scalar(where: str, shape: Shape, value: str) -> None:
    kind = shape.type_name
    if kind in ("integer", "long"):
        assert re.fullmatch(r"-?\d+", value), f"{where}: {value!r} is not an integer"
    elif kind == "boolean":
        assert value in ("true", "false"), f"{where}: {value!r} is not a boolean"
    elif kind == "timestamp":
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(shape, StringShape) and shape.enum:
        assert value in shape.enum, f"{where}: {value!r} is not one of {shape.enum}"
    elif kind in ("structure", "list", "map"):
        raise AssertionError(f"{where}: a {kind} where a scalar is expected")


def _check_structure(where: str, shape: StructureShape, value: str) -> None:
    if value.startswith("{"):
        given: dict[str, Any] = json.loads(value)
        unknown = set(given) - set(shape.members)
        assert not unknown, f"{where}: no member {sorted(unknown)}"
        return
    for key, values in _shorthand(value).items():
        assert key in shape.members, f"{where}: no member {key!r} (members: {sorted(shape.members)})"
        member = shape.members[key]
        if isinstance(member, ListShape):
            for item in values:
                _check_scalar(f"{where}.{key}", member.member, item)
        else:
            assert len(values) == 1, f"{where}.{key}: one value expected"
            _check_scalar(f"{where}.{key}", member, values[0])


def _check_value(where: str, shape: Shape, values: list[str]) -> None:
    kind = shape.type_name
    if kind == "boolean":
        assert values == [], f"{where}: a boolean flag takes no value"
    elif isinstance(shape, ListShape):
        assert values, f"{where}: a list needs at least one value"
        for value in values:
            if isinstance(shape.member, StructureShape):
                _check_structure(where, shape.member, value)
            else:
                _check_scalar(where, shape.member, value)
    elif isinstance(shape, StructureShape):
        assert len(values) == 1, f"{where}: one value expected, got {values}"
        _check_structure(where, shape, values[0])
    elif kind == "map":
        assert len(values) == 1, f"{where}: one value expected"
        assert isinstance(json.loads(values[0]), dict), f"{where}: a JSON object expected"
    else:
        assert len(values) == 1, f"{where}: one value expected, got {values}"
        _check_scalar(where, shape, values[0])


def check_command(argv: list[str]) -> None:
    """Raises AssertionError saying what the CLI would refuse."""
    assert argv[0] == "aws", argv
    assert len(argv) >= 3, argv
    service, command, rest = argv[1], argv[2], argv[3:]
    name = f"aws {service} {command}"
    model = operation(service, command)
    positionals = POSITIONALS.get((service, command), 0)
    if positionals:
        assert len(rest) >= positionals, f"{name}: its positional argument"
        assert not rest[-positionals].startswith("--"), f"{name}: its positional argument"
        rest = rest[:-positionals]
    shape = model.input_shape
    members = {botocore.xform_name(m, "-"): m for m in (shape.members if shape else {})}
    for (renamed_service, renamed_command, flag), renamed in RENAMED.items():
        if (renamed_service, renamed_command) == (service, command):
            members[flag] = renamed
            members.pop(botocore.xform_name(renamed, "-"))
    given = set()
    for option, values in _options(rest):
        where = f"{name} {option}"
        flag = option[2:]
        if option in GLOBAL_OPTIONS:
            assert len(values) == GLOBAL_OPTIONS[option], f"{where}: {GLOBAL_OPTIONS[option]} value(s)"
            if option in GLOBAL_ENUMS:
                assert values[0] in GLOBAL_ENUMS[option], f"{where}: {values[0]!r}"
            continue
        negated = flag.startswith("no-") and flag[3:] in members
        member = members.get(flag[3:] if negated else flag)
        assert member is not None, f"{where}: no such option"
        assert shape is not None
        member_shape = shape.members[member]
        if negated:
            assert member_shape.type_name == "boolean", f"{where}: not a boolean flag"
            assert values == [], f"{where}: a boolean flag takes no value"
        else:
            _check_value(where, member_shape, values)
        given.add(member)
    required = {m for m in shape.required_members if not _auto_filled(shape, m)} if shape else set()
    missing = required - given
    assert not missing, f"{name}: required {sorted(botocore.xform_name(m, '-') for m in missing)}"
    assert "--region" in rest, f"{name}: no --region"


def _auto_filled(shape: StructureShape, member: str) -> bool:
    return bool(shape.members[member].metadata.get("idempotencyToken"))


COMMANDS = aws_commands(README)


def test_the_readme_has_the_deploy_commands() -> None:
    named = {(argv[1], argv[2]) for argv in COMMANDS}

    assert {
        ("cloudformation", "activate-organizations-access"),
        ("organizations", "register-delegated-administrator"),
        ("cloudformation", "create-stack-set"),
        ("cloudformation", "create-stack-instances"),
        ("cloudformation", "delete-stack-instances"),
        ("events", "start-replay"),
        ("lambda", "get-account-settings"),
    } <= named


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(argv[:3]) for argv in COMMANDS])
def test_each_readme_command_is_one_the_cli_takes(argv: list[str]) -> None:
    check_command(argv)


def test_stack_set_commands_run_as_the_delegated_administrator_after_trusted_access() -> None:
    order = [(argv[1], argv[2]) for argv in COMMANDS]
    for argv in COMMANDS:
        if argv[1] == "cloudformation" and ("stack-set" in argv[2] or "stack-instances" in argv[2]):
            assert argv[argv.index("--call-as") + 1] == "DELEGATED_ADMIN", argv[:3]
    # Trusted access and the delegated administrator come before the first StackSet.
    first = order.index(("cloudformation", "create-stack-set"))
    assert order.index(("cloudformation", "activate-organizations-access")) < first
    assert order.index(("organizations", "register-delegated-administrator")) < first


@pytest.mark.parametrize(
    ("command", "refused"),
    [
        ("aws cloudformation create-stack-sets --region us-east-1 --stack-set-name x", "no such operation"),
        ("aws cloudfront-x list --region us-east-1", "no such service"),
        ("aws cloudformation delete-stack-set --region us-east-1 --stack-set x", "no such option"),
        ("aws cloudformation delete-stack-set --region us-east-1 --stack-set-name x --call-as ME", "'ME'"),
        ("aws cloudformation delete-stack-set --stack-set-name x", "no --region"),
        ("aws cloudformation delete-stack-set --region us-east-1", "required"),
        (
            "aws cloudformation create-stack-instances --region us-east-1 --stack-set-name x --regions a"
            " --operation-preferences MaxConcurrentCount=many",
            "not an integer",
        ),
        (
            "aws cloudformation create-stack-instances --region us-east-1 --stack-set-name x --regions a"
            " --deployment-targets OrganizationalUnits=ou-1",
            "no member",
        ),
        (
            "aws cloudformation delete-stack-instances --region us-east-1 --stack-set-name x --regions a"
            " --retain-stacks yes",
            "takes no value",
        ),
        (
            "aws events start-replay --region us-east-1 --replay-name r --event-source-arn a"
            " --event-start-time yesterday --event-end-time 2026-01-01T00:00:00Z --destination Arn=b",
            "yesterday",
        ),
        ("aws lambda invoke --region us-east-1 --function-name f --output xml out.json", "xml"),
    ],
)
def test_the_check_refuses_what_the_cli_would(command: str, refused: str) -> None:
    with pytest.raises((AssertionError, ValueError), match=refused):
        check_command(shlex.split(command))
