"""AWS calls per event kind: the router and the worker against moto's server, behind the counting
proxy.

One moto server on a free 127.0.0.1 port, the proxy in front of it (``AWS_ENDPOINT_URL``), the
``sidecar-enforcer local-env`` resources (status topic, state table, work queue), the demo fleet,
and one module of each function with the local pipeline between them: warm containers, primed with
an unrelated event before the first measured one so their per-container caches (the caller
identity, the clients) are filled, as on a busy Lambda. Each measured event gets a fresh EventBridge
``id`` (the queue drops an item it saw within 5 minutes). The functions' own calls are counted; the
pipeline's ReceiveMessage/DeleteMessage (the Lambda service's) bypass the proxy; the bench's own
set-up calls between events are not counted.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3

from . import project
from .proxy import Call, CountingProxy, Record, tally

REGION = "us-east-1"
PUBLISH = Call("sns", "Publish")  # publishing statuses is not reading or writing ECS: shown, not counted
QUEUE = Call("sqs", "SendMessageBatch")  # handing work to the worker: shown, not counted
APART = (PUBLISH, QUEUE)  # the floors are about reading and writing AWS state
PRIME = f"events/{project.PRIME} ({project.PRIME_ABOUT})"
OTHER_DEPLOYMENT = "ecs-svc/4242424242424242424"  # an id the enforcer never started


@dataclass(frozen=True)
class Kind:
    key: str
    title: str
    floor: int | None  # the fewest calls this kind needs (its target), None: reported only


KINDS = (
    Kind("compliant", "UpdateService, service already compliant", 2),
    Kind("untagged", "UpdateService, untagged service (cluster untagged)", 2),
    Kind("own-call", "the enforcer's own call (CloudTrail)", 0),
    Kind("not-our-deployment", "deployment COMPLETED, not started by the enforcer", 1),
    Kind("remediated", "UpdateService, service needs the sidecar", None),
    Kind("cluster-tag", "TagResource, opt-in tag on the cluster", None),
)


PRIME_KIND = Kind("prime", "the priming event (cold container)", None)


@dataclass
class Measured:
    kind: Kind
    event: str  # what was sent, in words
    records: list[Record]
    statuses: list[str] = field(default_factory=list)
    error: str | None = None  # the router or the worker raised: type and message
    services: int = 1  # the services the event concerns (a cluster's: all of them)

    @property
    def breakdown(self) -> Counter[Call]:
        return tally(self.records)

    @property
    def failures(self) -> Counter[Call]:
        """Calls moto answered with a 4xx/5xx (a conditional write that lost, a missing item...)."""
        return tally([r for r in self.records if r.status >= 400])

    @property
    def calls(self) -> int:
        """Every call but SNS Publish and SQS SendMessageBatch."""
        return sum(n for call, n in self.breakdown.items() if call not in APART)

    @property
    def publishes(self) -> int:
        return self.breakdown[PUBLISH]

    @property
    def sends(self) -> int:
        """SendMessageBatch calls: the router's items, a cluster item's service items."""
        return self.breakdown[QUEUE]

    @property
    def per_service(self) -> float:
        return self.calls / self.services if self.services else float(self.calls)

    @property
    def ratio(self) -> float | None:
        """calls / floor; None for a floor of 0 (or no floor)."""
        floor = self.kind.floor
        return self.calls / floor if floor else None


@dataclass(frozen=True)
class Run:
    prime: Measured  # the event that warmed the container: its calls are a cold container's
    kinds: list[Measured]  # in the order of KINDS


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """os.environ with ``values``, as it was afterwards (the handler and the CLI read it)."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _moto() -> Iterator[tuple[str, int]]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # The server shares moto's in-process state: start from an empty account.
        reset = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - a local http URL
        yield str(host), int(port)
    finally:
        server.stop()


def _fresh(data: dict[str, Any], key: str) -> dict[str, Any]:
    data["id"] = f"bench-{key}-{uuid.uuid4()}"
    return data


