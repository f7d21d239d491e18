"""The templates' policy documents read as AWS reads them, for the subset the templates use.

moto checks no trust policy and no key policy in the calls the code makes, and no maintained Python
library evaluates these documents against a request: policyuniverse and parliament parse and lint;
moto's own IAM evaluator (moto/iam/access_control.py, 5.2.5) compares StringEquals only, lets any
other operator (ArnLike, ForAllValues:...) pass, and verifies no principal but "*". So this module
does it, small:

- ``Stack``: a template rendered with given parameter values: ``!Ref``, ``!Sub``, ``!GetAtt``,
  ``!If`` / ``!Equals`` / ``!Not`` / ``!And`` / ``!Or`` / ``!Condition``, ``!Join``, ``!Select``,
  ``!Split``, ``!FindInMap``, ``AWS::NoValue``; a resource's ``Ref`` / ``Arn`` is the physical id
  CloudFormation would give it (a generated name ``<stack>-<logical id>-<suffix>``), and a SAM
  function's role is ``<function>Role`` on its ``RolePath``.
- ``decide``: IAM's evaluation logic for one policy (IAM user guide, "Policy evaluation logic"):
  an explicit Deny wins, else an Allow whose Principal, Action (or NotAction), Resource (or
  NotResource) and every condition match, else the implicit deny. Wildcards ``*`` and ``?`` in
  actions, resources and ``*Like`` values; ARN operators compare the six ARN fields one by one;
  condition keys are case-insensitive; several values of one key are OR-ed, several keys and
  operators AND-ed; a key absent from the request matches no value (a negated operator such as
  StringNotEquals then holds); ``ForAnyValue:`` / ``ForAllValues:`` over multi-valued keys
  (ForAllValues is true when the key is absent, as AWS documents); ``...IfExists``; ``Null``; ``Bool``. An
  operator it does not know raises: a test never passes on a condition it could not read.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from ._factories import ROOT

_NO_VALUE = object()


class _Tagged(yaml.SafeLoader):
    """A template with its intrinsic functions kept: ``!Sub x`` is ``{"Fn::Sub": "x"}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"!{suffix} on a {type(node).__name__}", node.start_mark
        )
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Tagged.add_multi_constructor("!", _tag)


def load(name: str) -> dict[str, Any]:
    """The template, a fresh copy each time (the tests break copies of it)."""
    return copy.deepcopy(_load(name))


@cache
def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / name).read_text(encoding="utf-8"), Loader=_Tagged)  # noqa: S506
    return loaded


