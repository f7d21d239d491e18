"""ECS's server-side rules for a RegisterTaskDefinition request: the limits, names and references
ECS checks after botocore's shape validation has passed (botocore checks types and required
members, not lengths, counts or references). A request that breaks one is refused by ECS with a
ClientException, so the planner never sends it: each problem names the rule and where it is
documented.

Sources (looked up for each rule):
- Amazon ECS service quotas (developer guide, "Amazon ECS service quotas"): "Containers per task
  definition: 10, not adjustable".
- ECS API reference, Tag: at most 50 tags per resource; key 1-128 and value 0-256 Unicode
  characters from letters, numbers, spaces and ``+ - = . _ : / @``; the ``aws:`` prefix is reserved.
- ECS API reference, RegisterTaskDefinition ``family`` and ContainerDefinition ``name``: "Up to 255
  letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
- ECS API reference, ContainerDefinition ``links`` ("not supported ... awsvpc"), ``dependsOn`` /
  ContainerDependency (COMPLETE and SUCCESS "can't be set on an essential container"; HEALTHY
  "requires that the dependent container has health checks configured"), ``volumesFrom`` and
  ``mountPoints.sourceVolume`` (the name of a container / a volume of this task definition).
- Start order: the ECS container agent orders containers by ``dependsOn``, ``links`` and
  ``volumesFrom`` together, so a cycle through any mix of them can never start.

Pure: plain dicts in, one-line problems out. Names and counts only, never values.
"""

from __future__ import annotations

import re
from typing import Any

MAX_CONTAINERS = 10
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
# The API's [\p{L}\p{Z}\p{N}_.:/=+\-@]: \w is Unicode letters, digits and underscore; the Z
# category is the space separators listed (\s would also let tabs and line breaks through).
TAG_CHARACTERS = re.compile(r"[\w .:/=+\-@\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*")

QUOTA = "ECS allows at most 10 containers per task definition (service quota, not adjustable)"
NAME_RULE = "ECS allows up to 255 letters, numbers, underscores and hyphens"


def _short(value: str, limit: int = 40) -> str:
    """A name for a reason: long names cut, so a reason stays one readable line."""
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value)} characters)"


def _names(entries: Any, key: str) -> list[str]:
    return [str(e.get(key)) for e in entries or [] if isinstance(e, dict) and e.get(key) is not None]


def _link_names(container: dict[str, Any]) -> list[str]:
    return [str(link).split(":", 1)[0] for link in container.get("links") or []]