def _update(service: str, key: str, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    data = project.event(project.UPDATE_SERVICE)
    params = data["detail"]["requestParameters"]
    params["service"] = service
    params.pop("taskDefinition", None)  # the sample's revision is another service's
    params["forceNewDeployment"] = True  # an UpdateService that only scales is noise: never delivered
    if identity is not None:
        data["detail"]["userIdentity"] = identity
    return _fresh(data, key)


class Bench:
    """The world one run measures in: the functions, the fleet, and the bench's own clients."""

    def __init__(self, proxy: CountingProxy, exports: dict[str, str], moto: str) -> None:
        self.proxy = proxy
        self.exports = exports
        session = boto3.session.Session(region_name=REGION)
        self.ecs: Any = session.client("ecs")
        identity = session.client("sts").get_caller_identity()
        self.account = str(identity["Account"])
        self.identity_arn = str(identity["Arn"])
        self.cluster, self.services = project.seed_fleet(self.ecs, session.client("ec2"), self.account)
        self.pipeline = project.pipeline(moto)

    def service_arn(self, service: str) -> str:
        return f"arn:aws:ecs:{REGION}:{self.account}:service/{self.cluster}/{service}"

    def invoke(self, event: dict[str, Any]) -> tuple[list[str], str | None]:
        """The router, then the worker on what it queued: the statuses of the findings, or the
        error raised."""
        try:
            with warnings.catch_warnings():
                # Powertools, when an invocation emitted no metric: expected, not the bench's
                warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
                result = self.pipeline.run(event)
        except Exception as exc:  # the bench reports what the functions did, whatever it was
            return [], f"{type(exc).__name__}: {exc}"
        if result["queued"] and not result["delivered"]:
            return [], f"the queue delivered none of event {result['eventId']}'s items: nothing was done"
        return [str(f.get("status")) for f in result.get("findings", [])], None

    def measure(
        self,
        kind: Kind,
        label: str,
        event: dict[str, Any],
        services: int = 1,
        before: Callable[[], Any] = dict,
    ) -> Measured:
        before()  # the bench's own set-up for this event: not counted
        self.proxy.counts.take()
        statuses, error = self.invoke(event)
        return Measured(kind, label, self.proxy.counts.take(), statuses, error, services)

    # -- the event kinds ----------------------------------------------------------------------------

    def run(self) -> Run:
        kinds = {k.key: k for k in KINDS}
        prime = self.measure(PRIME_KIND, PRIME, _fresh(project.event(project.PRIME), "prime"))
        me = {
            "type": "AssumedRole" if ":assumed-role/" in self.identity_arn else "IAMUser",
            "arn": self.identity_arn,
            "accountId": self.account,
        }
        compliant, untagged, missing = (
            project.COMPLIANT_SERVICE,
            project.UNTAGGED_SERVICE,
            project.MISSING_SERVICE,
        )
        measured = [
            self.measure(
                kinds["compliant"],
                f"UpdateService of {compliant} (tagged, runs the sidecar its profile says)",
                _update(compliant, "compliant"),
            ),
            self.measure(
                kinds["untagged"],
                f"UpdateService of {untagged} (no opt-in tag, nor on its cluster)",
                _update(untagged, "untagged"),
            ),
            self.measure(
                kinds["own-call"],
                f"UpdateService of {missing} by {self.identity_arn} (the enforcer's identity)",
                _update(missing, "own-call", identity=me),
            ),
            self.measure(
                kinds["remediated"],
                f"UpdateService of {missing} (tagged, no sidecar) by a deploy pipeline",
                _update(missing, "remediated"),
            ),
            self.measure(
                kinds["not-our-deployment"],
                f"SERVICE_DEPLOYMENT_COMPLETED {OTHER_DEPLOYMENT} of {missing} "
                "(the enforcer has deployed to it: another deployment)",
                self._deployment(missing),
            ),
            self._cluster_tag(kinds["cluster-tag"]),
        ]
        order = [k.key for k in KINDS]
        return Run(prime, sorted(measured, key=lambda m: order.index(m.kind.key)))

    def _deployment(self, service: str) -> dict[str, Any]:
        data = project.event(project.DEPLOYMENT_IN_PROGRESS)
        data["resources"] = [self.service_arn(service)]
        data["detail"].update(
            eventType="INFO",
            eventName="SERVICE_DEPLOYMENT_COMPLETED",
            deploymentId=OTHER_DEPLOYMENT,
            reason=f"ECS deployment {OTHER_DEPLOYMENT} completed.",
        )
        return _fresh(data, "not-our-deployment")

    def _cluster_tag(self, kind: Kind) -> Measured:
        """The cluster is tagged (by a person, not counted), then CloudTrail's TagResource event."""
        key = self.exports.get("OPT_IN_TAG_KEY", "tracing-sidecar")
        value = self.exports.get("DEFAULT_PROFILE", "jaeger")
        cluster_arn = str(self.ecs.describe_clusters(clusters=[self.cluster])["clusters"][0]["clusterArn"])
        tags = [{"key": key, "value": value}]
        data = project.event(project.TAG_RESOURCE)
        data["detail"]["requestParameters"] = {"resourceArn": cluster_arn, "tags": copy.deepcopy(tags)}
        count = len(self.services)
        return self.measure(
            kind,
            f"TagResource {key}={value} on cluster {self.cluster} of {count} services",
            _fresh(data, "cluster-tag"),
            services=count,
            before=lambda: self.ecs.tag_resource(resourceArn=cluster_arn, tags=tags),
        )


def measure_calls() -> Run:
    """One run of every event kind (see the module's doc)."""
    with (
        _moto() as upstream,
        CountingProxy(upstream, latency=0.0) as proxy,  # counts only: no added latency
        environment(
            AWS_ENDPOINT_URL=proxy.url,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - moto takes any key
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            NO_PROXY="127.0.0.1,localhost",
        ),
    ):
        os.environ.pop("AWS_PROFILE", None)
        exports = project.local_env()
        os.environ.update(exports)
        return Bench(proxy, exports, f"http://{upstream[0]}:{upstream[1]}").run()
