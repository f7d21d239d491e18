"""1,000 mixed events replayed concurrently through the router, the SQS FIFO work queue and the
worker against moto's server.

Eight threads stand for eight Lambda execution environments of each function (each loads the
router and the worker afresh, so each has its own clients and caches, as Lambda's do): each takes an
event, runs the router on it, then the worker on whatever the shared work queue hands it (the local
pipeline), so items of one event may be worked on by another thread, as on Lambda.
The events: UpdateService, TagResource, RegisterTaskDefinition and deployment IN_PROGRESS events
for tagged services, duplicates (the same event id delivered again), events for untagged and
quarantined services, the enforcer's own calls handed back by CloudTrail, and malformed events, all
shuffled. A failed router invocation is retried like Lambda retries an asynchronous one (twice
more), then dead-lettered; a failed work item is handed over again by the queue, up to its redrive
policy's 3 receives, then dead-lettered by SQS.

The end state: every tagged service that ECS deploys runs the sidecar, with exactly one new
revision per source revision and exactly one enforcer deployment per service; untagged and
quarantined services are untouched; only the malformed events are dead-lettered, and no work item.
The functions' API calls are counted per event (with the items its run worked on) and printed.
"""

from __future__ import annotations

import copy
import json
import os
import queue
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any, Literal

import boto3
import pytest
from sidecar_enforcer.adapters.aws import Clients
from sidecar_enforcer.adapters.dynamodb import StateTable, create_table
from sidecar_enforcer.domain.planning.plan import MARKER_SOURCE, Decision, plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.safety import records
from sidecar_enforcer.errors import EnforcementFailedError, MalformedEventError
from sidecar_enforcer.profiles import builtin_profiles
from sidecar_enforcer_dev import fleet
from sidecar_enforcer_dev.local import Pipeline, create_work_queue, load_function

from ..conftest import ROOT

pytestmark = pytest.mark.server

EVENTS = 1000
WORKERS = 8
LAMBDA_RETRIES = 2  # an asynchronous invocation is retried twice, then goes to the on-failure destination
TABLE = "replay-state"
FAMILIES = [f"replay-{c}" for c in "abcdefgh"]  # two services share each family's source revision
UNTAGGED = ["replay-untagged-1", "replay-untagged-2", "replay-untagged-3"]
QUARANTINED = "replay-quarantined"
JAEGER = builtin_profiles()["jaeger"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server in a process of its own: the functions' threads and the server do not share
    one interpreter's lock, so the replay uses both cores of a 2-core machine."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
                urllib.request.urlopen(reset, timeout=5)  # noqa: S310 - the local server
                break
            except OSError:
                if time.monotonic() > deadline or moto.poll() is not None:
                    raise RuntimeError(f"moto's server did not start on {endpoint}") from None
                time.sleep(0.2)
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "STATE_TABLE_NAME": TABLE,
            "UPGRADE_DRIFTED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }.items():
            monkeypatch.setenv(name, value)
        yield endpoint
    finally:
        moto.terminate()
        moto.wait(timeout=30)


def client(name: Literal["dynamodb", "ec2", "ecs", "sns", "sqs", "sts"]) -> Any:
    return boto3.session.Session(region_name="us-east-1").client(name)


def template(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "events" / name).read_text(encoding="utf-8"))
    return data


def seed_replay_fleet(ecs: Any) -> dict[str, str]:
    """The demo fleet plus two services per replay family, untagged services and one quarantined
    service. Returns service name -> the revision it started on."""
    fleet.seed(ecs, client("ec2"), "123456789012", JAEGER.container)
    network = ecs.describe_services(cluster=fleet.CLUSTER, services=["nexus-ai-api-prod"])["services"][0][
        "networkConfiguration"
    ]
    started = {
        s["serviceName"]: s["taskDefinition"]
        for s in ecs.describe_services(
            cluster=fleet.CLUSTER,
            services=[a.rsplit("/", 1)[-1] for a in ecs.list_services(cluster=fleet.CLUSTER)["serviceArns"]],
        )["services"]
    }
    plans: list[tuple[str, str, str | None]] = [
        (f"{f}-svc-{n}", f, "jaeger") for f in FAMILIES for n in (1, 2)
    ]
    plans += [(name, name, None) for name in UNTAGGED]
    plans += [(QUARANTINED, QUARANTINED, "jaeger")]
    sources: dict[str, str] = {}
    for name, family, tag in plans:
        if family not in sources:
            sources[family] = ecs.register_task_definition(
                family=family,
                requiresCompatibilities=["FARGATE"],
                networkMode="awsvpc",
                cpu="512",
                memory="1024",
                containerDefinitions=[
                    {
                        "name": "app",
                        "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{family}:1.0.0",
                        "essential": True,
                        "portMappings": [{"containerPort": 8080}],
                        "environment": [{"name": "API_TOKEN", "value": fleet.CANARY}],
                    }
                ],
            )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=fleet.CLUSTER,
            serviceName=name,
            taskDefinition=sources[family],
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
            tags=[{"key": "tracing-sidecar", "value": tag}] if tag else [],
        )
        started[name] = sources[family]
    return started