def tag_problems(tags: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if len(tags) > MAX_TAGS:
        problems.append(f"{len(tags)} tags: ECS allows at most {MAX_TAGS} per resource")
    for tag in tags:
        key, value = str(tag.get("key", "")), str(tag.get("value", ""))
        if not 1 <= len(key) <= MAX_TAG_KEY:
            problems.append(f"tag key {_short(key)!r}: ECS allows 1 to {MAX_TAG_KEY} characters")
        if len(value) > MAX_TAG_VALUE:
            problems.append(
                f"the value of tag {_short(key)!r} has {len(value)} characters: ECS allows {MAX_TAG_VALUE}"
            )
        if not TAG_CHARACTERS.fullmatch(key) or not TAG_CHARACTERS.fullmatch(value):
            problems.append(
                f"tag {_short(key)!r}: ECS allows letters, numbers, spaces and + - = . _ : / @ only"
            )
        if key.lower().startswith("aws:"):
            problems.append(f"tag key {_short(key)!r}: the aws: prefix is reserved for AWS")
    return problems


def _cycle(edges: dict[str, list[tuple[str, str]]]) -> str | None:
    """A cycle in the start-order graph, as 'a -dependsOn-> b -links-> a', or None."""
    done: set[str] = set()
    path: list[str] = []  # the containers on the current path
    kinds: list[str] = []  # kinds[i]: the edge from path[i] to path[i + 1]

    def visit(node: str) -> str | None:
        path.append(node)
        for kind, target in edges.get(node, []):
            if target in path:
                i = path.index(target)
                steps = zip([*kinds[i:], kind], [*path[i + 1 :], target], strict=True)
                return target + "".join(f" -{k}-> {n}" for k, n in steps)
            if target not in done:
                kinds.append(kind)
                found = visit(target)
                if found:
                    return found
                kinds.pop()
        path.pop()
        done.add(node)
        return None

    for node in edges:
        if node not in done:
            found = visit(node)
            if found:
                return found
    return None


def _start_edges(container: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, container) this one waits for: dependsOn, links and volumesFrom."""
    targets = [("dependsOn", n) for n in _names(container.get("dependsOn"), "containerName")]
    targets += [("links", n) for n in _link_names(container)]
    targets += [("volumesFrom", n) for n in _names(container.get("volumesFrom"), "sourceContainer")]
    return targets


def waited_for(request: dict[str, Any], name: str) -> set[str]:
    """The containers ``name`` waits for to start, directly or through others: making one of them
    wait for ``name`` would be a start-order cycle."""
    by_name = {
        str(c.get("name")): c for c in request.get("containerDefinitions") or [] if isinstance(c, dict)
    }
    found: set[str] = set()
    todo = [name]
    while todo:
        current = by_name.get(todo.pop())
        for _, target in _start_edges(current) if current else []:
            if target not in found and target != name:
                found.add(target)
                todo.append(target)
    return found


def reference_problems(request: dict[str, Any], network_mode: str) -> list[str]:
    """dependsOn, links, volumesFrom and mountPoints name what exists; no start-order cycle."""
    containers = [c for c in request.get("containerDefinitions") or [] if isinstance(c, dict)]
    by_name = {str(c.get("name")): c for c in containers}
    volumes = set(_names(request.get("volumes"), "name"))
    problems: list[str] = []
    edges: dict[str, list[tuple[str, str]]] = {}
    for c in containers:
        name = str(c.get("name"))
        targets = _start_edges(c)
        for dependency in c.get("dependsOn") or []:
            if not isinstance(dependency, dict):
                continue
            target = str(dependency.get("containerName"))
            condition = str(dependency.get("condition"))
            other = by_name.get(target)
            if other is None:
                continue
            if condition in ("COMPLETE", "SUCCESS") and other.get("essential", True):
                problems.append(
                    f"container '{_short(name)}' dependsOn '{_short(target)}' {condition}: ECS does not "
                    "allow COMPLETE or SUCCESS on an essential container"
                )
        for kind, target in targets:
            if target not in by_name:
                problems.append(f"container '{_short(name)}' {kind} '{_short(target)}', which does not exist")
            elif target == name:
                problems.append(f"container '{_short(name)}' {kind} itself")
        edges[name] = [(k, t) for k, t in targets if t in by_name and t != name]
        for member in ("links", "hostname"):  # ContainerDefinition: "not supported ... awsvpc"
            if c.get(member) and network_mode == "awsvpc":
                problems.append(
                    f"container '{_short(name)}' sets {member}: ECS does not support {member} in awsvpc mode"
                )
        for volume in _names(c.get("mountPoints"), "sourceVolume"):
            if volume not in volumes:
                problems.append(
                    f"container '{_short(name)}' mounts volume '{_short(volume)}', "
                    "which the task does not define"
                )
    cycle = _cycle(edges)
    if cycle:
        problems.append(f"containers start in a cycle ({cycle}): ECS cannot order them")
    return problems


def start_problems(request: dict[str, Any]) -> list[str]:
    """Rules ECS checks when a task starts, not at RegisterTaskDefinition: a task definition that
    breaks one registers, then no task of it ever starts. Only what a plan introduces is refused
    (a team's own task definition that breaks one is theirs to fix)."""
    containers = [c for c in request.get("containerDefinitions") or [] if isinstance(c, dict)]
    by_name = {str(c.get("name")): c for c in containers}
    problems: list[str] = []
    for c in containers:
        for dependency in c.get("dependsOn") or []:
            if not isinstance(dependency, dict) or dependency.get("condition") != "HEALTHY":
                continue
            target = str(dependency.get("containerName"))
            if target in by_name and not by_name[target].get("healthCheck"):
                problems.append(
                    f"container '{_short(str(c.get('name')))}' dependsOn '{_short(target)}' HEALTHY, which "
                    "has no healthCheck: ECS requires one for a HEALTHY dependency, and no task would start"
                )
    return problems


def request_problems(request: dict[str, Any], network_mode: str) -> list[str]:
    """Every ECS rule the request breaks (empty when ECS would accept it, as far as we know)."""
    problems: list[str] = []
    family = str(request.get("family", ""))
    if not NAME.fullmatch(family):
        problems.append(f"family {_short(family)!r}: {NAME_RULE}")
    containers = [c for c in request.get("containerDefinitions") or [] if isinstance(c, dict)]
    if len(containers) > MAX_CONTAINERS:
        problems.append(f"{len(containers)} containers: {QUOTA}")
    for c in containers:
        name = str(c.get("name", ""))
        if not NAME.fullmatch(name):
            problems.append(f"container name {_short(name)!r}: {NAME_RULE}")
    problems.extend(reference_problems(request, network_mode))
    problems.extend(tag_problems(request.get("tags") or []))
    return problems