@dataclass
class Stack:
    """A template as CloudFormation would render it in one account and Region."""

    template: dict[str, Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    account: str = "111122223333"
    region: str = "us-east-1"
    stack_name: str = "sidecar-enforcer-prod"
    partition: str = "aws"
    stack_uuid: str = "1c2fa620-982a-11e3-aff7-50e2416294e0"

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise KeyError(f"no such parameter: {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in self.parameters:
                values[name] = self.parameters[name]
            elif "Default" in spec:
                values[name] = spec["Default"]
            else:
                raise KeyError(f"parameter {name} has no default and was not given")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(values[name], str):
                values[name] = [v.strip() for v in values[name].split(",")]
            elif not isinstance(values[name], list):
                values[name] = str(values[name])
        self.values = values

    # -- names ------------------------------------------------------------------------------
    @property
    def stack_id(self) -> str:
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:"
            f"stack/{self.stack_name}/{self.stack_uuid}"
        )

    def pseudo(self, name: str) -> Any:
        return {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }[name]

    def generated_name(self, logical: str) -> str:
        return f"{self.stack_name}-{logical}-ABCDEFGH1234"[:64]

    def resource(self, logical: str) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        if logical not in resources and logical.endswith("Role") and logical[: -len("Role")] in resources:
            return {"Type": "AWS::IAM::Role", "Properties": {}, "SamFunction": logical[: -len("Role")]}
        for name, resource in resources.items():  # the rules SAM generates from a function's Events
            for event in resource.get("Properties", {}).get("Events", {}) or {}:
                if logical == f"{name}{event}":
                    return {"Type": "AWS::Events::Rule", "Properties": {}}
        return dict(resources[logical])

    def properties(self, logical: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(self.resource(logical).get("Properties", {}))
        return resolved

    def ref(self, logical: str) -> Any:
        if logical in self.values:
            return self.values[logical]
        if logical.startswith("AWS::"):
            return self.pseudo(logical)
        resource = self.resource(logical)
        kind = resource["Type"]
        props = resource.get("Properties", {})
        name = self.resolve(props.get(_NAME_PROPERTY.get(kind, ""), None)) or self.generated_name(logical)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"
        if kind == "AWS::SNS::Topic":
            return self.getatt(logical, "Arn")
        return name

    def getatt(self, logical: str, attribute: str) -> Any:
        resource = self.resource(logical)
        kind = resource["Type"]
        props = resource.get("Properties", {})
        name = self.resolve(props.get(_NAME_PROPERTY.get(kind, ""), None)) or self.generated_name(logical)
        p, r, a = self.partition, self.region, self.account
        if kind == "AWS::IAM::Role":
            if attribute != "Arn":
                raise KeyError(f"{logical}.{attribute}")
            function = resource.get("SamFunction")
            if function:  # SAM's generated role: the function's RolePath, a generated name
                path = self.resolve(self.template["Resources"][function]["Properties"].get("RolePath", "/"))
            else:
                path = self.resolve(props.get("Path", "/"))
            return f"arn:{p}:iam::{a}:role{path}{name}"
        if kind == "AWS::SQS::Queue":
            return {"Arn": f"arn:{p}:sqs:{r}:{a}:{name}", "QueueName": name}[attribute]
        if kind in _ARN:
            return _ARN[kind].format(p=p, r=r, a=a, name=name, lower=name.lower())
        raise KeyError(f"{logical} ({kind}).{attribute}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    # -- the intrinsic functions ------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return self._sub(text, extra)
        if name == "GetAtt":
            logical, attribute = arg
            return self.getatt(logical, attribute)
        if name == "If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition(condition) else no)
        if name == "Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(a) for a in arg)
        if name == "Or":
            return any(self.resolve(a) for a in arg)
        if name == "Contains":
            values, value = (self.resolve(a) for a in arg)
            return str(value) in [str(v) for v in values]
        if name == "Join":
            separator, values = arg
            return separator.join(str(v) for v in self.resolve(values))
        if name == "Select":
            index, values = (self.resolve(a) for a in arg)
            return values[int(index)]
        if name == "Split":
            separator, text = (self.resolve(a) for a in arg)
            return str(text).split(separator)
        if name == "FindInMap":
            mapping, key, attribute = (self.resolve(a) for a in arg)
            return self.template["Mappings"][mapping][str(key)][attribute]
        raise NotImplementedError(f"Fn::{name}")

    def _sub(self, text: str, extra: Mapping[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name:
                logical, attribute = name.split(".", 1)
                return str(self.getatt(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)


# The property naming a resource's physical name, when the template gives one.
# The ARN of each kind's Fn::GetAtt Arn (or Ref, for a topic), from its name.
_ARN = {
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{name}",
    "AWS::Events::Rule": "arn:{p}:events:{r}:{a}:rule/{name}",
    "AWS::Events::Archive": "arn:{p}:events:{r}:{a}:archive/{name}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{name}:*",
    "AWS::DynamoDB::Table": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
    "AWS::S3::Bucket": "arn:{p}:s3:::{lower}",
    "AWS::Serverless::Function": "arn:{p}:lambda:{r}:{a}:function:{name}",
}
_NAME_PROPERTY = {
    "AWS::IAM::Role": "RoleName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Events::Rule": "Name",
    "AWS::Events::Archive": "ArchiveName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::CloudWatch::Alarm": "AlarmName",
}


# -- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One call as the authorising service sees it: who (an IAM principal's ARN, or a service
    principal such as ``events.amazonaws.com``), what, on which resource, with which context keys
    (a list for a multi-valued key)."""

    action: str
    resource: str
    principal: str
    context: Mapping[str, str | list[str]] = field(default_factory=dict)

    @property
    def principal_account(self) -> str | None:
        parts = self.principal.split(":")
        return parts[4] if self.principal.startswith("arn:") and len(parts) > 5 else None


ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


def decide(policy: Mapping[str, Any] | list[Mapping[str, Any]], request: Request) -> str:
    """Allow, Deny (an explicit Deny matched) or ImplicitDeny (nothing allowed it)."""
    statements = _statements(policy)
    matching = [s for s in statements if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in matching):
        return DENY
    if any(s["Effect"] == "Allow" for s in matching):
        return ALLOW
    return IMPLICIT_DENY


def allows(policy: Mapping[str, Any] | list[Mapping[str, Any]], request: Request) -> bool:
    return decide(policy, request) == ALLOW


def _statements(policy: Mapping[str, Any] | list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(policy, list):
        return [s for p in policy for s in _statements(p)]
    if "PolicyDocument" in policy:  # an IAM role's inline policy
        return _statements(policy["PolicyDocument"])
    if "Statement" in policy:
        statement = policy["Statement"]
        return list(statement) if isinstance(statement, list) else [statement]
    if "Effect" in policy:
        return [policy]
    raise ValueError(f"not a policy or a statement: {policy}")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if statement["Effect"] not in ("Allow", "Deny"):
        raise ValueError(f"Effect {statement['Effect']!r}")
    if "Principal" in statement and not _principal_matches(statement["Principal"], request):
        return False
    if "NotPrincipal" in statement:
        raise NotImplementedError("NotPrincipal")
    if "Action" in statement:
        if not any(_glob(a, request.action, case=False) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_glob(a, request.action, case=False) for a in _as_list(statement["NotAction"])):
            return False
    else:
        raise ValueError("a statement needs Action or NotAction")
    if "Resource" in statement:
        if not any(_arn_like(r, request.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(
        _arn_like(r, request.resource) for r in _as_list(statement["NotResource"])
    ):
        return False
    return _conditions_hold(statement.get("Condition", {}), request)


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise ValueError(f"Principal {principal!r}")
    for kind, values in principal.items():
        for value in _as_list(values):
            if kind == "Service" and value == request.principal:
                return True
            if kind == "AWS":
                if value == "*":
                    return True
                # An account (its root ARN or its id) stands for every principal of that account;
                # the account's own IAM policies must then allow the call too.
                root = re.fullmatch(r"arn:[\w-]+:iam::(\d{12}):root|(\d{12})", value)
                account = request.principal_account
                if root and account is not None and account in root.groups():
                    return True
                if value == request.principal:
                    return True
    return False


def _glob(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; every other character, ``[``
    included, stands for itself (fnmatch would read ``[ab]`` as a set)."""
    if not case:
        pattern, value = pattern.lower(), value.lower()
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six fields (arn, partition, service, region, account, resource)
    matched on its own; ``*`` and ``?`` within a field. A bare ``*`` matches any ARN."""
    if pattern == "*":
        return True
    want, got = pattern.split(":", 5), value.split(":", 5)
    if len(want) != 6 or len(got) != 6:
        return False
    return all(_glob(w, g) for w, g in zip(want, got, strict=True))


def _arn_equals(pattern: str, value: str) -> bool:
    return _arn_like(pattern, value)  # ArnEquals and ArnLike behave the same (IAM user guide)


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda want, got: want == got,
    "StringNotEquals": lambda want, got: want != got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": lambda want, got: _glob(want, got),
    "StringNotLike": lambda want, got: not _glob(want, got),
    "ArnEquals": _arn_equals,
    "ArnLike": _arn_like,
    "ArnNotEquals": lambda want, got: not _arn_equals(want, got),
    "ArnNotLike": lambda want, got: not _arn_like(want, got),
    "Bool": lambda want, got: str(want).lower() == str(got).lower(),
}
_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _conditions_hold(conditions: Mapping[str, Any], request: Request) -> bool:
    context = {key.lower(): value for key, value in request.context.items()}
    for operator, pairs in conditions.items():
        for key, wanted in pairs.items():
            if not _condition_holds(operator, _as_list(wanted), context.get(key.lower())):
                return False
    return True


def _condition_holds(operator: str, wanted: list[Any], present: str | list[str] | None) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    texts = [str(w) for w in wanted]
    if base == "Null":
        (flag,) = texts
        return (present is None) == (flag.lower() == "true")
    if base not in _OPERATORS:
        raise NotImplementedError(f"condition operator {operator}")
    test = _OPERATORS[base]
    negated = base in _NEGATED

    def one(value: str) -> bool:
        # Several values of one key: any may match (for a negated operator: none may).
        if negated:
            return all(test(w, value) for w in texts)
        return any(test(w, value) for w in texts)

    if qualifier == "ForAllValues":
        return present is None or all(one(v) for v in _as_list(present))
    if qualifier == "ForAnyValue":
        return present is not None and any(one(v) for v in _as_list(present))
    if qualifier:
        raise NotImplementedError(f"condition qualifier {qualifier}")
    if present is None:  # no value to match: a negated operator holds (IAM user guide)
        return if_exists or negated
    if isinstance(present, list):
        raise ValueError(f"{operator} on a multi-valued key needs ForAnyValue or ForAllValues")
    return one(present)
