"""What the tests read from the stack's templates (template.yaml, member.yaml) and the functions:
the templates with their intrinsic functions as plain data, each function's resource, the adapter
modules, the adapters a function declares, and the actions and statements a resource's policies
grant."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

import sidecar_enforcer.adapters
import yaml
from sidecar_enforcer_dev.noise import CloudFormation  # the templates with their intrinsic functions as data

from ._factories import ROOT

# The client factory, not an adapter: it calls nothing itself.
NOT_ADAPTERS = {"aws"}


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


def load(name: str = "template.yaml") -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / name).read_text(encoding="utf-8"), Loader=CloudFormation)  # noqa: S506
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


def assuming_functions() -> dict[str, str]:
    """The hub functions whose declared adapters call sts:AssumeRole (adapters/member.py)."""
    modules = adapters()
    return {
        function: resource
        for function, resource in FUNCTIONS.items()
        if any("sts:AssumeRole" in modules[name].PERMISSIONS for name in declared_adapters(function))
    }