def quarantine(ecs: Any) -> None:
    """The quarantined service, as a FLAPPING service an earlier fight left behind."""
    arn = ecs.describe_services(cluster=fleet.CLUSTER, services=[QUARANTINED])["services"][0]["serviceArn"]
    record = records.quarantine(
        records.ServiceRecord(), "FLAPPING", "reverted 4 times by a pipeline", now=time.time()
    )
    StateTable(client("dynamodb"), TABLE).put(f"service#{arn}", "state", record.to_doc(), None)


def mixed_events(
    services: list[str], enforcer_arn: str, rng: random.Random
) -> list[tuple[str, dict[str, Any]]]:
    update = template("cloudtrail-updateservice.json")
    tag = template("cloudtrail-tagresource-service.json")
    register = template("cloudtrail-registertaskdefinition.json")
    deploying = template("ecs-deployment-in-progress.json")
    malformed = template("malformed-updateservice-without-service.json")
    prefix = "arn:aws:ecs:us-east-1:123456789012:service/shop-prod/"
    made: list[tuple[str, dict[str, Any]]] = []

    def fresh(kind: str, data: dict[str, Any]) -> None:
        data["id"] = f"replay-{len(made):04d}"
        made.append((kind, data))

    while len(made) < EVENTS:
        roll = rng.random()
        name = rng.choice(services)
        if roll < 0.30:
            data = copy.deepcopy(update)
            data["detail"]["requestParameters"]["service"] = name
            data["detail"]["requestParameters"].pop("taskDefinition", None)
            data["detail"]["requestParameters"]["forceNewDeployment"] = True  # scaling alone is noise
            fresh("UpdateService", data)
        elif roll < 0.45:
            data = copy.deepcopy(deploying)
            data["resources"] = [prefix + name]
            fresh("deployment IN_PROGRESS", data)
        elif roll < 0.55:
            data = copy.deepcopy(tag)
            data["detail"]["requestParameters"]["resourceArn"] = prefix + name
            fresh("TagResource", data)
        elif roll < 0.62:
            data = copy.deepcopy(register)
            family = rng.choice([*FAMILIES, "nexus-ai-api", "checkout-web"])
            data["detail"]["requestParameters"] = {"family": family, "tags": []}
            fresh("RegisterTaskDefinition", data)
        elif roll < 0.70:
            data = copy.deepcopy(update)
            data["detail"]["requestParameters"]["service"] = name
            data["detail"]["userIdentity"] = {"type": "AssumedRole", "arn": enforcer_arn}
            fresh("the enforcer's own call", data)
        elif roll < 0.71:
            fresh("malformed", copy.deepcopy(malformed))
        elif made:
            kind, earlier = rng.choice(made)
            base = kind.removeprefix("duplicate of ")
            made.append((f"duplicate of {base}", earlier))  # the same event delivered again
    rng.shuffle(made)
    return made


