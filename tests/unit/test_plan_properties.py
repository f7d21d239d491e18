"""Properties of the plan over generated task definitions, for every shipped profile.

Generated: Fargate/awsvpc, EC2 awsvpc, bridge (explicit or absent) and host tasks; valid Fargate
sizes written as people write them; EC2 task-level limits or none; one to ten app containers (ECS
allows ten in all, so nine and ten are drawn often) with random names (some at ECS's 255-character
limit), images, ports, environment, reservations, acyclic dependsOn/links/volumesFrom between them,
sometimes one holding the sidecar's name; families up to 255 characters (the source ARN then
outgrows a tag value); up to 50 tags with keys and values at ECS's 128/256-character limits.
The oracle below says independently when a refusal is due; otherwise the request must be valid,
keep everything, add exactly the sidecar, fit a valid size, and be compliant when planned again.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sidecar_enforcer.domain.ecs import schema
from sidecar_enforcer.domain.planning.invariants import violations
from sidecar_enforcer.domain.planning.plan import Decision, is_managed, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.profiles import builtin_profiles

from ._factories import ROOT

POLICY = Policy.model_validate(json.loads((ROOT / "examples" / "policy.json").read_text()))
PROFILES = builtin_profiles()
RESERVED_WORDS = ("windows", "nanoserver", "servercore", "microsoft", "jaeger", "otel", "xray", "fluent")
NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,14}", fullmatch=True)
# ECS allows 255 characters in a family or container name (ECS API reference, RegisterTaskDefinition).
LONG_NAMES = st.tuples(NAMES, st.integers(200, 255)).map(lambda t: (t[0] + "x" * t[1])[:255])
IMAGES = st.builds(
    "{}:{}".format,
    st.from_regex(
        r"([a-z0-9.-]{1,12}\.[a-z]{2,3}/)?[a-z][a-z0-9-]{0,10}(/[a-z][a-z0-9-]{0,10})?", fullmatch=True
    ),
    st.from_regex(r"[0-9]{1,2}\.[0-9]{1,2}(\.[0-9]{1,2})?", fullmatch=True),
).filter(lambda i: not any(w in i for w in RESERVED_WORDS))
# Mostly ordinary ports, sometimes one a sidecar needs.
PORTS = st.integers(1024, 65535) | st.sampled_from([4317, 4318, 16686, 24224])
ENV_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,11}", fullmatch=True)
TAG_KEYS = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True) | st.tuples(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), st.integers(100, 128)
).map(lambda t: (t[0] + "k" * t[1])[:128])  # ECS: keys up to 128 characters
TAG_VALUES = st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True) | st.integers(200, 256).map("v".__mul__)
USER_TAGS = st.one_of(
    st.lists(
        st.fixed_dictionaries({"key": TAG_KEYS, "value": TAG_VALUES}),
        max_size=4,
        unique_by=lambda t: t["key"],
    ),
    # near ECS's 50 tags per resource: with the enforcer's three markers, 47 fit and 48 do not
    st.lists(
        st.fixed_dictionaries({"key": TAG_KEYS, "value": TAG_VALUES}),
        min_size=45,
        max_size=50,
        unique_by=lambda t: t["key"],
    ),
)
# Valid Fargate sizes as people write them -> (CPU units, MiB).
FARGATE = {
    ("256", "512"): (256, 512),
    ("256", "2 GB"): (256, 2048),
    (".5 vcpu", "1024"): (512, 1024),
    ("512", "4096"): (512, 4096),
    ("1 vCPU", "2 GB"): (1024, 2048),
    ("1024", "8192"): (1024, 8192),
    ("2048", "4096"): (2048, 4096),
    ("4096", "30720"): (4096, 30720),
}
VALID_FARGATE = {  # the table from the ECS developer guide, written out independently
    256: {512, 1024, 2048},
    512: set(range(1024, 4097, 1024)),
    1024: set(range(2048, 8193, 1024)),
    2048: set(range(4096, 16385, 1024)),
    4096: set(range(8192, 30721, 1024)),
    8192: set(range(16384, 61441, 4096)),
    16384: set(range(32768, 122881, 8192)),
}


@st.composite
def app_containers(draw: st.DrawFn, taken_name: str | None, bridge: bool) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4) | st.sampled_from([9, 10]))
    names = draw(st.lists(NAMES | LONG_NAMES, min_size=count, max_size=count, unique=True))
    if taken_name and draw(st.booleans()):
        names[-1] = taken_name  # a foreign container under the sidecar's name
    containers: list[dict[str, Any]] = []
    used: set[int] = set()  # a valid source task: no port twice (the sidecar's may appear once)
    for name in names:
        container: dict[str, Any] = {"name": name, "image": draw(IMAGES), "essential": draw(st.booleans())}
        ports = [p for p in draw(st.lists(PORTS, max_size=2, unique=True)) if p not in used]
        used.update(ports)
        if ports:
            container["portMappings"] = [{"containerPort": p, "protocol": "tcp"} for p in ports]
        variables = draw(st.dictionaries(ENV_NAMES, st.text(max_size=6), max_size=3))
        if variables:
            container["environment"] = [{"name": k, "value": v} for k, v in variables.items()]
        reservation = draw(st.none() | st.integers(6, 900))
        if reservation is not None:
            container["memoryReservation"] = reservation
        cpu = draw(st.none() | st.integers(0, 600))
        if cpu is not None:
            container["cpu"] = cpu
        # references only to later containers: the source starts in some order (no cycle)
        later = names[len(containers) + 1 :]
        if later and draw(st.integers(0, 3)) == 0:
            target = draw(st.sampled_from(later))
            kind = draw(st.sampled_from(["dependsOn", "volumesFrom", *(["links"] if bridge else [])]))
            if kind == "dependsOn":
                container["dependsOn"] = [{"containerName": target, "condition": "START"}]
            elif kind == "volumesFrom":
                container["volumesFrom"] = [{"sourceContainer": target, "readOnly": True}]
            else:
                container["links"] = [target]
        containers.append(container)
    containers[0]["essential"] = True
    return containers


@st.composite
def cases(draw: st.DrawFn) -> tuple[Profile, dict[str, Any]]:
    profile = PROFILES[draw(st.sampled_from(sorted(PROFILES)))]
    kind = draw(st.sampled_from(["fargate", "ec2-awsvpc", "bridge", "no-mode", "host"]))
    containers = draw(app_containers(profile.container_name, bridge=kind in ("bridge", "no-mode")))
    family = draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True) | LONG_NAMES)
    revision = draw(st.integers(1, 9999))
    task: dict[str, Any] = {
        "taskDefinitionArn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{revision}",
        "family": family,
        "containerDefinitions": containers,
        "taskRoleArn": "arn:aws:iam::123456789012:role/app",
    }
    if kind == "fargate":
        cpu, memory = draw(st.sampled_from(sorted(FARGATE)))
        task |= {
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": cpu,
            "memory": memory,
        }
        return profile, task
    task["requiresCompatibilities"] = ["EC2"]
    if kind != "no-mode":
        task["networkMode"] = {"ec2-awsvpc": "awsvpc", "bridge": "bridge", "host": "host"}[kind]
    if draw(st.booleans()):
        task["cpu"] = str(draw(st.integers(128, 4096)))
    if draw(st.booleans()):
        task["memory"] = str(draw(st.integers(128, 4096)))
    return profile, task


def expected_refusal(profile: Profile, task: dict[str, Any], tags: list[dict[str, str]]) -> bool:
    """The oracle, from the rules as the README states them, not from the code under test."""
    mode = task.get("networkMode", "bridge")
    containers = task["containerDefinitions"]
    if mode == "host":
        return True
    if len(containers) + 1 > 10 or len(tags) + 3 > 50:  # ECS quotas: 10 containers, 50 tags
        return True
    if mode == "awsvpc":
        used = {m["containerPort"] for c in containers for m in c.get("portMappings", [])}
        if used & set(profile.ports):
            return True
    if "FARGATE" in task["requiresCompatibilities"]:
        return False  # every generated task fits some valid size
    sidecar = profile.container
    reserved = sum(c.get("memoryReservation", 0) for c in containers) + sidecar["memoryReservation"]
    cpu = sum(c.get("cpu", 0) for c in containers) + sidecar["cpu"]
    if "memory" in task and (reserved > int(task["memory"]) or sidecar["memory"] > int(task["memory"])):
        return True
    return "cpu" in task and cpu > int(task["cpu"])


def _ports(container: dict[str, Any]) -> set[int]:
    return {m["containerPort"] for m in container.get("portMappings", [])}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), tags=USER_TAGS)
def test_property_a_plan_adds_exactly_the_sidecar_or_refuses_with_reasons(
    case: tuple[Profile, dict[str, Any]], tags: list[dict[str, str]]
) -> None:
    profile, task = case
    before = copy.deepcopy(task)

    result = plan(task, tags, profile, POLICY)

    assert task == before  # pure
    event(f"{profile.name} {result.decision.value}")
    if result.resize:
        event("a Fargate task grew")
    if len(task["containerDefinitions"]) >= 9:
        event("9 or 10 app containers")
    if len(task["family"]) > 200:
        event("a family near 255 characters")
    if len(tags) >= 45:
        event("45 or more tags")
    if expected_refusal(profile, task, tags):
        assert result.decision is Decision.REFUSED
        assert result.register_input is None
        assert result.reasons
        assert all(r.strip() and "\n" not in r for r in result.reasons)
        return
    assert result.decision is Decision.MISSING, result.reasons
    request = result.register_input
    assert request is not None
    assert schema.validate_register_request(request) == []
    fargate = "FARGATE" in task["requiresCompatibilities"]
    # top level: every member kept (a Fargate size may only grow), tags added
    assert set(request) == (set(task) - {"taskDefinitionArn"}) | {"tags"}
    for member, value in task.items():
        if member in ("containerDefinitions", "taskDefinitionArn") or (
            fargate and member in ("cpu", "memory")
        ):
            continue
        assert request[member] == value, member
    # containers: the originals in order, members kept but for the wiring; then the sidecar
    planned = request["containerDefinitions"]
    assert len(planned) == len(task["containerDefinitions"]) + 1
    wiring = ("environment", "dependsOn", "links")
    for original, wired in zip(task["containerDefinitions"], planned, strict=False):
        assert {k: v for k, v in wired.items() if k not in wiring} == {
            k: v for k, v in original.items() if k not in wiring
        }
        assert wired.get("environment", [])[: len(original.get("environment", []))] == original.get(
            "environment", []
        )
    sidecar = planned[-1]
    assert sidecar["image"] == profile.image
    names = [c["name"] for c in planned]
    assert len(set(names)) == len(names)
    sidecar_name = sidecar["name"]
    for app in planned[:-1]:
        assert {"containerName": sidecar_name, "condition": "START"} in app["dependsOn"]
    if request.get("networkMode", "bridge") == "awsvpc":
        counts = Counter(p for c in planned for p in _ports(c))
        assert all(n == 1 for n in counts.values()), counts
    if fargate:
        old_cpu, old_memory = FARGATE[(task["cpu"], task["memory"])]
        if (request["cpu"], request["memory"]) == (task["cpu"], task["memory"]):
            cpu, memory = old_cpu, old_memory  # kept as written
        else:
            cpu, memory = int(request["cpu"]), int(request["memory"])
        assert memory in VALID_FARGATE[cpu]
        assert cpu >= old_cpu
        assert memory >= old_memory
        assert sum(c.get("cpu", 0) for c in planned) <= cpu
        assert sum(c.get("memoryReservation") or c.get("memory") or 0 for c in planned) <= memory
        assert max(c.get("memory", 0) for c in planned) <= memory
        smaller = [
            (c, m)
            for c, ms in VALID_FARGATE.items()
            for m in ms
            if (c, m) < (cpu, memory) and c >= old_cpu and m >= old_memory
        ]
        fits = [
            (c, m)
            for c, m in smaller
            if sum(x.get("cpu", 0) for x in planned) <= c
            and sum(x.get("memoryReservation") or x.get("memory") or 0 for x in planned) <= m
            and max(x.get("memory", 0) for x in planned) <= m
        ]
        assert fits == [], f"{cpu}/{memory} chosen but {fits[0]} is smaller and fits"
    assert request["tags"][: len(tags)] == tags
    assert is_managed(request["tags"])
    # ECS's limits hold, checked here independently of the code: at most 10 containers, 50 tags,
    # keys of 128 and values of 256 characters, names of 255
    assert len(planned) <= 10
    assert len(request["tags"]) <= 50
    assert all(len(t["key"]) <= 128 and len(t["value"]) <= 256 for t in request["tags"])
    assert all(len(c["name"]) <= 255 for c in planned)
    assert violations(task, request) == []
    # idempotent: planning the result again finds the sidecar as its profile says
    again = plan(request, request["tags"], profile, POLICY)
    assert again.decision is Decision.COMPLIANT, again.reasons
