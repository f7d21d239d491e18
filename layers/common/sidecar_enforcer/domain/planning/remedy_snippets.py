"""The remedy's container as code a pipeline keeps: a Terraform ``container_definitions`` object
(HCL) and a CloudFormation ``ContainerDefinitions`` entry (YAML), each with what the app containers
need as comments. Member names come from botocore's offline ECS model (``domain.ecs.schema``): which
members are maps (their keys are data, quoted as they are) and each member's CloudFormation name.
Every string is escaped for its language, so no name or value can end a string or start a line."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from botocore.model import Shape

from ..ecs import schema

# -- member names: the ECS API's and CloudFormation's ---------------------------------------------


def _walk(shape: Shape, path: str, found: dict[str, str]) -> None:
    if shape.type_name == "structure":
        for member, sub in shape.members.items():  # type: ignore[attr-defined]
            child = f"{path}.{member}" if path else member
            found[child] = "structure" if sub.type_name == "structure" else sub.type_name
            _walk(sub, child, found)
    elif shape.type_name == "list":
        _walk(shape.member, path, found)  # type: ignore[attr-defined]


@cache
def member_kinds() -> dict[str, str]:
    """Every ContainerDefinition member path (list items share their list's path) -> its botocore
    type (structure, list, map, string, integer, boolean...), from botocore's ECS model."""
    found: dict[str, str] = {}
    _walk(schema.container_shape(), "", found)
    return found


@cache
def map_members() -> frozenset[str]:
    """Members whose value is a map: their keys are data (a label, a log driver option), kept as
    they are in every syntax: dockerLabels, logConfiguration.options, firelensConfiguration.options."""
    return frozenset(path for path, kind in member_kinds().items() if kind == "map")


# CloudFormation's name of each ContainerDefinition member is the API's with its first letter upper
# case (AWS::ECS::TaskDefinition ContainerDefinition, CloudFormation Template Reference:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-ecs-taskdefinition-containerdefinition.html:
# Name, Image, PortMappings [ContainerPort, Protocol, AppProtocol, Name], Environment [Name, Value],
# LogConfiguration [LogDriver, Options, SecretOptions], DependsOn [ContainerName, Condition],
# HealthCheck [Command, Interval, Timeout, Retries, StartPeriod], ...). Checked member by member
# against cfn-lint's resource schema by tests/unit/test_remedy.py: no exception there; one would be
# listed here (API path -> CloudFormation name). Map members keep their keys.
CLOUDFORMATION_EXCEPTIONS: dict[str, str] = {}


def cloudformation_name(path: str) -> str:
    """CloudFormation's property name for the ContainerDefinition member at ``path``."""
    if path in CLOUDFORMATION_EXCEPTIONS:
        return CLOUDFORMATION_EXCEPTIONS[path]
    member = path.rsplit(".", 1)[-1]
    return member[:1].upper() + member[1:]


# -- Terraform (HCL) ------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _escape_char(char: str, extra: frozenset[str]) -> str:
    """A character that must not appear as itself in a quoted string (a control, a line or
    paragraph separator, a format character, or one of ``extra``): \\uNNNN or \\UNNNNNNNN."""
    if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn") or char in extra:
        code = ord(char)
        return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"
    return char


# Printable ASCII is itself in a quoted string of either language, but for HCL's quote and
# backslash: only the other characters are looked at one by one.
_HCL_LOOKED_AT = re.compile(r"[^ -!#-\[\]-~]")
_YAML_LOOKED_AT = re.compile(r"[^ -~]")
_HCL_SIMPLE = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NOTHING_MORE: frozenset[str] = frozenset()


def _hcl_char(found: re.Match[str]) -> str:
    char = found.group()
    return _HCL_SIMPLE.get(char) or _escape_char(char, _NOTHING_MORE)


def hcl_string(text: str) -> str:
    """A quoted HCL string whose value is ``text``: quotes, backslashes and controls escaped, and the
    template sequences ``${`` and ``%{`` doubled (``$${``, ``%%{``: the HCL native syntax
    specification, https://github.com/hashicorp/hcl/blob/main/hclsyntax/spec.md#templates), so
    nothing is interpolated. Other characters are literal in a quoted string; a backslash-u escape there
    stands for a control or separator character."""
    body = _HCL_LOOKED_AT.sub(_hcl_char, text)
    return '"' + body.replace("${", "$${").replace("%{", "%%{") + '"'


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _scalar(value: Any, quoted: Callable[[str], str]) -> str:
    """A boolean, number or null as both languages write it (JSON's literals); else ``quoted``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if value is None:
        return "null"
    return quoted(str(value))


def _hcl(value: Any, path: str, indent: int) -> str:
    pad = "  " * indent
    if value is None or isinstance(value, str | bool | int | float):
        return _scalar(value, hcl_string)
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, dict | list) for v in value):
            return "[" + ", ".join(_hcl(v, path, indent) for v in value) + "]"
        items = [f"{pad}  {_hcl(v, path, indent + 1)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{pad}]"
    assert isinstance(value, dict)
    if not value:
        return "{}"
    is_map = path in map_members()
    keys = {k: hcl_string(k) if is_map or not _IDENTIFIER.fullmatch(k) else k for k in value}
    if all(not isinstance(v, dict | list) for v in value.values()):  # { name = "A", value = "B" }
        inline = "{ " + ", ".join(f"{keys[k]} = {_hcl(v, path, 0)}" for k, v in value.items()) + " }"
        if len(inline) + len(pad) <= 100 and "\n" not in inline:
            return inline
    width = max(len(k) for k in keys.values())
    lines = [
        f"{pad}  {keys[k].ljust(width)} = {_hcl(v, path if is_map else _child(path, k), indent + 1)}"
        for k, v in value.items()
    ]
    return "{\n" + "\n".join(lines) + f"\n{pad}}}"


def _commented(text: str) -> list[str]:
    return [f"# {line}" for line in text.splitlines()]


def terraform_snippet(container: dict[str, Any], apps: Mapping[str, dict[str, Any]]) -> str:
    """An object for ``container_definitions = jsonencode([ ... ])`` of an aws_ecs_task_definition
    (jsonencode turns HCL's object into the API's JSON: the keys are the API's camelCase names), and
    for each app container, commented, the members to add to its object."""
    lines = [
        "# aws_ecs_task_definition: add this object to container_definitions = jsonencode([ ... ])",
        _hcl(container, "", 0) + ",",
    ]
    for name, members in apps.items():
        lines.append(f'# and to the object of app container "{name}", add (append to its lists):')
        lines.extend(_commented(_hcl(members, "", 0)))
    return "\n".join(lines) + "\n"


# -- CloudFormation (YAML) ------------------------------------------------------------------------

# YAML double-quoted scalars: JSON's escapes are YAML's; characters YAML does not print (controls,
# NEL, line and paragraph separators, the byte order mark, DEL) are escaped too.
_YAML_UNPRINTED = frozenset({"\x7f", "\x85", "\u2028", "\u2029", "\ufeff"})


def _yaml_char(found: re.Match[str]) -> str:
    return _escape_char(found.group(), _YAML_UNPRINTED)


def yaml_string(text: str) -> str:
    return _YAML_LOOKED_AT.sub(_yaml_char, json.dumps(text, ensure_ascii=False))


def _yaml_scalar(value: Any) -> str:
    return _scalar(value, yaml_string)


def _yaml_entries(value: dict[str, Any], path: str, indent: int, first: str = "") -> list[str]:
    """``key: value`` lines of a mapping at ``indent``; ``first`` prefixes the first line ("- ")."""
    is_map = path in map_members()
    lines: list[str] = []
    for key, item in value.items():
        name = yaml_string(key) if is_map else cloudformation_name(_child(path, key))
        sub = path if is_map else _child(path, key)
        lead = first if not lines else " " * len(first)
        pad = "  " * indent + lead
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{name}:")
            lines.extend(_yaml_entries(item, sub, indent + 1 + len(lead) // 2))
        elif isinstance(item, list) and item:
            lines.append(f"{pad}{name}:")
            lines.extend(_yaml_items(item, sub, indent + 1 + len(lead) // 2))
        else:
            empty = "[]" if isinstance(item, list) else "{}" if isinstance(item, dict) else None
            lines.append(f"{pad}{name}: {empty or _yaml_scalar(item)}")
    return lines


def _yaml_items(items: list[Any], path: str, indent: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        if isinstance(item, dict) and item:
            lines.extend(_yaml_entries(item, path, indent, first="- "))
        elif isinstance(item, list) and item:  # no ContainerDefinition member nests lists
            lines.append("  " * indent + "-")
            lines.extend(_yaml_items(item, path, indent + 1))
        else:
            empty = "[]" if isinstance(item, list) else "{}" if isinstance(item, dict) else None
            lines.append("  " * indent + f"- {empty or _yaml_scalar(item)}")
    return lines


def cloudformation_snippet(container: dict[str, Any], apps: Mapping[str, dict[str, Any]]) -> str:
    """A ``ContainerDefinitions`` entry of an AWS::ECS::TaskDefinition in YAML, CloudFormation's
    property names; and for each app container, commented, the properties to add to its entry."""
    lines = [
        "# AWS::ECS::TaskDefinition: add this entry to Properties.ContainerDefinitions",
        *_yaml_items([container], "", 0),
    ]
    for name, members in apps.items():
        lines.append(f'# and to the entry of app container "{name}", add (append to its lists):')
        lines.extend(f"# {line}" for line in _yaml_entries(members, "", 0))
    return "\n".join(lines) + "\n"
