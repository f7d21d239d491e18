"""Permissions as data: each adapter declares the IAM actions it calls (``PERMISSIONS`` beside the
calls, as Cloud Custodian's actions do), the handler declares what Powertools' idempotency store
calls, and template.yaml grants the enforcer function exactly their union: nothing missing (a call
that fails with AccessDenied in production only) and nothing more (a grant nobody uses)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

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
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_CloudFormation.add_multi_constructor("!", _any_tag)


def adapters() -> dict[str, ModuleType]:
    package = sidecar_enforcer.adapters
    return {
        info.name: importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if info.name not in NOT_ADAPTERS
    }


def handler_permissions() -> set[str]:
    source = (ROOT / "functions" / "enforcer" / "app.py").read_text(encoding="utf-8")
    block = source[source.index("\nPERMISSIONS = (") :]
    block = block[: block.index(")\n") + 1]
    found: dict[str, Any] = {}
    exec(compile(block, "app.py", "exec"), found)  # noqa: S102 - a literal tuple from our own file
    return set(found["PERMISSIONS"])


def granted() -> set[str]:
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CloudFormation)  # noqa: S506
    policies = template["Resources"]["EnforcerFunction"]["Properties"]["Policies"]
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


def test_every_adapter_declares_the_actions_it_calls() -> None:
    found = adapters()

    assert {"ecs", "dynamodb", "sns", "sqs", "iam", "identity", "profiles"} <= set(found)
    missing = [
        name for name, module in found.items() if not isinstance(getattr(module, "PERMISSIONS", None), tuple)
    ]
    assert missing == []


def test_the_template_grants_exactly_what_the_function_calls() -> None:
    used = set(handler_permissions())
    for module in adapters().values():
        used |= set(module.PERMISSIONS)

    assert granted() == used