class Calls:
    """API calls the enforcer makes, per operation and per event kind (botocore's
    before-parameter-build: once per call, retries not counted)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self.by_kind: dict[str, list[int]] = defaultdict(list)
        self.deployments: Counter[str] = Counter()
        self.current = threading.local()

    def hook(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        with self.lock:
            self.by_operation[model.name] += 1
            self.current.count = getattr(self.current, "count", 0) + 1
            if model.name == "UpdateService":
                self.deployments[str(params["service"])] += 1


def test_a_thousand_mixed_concurrent_events_end_with_one_revision_and_one_deployment_each(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = client("ecs")
    create_table(client("dynamodb"), TABLE)
    topic = client("sns").create_topic(Name="replay-status")["TopicArn"]
    monkeypatch.setenv("STATUS_TOPIC_ARN", topic)
    work_queue = create_work_queue(client("sqs"), "replay-work.fifo", max_receives=LAMBDA_RETRIES + 1)
    monkeypatch.setenv("WORK_QUEUE_URL", work_queue)
    started = seed_replay_fleet(ecs)
    quarantine(ecs)
    enforcer_arn = client("sts").get_caller_identity()["Arn"]
    events = mixed_events(sorted(started), enforcer_arn, random.Random(20261122))  # noqa: S311 - a fixed shuffle

    calls = Calls()
    real_client = Clients.client

    def counted(self: Clients, service_name: str, region: str | None = None) -> Any:
        made = real_client(self, service_name, region)
        if not getattr(made, "_counted", False):
            made._counted = True
            made.meta.events.register("before-parameter-build", calls.hook)
        return made

    monkeypatch.setattr(Clients, "client", counted)

    work: queue.Queue[tuple[str, dict[str, Any], int]] = queue.Queue()
    for kind, data in events:
        work.put((kind, data, 0))
    dead_letters: list[tuple[str, dict[str, Any], str]] = []
    given_up: list[str] = []  # work items the queue dead-lettered
    statuses: Counter[str] = Counter()
    retried: Counter[str] = Counter()
    lock = threading.Lock()

    def worker() -> None:
        # one execution environment of each function; the queue's calls are the Lambda service's
        pipeline = Pipeline(load_function("router"), load_function("worker"), client("sqs"), work_queue)
        while True:
            try:
                kind, data, attempt = work.get_nowait()
            except queue.Empty:
                return
            original = json.dumps(data, sort_keys=True)
            calls.current.count = 0
            try:
                result = pipeline.run(data)
                with lock:
                    statuses.update(f["status"] for f in result["findings"])
                    calls.by_kind[kind].append(calls.current.count)
            except EnforcementFailedError as exc:
                # the router's FAILED event is retried by Lambda; a work item the queue gave up on
                # (after its 3 receives) is in the work dead-letter queue
                assert json.dumps(data, sort_keys=True) == original  # handed on intact
                with lock:
                    calls.by_kind[kind].append(calls.current.count)
                    if str(exc).startswith(("event not queued", "configuration fault")):
                        if attempt < LAMBDA_RETRIES:
                            retried["router"] += 1
                            work.put((kind, data, attempt + 1))
                        else:
                            dead_letters.append((kind, data, str(exc)))
                    else:
                        given_up.append(str(exc))
            except MalformedEventError as exc:
                assert json.dumps(data, sort_keys=True) == original  # handed on intact
                with lock:
                    calls.by_kind[kind].append(calls.current.count)
                    if attempt < LAMBDA_RETRIES:
                        work.put((kind, data, attempt + 1))  # Lambda retries these too
                    else:
                        dead_letters.append((kind, data, str(exc)))

    began = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    monkeypatch.setattr(Clients, "client", real_client)

    # -- the end state --------------------------------------------------------------------------
    final = {
        s["serviceName"]: s
        for s in ecs.describe_services(cluster=fleet.CLUSTER, services=sorted(started), include=["TAGS"])[
            "services"
        ]
    }
    remediated = ["nexus-ai-api-prod", "checkout-web", "catalog-search"] + [
        f"{f}-svc-{n}" for f in FAMILIES for n in (1, 2)
    ]
    untouched = ["billing-worker", "search-gateway", "payments-legacy", QUARANTINED, *UNTAGGED]
    policy = Policy(upgrade_drifted=True)
    for name in [*remediated, "search-gateway"]:
        td = ecs.describe_task_definition(taskDefinition=final[name]["taskDefinition"], include=["TAGS"])
        decided = plan(td["taskDefinition"], td.get("tags", []), JAEGER, policy)
        assert decided.decision is Decision.COMPLIANT, (name, decided.reasons)
    for name in untouched:
        assert final[name]["taskDefinition"] == started[name], name

    # exactly one new revision per source revision
    sources: Counter[str] = Counter()
    for family in {started[n].rsplit("/", 1)[-1].split(":")[0] for n in started}:
        for arn in ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"]:
            tags = {
                t["key"]: t["value"]
                for t in ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])["tags"]
            }
            if MARKER_SOURCE in tags:
                sources[tags[MARKER_SOURCE]] += 1
    expected_sources = {started[n] for n in remediated}
    assert set(sources) == expected_sources
    assert all(count == 1 for count in sources.values()), sources
    assert calls.by_operation["RegisterTaskDefinition"] == len(expected_sources)

    # exactly one enforcer deployment per remediated service, none elsewhere
    assert {name: calls.deployments[name] for name in remediated} == dict.fromkeys(remediated, 1)
    assert sum(calls.deployments.values()) == len(remediated)

    # only the malformed events are dead-lettered, and no work item
    assert given_up == []
    dead_queue = json.loads(
        client("sqs").get_queue_attributes(QueueUrl=work_queue, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )["deadLetterTargetArn"].rsplit(":", 1)[-1]
    dead_url = client("sqs").get_queue_url(QueueName=dead_queue)["QueueUrl"]
    assert client("sqs").receive_message(QueueUrl=dead_url).get("Messages", []) == []
    assert dead_letters
    assert {kind.removeprefix("duplicate of ") for kind, _, _ in dead_letters} == {"malformed"}
    assert statuses["QUARANTINED"] > 0
    assert statuses["NOT_OPTED_IN"] > 0

    # -- the figures ----------------------------------------------------------------------------
    handled = sum(len(v) for v in calls.by_kind.values())
    lines = [
        f"{EVENTS} events ({handled} invocations with retries) by {WORKERS} workers in {elapsed:.1f} s",
        f"router invocations retried: {dict(retried)}; dead-lettered: {len(dead_letters)} (all malformed); "
        f"work items dead-lettered: {len(given_up)}",
        f"statuses: {dict(sorted(statuses.items()))}",
        f"API calls: {sum(calls.by_operation.values())} in all, "
        f"{sum(calls.by_operation.values()) / handled:.2f} per invocation",
        *(
            f"  {kind:<38} {len(n):>4} invocations, {sum(n) / len(n):5.2f} calls each (max {max(n)})"
            for kind, n in sorted(calls.by_kind.items())
        ),
        "  by operation: " + ", ".join(f"{op} {n}" for op, n in calls.by_operation.most_common()),
    ]
    report = "\n".join(lines)
    print("\n" + report)
    out = os.environ.get("REPLAY_REPORT")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(report + "\n")
