"""The backfill bench: ``sidecar-enforcer backfill --mode audit`` against Cloud Custodian on the same
fleet, behind the same proxy (the backfill's specified benchmark).

One moto server on 127.0.0.1, in a process of its own (:mod:`bench.moto_process`, with the patches
of :mod:`bench.moto_patches`: per-request costs of moto's that AWS does not have), and the counting
proxy in front of it (30 ms a request, TCP_NODELAY). For each fleet (:mod:`bench.fleet`), seeded
straight into moto's backend in moto's process (not through the proxy, not counted), then one
request of each action the tools send (:func:`warm`):

1. the small fleet (1,000 services): Cloud Custodian's policy (:mod:`bench.custodian`), then ours
   twice on the unchanged fleet (the second run may reuse the first's per-revision plans: both
   runs get the same plan file, ``--plans FILE``, when the CLI offers one; no state table, as a
   person's run from a laptop has none);
2. the small fleet anew (fresh state) with the proxy enforcing ECS's token buckets
   (:mod:`bench.throttle`): ours once;
3. the large fleet (10,000 services): Cloud Custodian, then ours once.

Ours is exactly ``sidecar-enforcer backfill --mode audit --regions us-east-1 --report r.json``, run
as a subprocess (the console script of the venv running the bench) with ``AWS_ENDPOINT_URL`` at the
proxy. Both tools' non-compliant services are compared with each other and with the fleet's plan.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from . import custodian, fleet, project
from .moto_process import MotoProcess
from .proxy import CountingProxy, Record, client_environment
from .throttle import Throttle, category_counts, ceil_div, lower_bound

REGION = fleet.REGION
MEMBER_ROLE = "sidecar-enforcer-member"  # member.yaml's role, which both tools assume
OURS_ARGS = ("backfill", "--mode", "audit", "--regions", REGION, "--report", "r.json")
OURS_TIMEOUT = 900
NONCOMPLIANT = "NONCOMPLIANT"
PAGE = 100  # ListClusters / ListServices: at most 100 a page (maxResults)
CLUSTERS_PER_DESCRIBE = 100  # DescribeClusters: at most 100 clusters a call
SERVICES_PER_DESCRIBE = 10  # DescribeServices: at most 10 services a call
# A report line that says a call was throttled: none may surface (the engine retries).
THROTTLING = re.compile(r"Throttl|Rate exceeded|TooManyRequests", re.IGNORECASE)
FAILED_STATUSES = frozenset({"FAILED", "ERROR"})


# -- the floor ----------------------------------------------------------------------------------------


def floor(plan: fleet.Plan) -> dict[str, int]:
    """The fewest ECS requests an audit of this fleet needs, by action:

    - ListClusters: ceil(clusters / 100) pages (at least one);
    - DescribeClusters: ceil(clusters / 100) (the clusters' tags: a cluster's opt-in tag counts);
    - ListServices: per cluster, ceil(services / 100) pages (at least one);
    - DescribeServices: per cluster, ceil(services / 10) (with their tags: include=TAGS);
    - DescribeTaskDefinition: one per distinct revision run by an opted-in service (a service that
      does not opt in needs no revision).

    Nothing else: no STS, no state-table read (shown apart in the requests by action).
    """
    per_cluster = plan.per_cluster()
    clusters = len(plan.clusters)
    return {
        "ListClusters": max(1, ceil_div(clusters, PAGE)),
        "DescribeClusters": ceil_div(clusters, CLUSTERS_PER_DESCRIBE),
        "ListServices": sum(max(1, ceil_div(n, PAGE)) for n in per_cluster.values()),
        "DescribeServices": sum(ceil_div(n, SERVICES_PER_DESCRIBE) for n in per_cluster.values()),
        "DescribeTaskDefinition": len(plan.revisions(plan.opted_in())),
    }


def repeat_floor(plan: fleet.Plan) -> dict[str, int]:
    """A repeat run's floor on an unchanged fleet when every revision's verdict is known: the same
    without DescribeTaskDefinition."""
    return {**floor(plan), "DescribeTaskDefinition": 0}


# -- one run of a tool ---------------------------------------------------------------------------------


@dataclass
class ToolRun:
    tool: str  # "c7n" | "ours"
    run: str  # "first" | "repeat" | "throttled"
    spec: fleet.Spec
    seconds: float
    records: list[Record]
    exit_code: int
    found: set[tuple[str, str]] | None  # non-compliant (cluster, service); None: no readable output
    error: str | None = None  # why it did not run, or what it said when it failed
    statuses: dict[str, int] = field(default_factory=dict)  # ours: services per status
    surfaced: list[str] = field(default_factory=list)  # ours: throttling or failures in the report

    @property
    def requests(self) -> int:
        """Every request that reached the proxy (throttled ones included: each is a round trip)."""
        return len(self.records)

    @property
    def throttled(self) -> int:
        return sum(1 for r in self.records if r.throttled)

    @property
    def by_action(self) -> Counter[str]:
        return Counter(str(r.call) for r in self.records)

    @property
    def ecs_served(self) -> Counter[str]:
        """ECS requests moto answered (not throttled), by action."""
        return Counter(r.call.action for r in self.records if r.call.service == "ecs" and not r.throttled)

    @property
    def moto_ms(self) -> list[float]:
        """ms moto took to answer each request it was sent (the proxy's measure)."""
        return [r.upstream_ms for r in self.records if r.upstream_ms is not None]

    @property
    def per_service_ms(self) -> float:
        return self.seconds * 1000 / self.spec.services

    @property
    def per_service_requests(self) -> float:
        return self.requests / self.spec.services


def compare(ours: set[tuple[str, str]] | None, theirs: set[tuple[str, str]] | None) -> dict[str, Any]:
    """Whether two tools found the same non-compliant services, and the first few differences."""
    if ours is None or theirs is None:
        return {"same": None, "only_ours": [], "only_theirs": []}
    return {
        "same": ours == theirs,
        "only_ours": sorted(f"{c}/{s}" for c, s in ours - theirs)[:5],
        "only_theirs": sorted(f"{c}/{s}" for c, s in theirs - ours)[:5],
        "only_ours_count": len(ours - theirs),
        "only_theirs_count": len(theirs - ours),
    }


# -- ours ------------------------------------------------------------------------------------------


def ours_available(cli: Path) -> tuple[bool, str]:
    """Whether ``cli`` has the backfill command; its --help text, or why not."""
    if not cli.exists():
        return False, f"{cli} does not exist"
    done = subprocess.run(  # noqa: S603 - the project's own console script
        [str(cli), "backfill", "--help"], capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        return False, f"`sidecar-enforcer backfill` is not available here: {last}"
    return True, done.stdout


def state_file_option(help_text: str) -> str | None:
    """A ``--state...`` option of the backfill command that takes a file (its --help names FILE or
    PATH after it), for the repeat run's known verdicts; None when it has none."""
    match = re.search(r"(--state[\w-]*|--plans)[ =]+(FILE|PATH)\b", help_text)
    return match.group(1) if match else None


def parse_report(report: Mapping[str, Any]) -> tuple[set[tuple[str, str]], dict[str, int], list[str]]:
    """The non-compliant (cluster, service), the count per status, and every service line that
    says it failed or was throttled."""
    found: set[tuple[str, str]] = set()
    statuses: Counter[str] = Counter()
    surfaced: list[str] = []
    for entry in report.get("results", []):
        status = str(entry.get("status"))
        cluster = str(entry.get("cluster", "")).rsplit("/", 1)[-1]
        service = str(entry.get("service", "")).rsplit("/", 1)[-1]
        statuses[status] += 1
        if status == NONCOMPLIANT:
            found.add((cluster, service))
        reasons = " ".join(str(r) for r in entry.get("reasons", []) or [])
        if status in FAILED_STATUSES or THROTTLING.search(reasons):
            surfaced.append(f"{cluster}/{service}: {status} {reasons}".strip())
    return found, dict(statuses), surfaced


def run_ours(
    cli: Path,
    workdir: Path,
    env: Mapping[str, str],
    extra: tuple[str, ...],
    proxy: CountingProxy,
    spec: fleet.Spec,
    run: str,
) -> ToolRun:
    """``sidecar-enforcer backfill --mode audit --regions us-east-1 --report r.json`` in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    report_file = workdir / "r.json"
    report_file.unlink(missing_ok=True)
    proxy.counts.take()
    began = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - the project's own console script, fixed arguments
        [str(cli), *OURS_ARGS, *extra],
        cwd=workdir,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=OURS_TIMEOUT,
    )
    seconds = time.perf_counter() - began
    records = proxy.counts.take()
    error = None
    if done.returncode != 0:
        error = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:]) or f"exit {done.returncode}"
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return ToolRun(
            "ours", run, spec, seconds, records, done.returncode, None, error or f"no report: {exc}"
        )
    found, statuses, surfaced = parse_report(report)
    return ToolRun("ours", run, spec, seconds, records, done.returncode, found, error, statuses, surfaced)


def run_c7n(
    custodian_bin: Path, workdir: Path, plan: fleet.Plan, account: str, proxy: CountingProxy
) -> ToolRun:
    tagged = [f"arn:aws:ecs:{REGION}:{account}:cluster/{c.name}" for c in plan.clusters if c.tag is not None]
    data = custodian.policy(project.opt_in_tag_key(), tagged, fleet.SIDECAR_NAME)
    if not custodian_bin.exists():
        why = f"{custodian_bin} not found: `make bench` installs Cloud Custodian (.venv-c7n)"
        return ToolRun("c7n", "first", plan.spec, 0.0, [], -1, None, why)
    proxy.counts.take()
    result = custodian.run(custodian_bin, workdir, data, client_environment(proxy.url, REGION), REGION)
    records = proxy.counts.take()
    error = None
    if result.exit_code != 0 or result.found is None:
        error = result.log_tail or f"exit {result.exit_code}"
    elif not records:
        error = "the proxy saw none of c7n's requests: AWS_ENDPOINT_URL was not honoured"
    return ToolRun("c7n", "first", plan.spec, result.seconds, records, result.exit_code, result.found, error)


# -- the world ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    upstream: tuple[str, int]
    account: str

    @property
    def moto_url(self) -> str:
        return f"http://{self.upstream[0]}:{self.upstream[1]}"


@contextlib.contextmanager
def moto_server(*, patched: bool = True) -> Iterator[MotoProcess]:
    """Moto's server in a process of its own (:mod:`bench.moto_process`: its own GIL, seeded
    through a pipe), patched as :mod:`bench.moto_patches` says unless ``patched`` is False."""
    with MotoProcess(patched=patched) as moto:
        yield moto


def _client(service: str, url: str) -> Any:
    make: Any = boto3.session.Session().client
    return make(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto takes any key
    )


def member_client(service: str, url: str, account: str, region: str) -> Any:
    """A client in a member account (its role assumed, as the tools do) and Region."""
    keys = _client("sts", url).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="bench-seed"
    )["Credentials"]
    make: Any = boto3.session.Session().client
    return make(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )


def prepare(moto: MotoProcess, plan: fleet.Plan) -> tuple[World, float]:
    """Moto emptied, then a network and the fleet, straight into moto (not through the proxy).
    Returns the world and the seconds the fleet's seeding took (in moto's process)."""
    url = moto.url
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 - a local http URL
    urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 - a local http URL
    account = str(_client("sts", url).get_caller_identity()["Account"])
    seconds = moto.seed(
        plan,
        account,
        project.opt_in_tag_key(),
        project.default_profile_container(),
        fleet.network(_client("ec2", url)),
    )
    warm(url, plan)
    return World(moto.address, account), seconds


def warm(url: str, plan: fleet.Plan) -> None:
    """One request of each ECS action the tools send, straight to moto (not counted), so that the
    first tool to run does not pay moto's first-request costs (its ECS app, the service model, the
    serializer's memo) for the second."""
    ecs = _client("ecs", url)
    cluster = plan.clusters[0].name
    ecs.list_clusters()
    ecs.describe_clusters(clusters=[cluster], include=["TAGS"])
    arns = ecs.list_services(cluster=cluster)["serviceArns"][:SERVICES_PER_DESCRIBE]
    if arns:
        ecs.describe_services(cluster=cluster, services=arns, include=["TAGS"])
    family = plan.families[0]
    ecs.describe_task_definition(taskDefinition=f"{family.name}:1")


def ours_environment(world: World, endpoint: str) -> dict[str, str]:
    """The CLI's environment: the user's AWS configuration pointed at the proxy."""
    env = client_environment(endpoint, REGION, drop=("AWS_",))
    # No STATE_TABLE_NAME: a person's run from a laptop keeps its plans in a file (--plans), and
    # XDG_CACHE_HOME points away from the user's own cache.
    env["XDG_CACHE_HOME"] = str(Path(tempfile.gettempdir()) / f"bench-backfill-cache-{os.getpid()}")
    env.pop("STATE_TABLE_NAME", None)
    return env


def nodelay_check(upstream: tuple[str, int], requests: int = 30) -> dict[str, float]:
    """ms a request of serial DescribeClusters through the proxy (30 ms added), with and without
    TCP_NODELAY on the proxy's sockets; and a DescribeServices of ten services (with tags) through
    the proxy with nothing added: moto's own cost (the median of the proxy's upstream_ms; moto
    answers with its handlers holding its GIL, one at a time: no client gets through N requests
    faster than N times that cost) and the client's whole round trip (its own parsing included)."""
    out = {}
    for nodelay in (True, False):
        with CountingProxy(upstream, nodelay=nodelay) as proxy:
            ecs = _client("ecs", proxy.url)
            ecs.list_clusters()  # the connection is open
            began = time.perf_counter()
            for _ in range(requests):
                ecs.describe_clusters(clusters=["bench-c000"])
            out["nodelay_ms" if nodelay else "nagle_ms"] = (time.perf_counter() - began) * 1000 / requests
    with CountingProxy(upstream, latency=0.0) as proxy:
        ecs = _client("ecs", proxy.url)
        arns = ecs.list_services(cluster="bench-c000")["serviceArns"][:10]
        ecs.describe_services(cluster="bench-c000", services=arns, include=["TAGS"])  # warm
        proxy.counts.take()
        began = time.perf_counter()
        for _ in range(requests):
            ecs.describe_services(cluster="bench-c000", services=arns, include=["TAGS"])
        out["round_trip_ms"] = (time.perf_counter() - began) * 1000 / requests
        upstream = [r.upstream_ms for r in proxy.counts.take() if r.upstream_ms is not None]
        out["moto_ms"] = statistics.median(upstream) if upstream else 0.0
    return out


# -- the whole bench ---------------------------------------------------------------------------------


@dataclass
class Figures:
    small: fleet.Spec
    large: fleet.Spec | None
    nodelay: dict[str, float]
    seeding: dict[str, float]  # fleet label -> seconds
    runs: list[ToolRun]
    ours_note: str  # how ours ran (or why it did not)
    floors: dict[str, dict[str, int]]  # "small" / "small-repeat" / "large" -> by action
    expected: dict[str, int]  # fleet key -> expected non-compliant count
    expected_sets: dict[str, set[tuple[str, str]]]
    throttle_bound: float | None = None  # seconds, the throttled run's buckets' lower bound
    throttle_counts: dict[str, int] = field(default_factory=dict)  # category -> served requests
    moto_patches: list[str] = field(default_factory=list)  # what bench.moto_patches patched in moto

    def find(self, tool: str, run: str, spec: fleet.Spec | None) -> ToolRun | None:
        return next((r for r in self.runs if r.tool == tool and r.run == run and r.spec == spec), None)


def measure(
    small: fleet.Spec = fleet.SMALL,
    large: fleet.Spec | None = fleet.LARGE,
    custodian_bin: Path | None = None,
    cli: Path | None = None,
) -> Figures:
    custodian_bin = custodian_bin or project.ROOT / ".venv-c7n" / "bin" / "custodian"
    cli = cli or project.cli_script()
    available, help_text = ours_available(cli)
    option = state_file_option(help_text) if available else None
    if available:
        note = f"plans remembered between runs: {option} FILE" if option else "no plan file option"
    else:
        note = f"NOT RUN: {help_text}"
    plans = {"small": fleet.plan(small)}
    if large is not None:
        plans["large"] = fleet.plan(large)
    figures = Figures(
        small,
        large,
        {},
        {},
        [],
        note,
        {"small": floor(plans["small"]), "small-repeat": repeat_floor(plans["small"])},
        {k: len(p.noncompliant()) for k, p in plans.items()},
        {k: p.noncompliant() for k, p in plans.items()},
    )
    if large is not None:
        figures.floors["large"] = floor(plans["large"])
    with moto_server() as moto, tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        work = Path(tmp)
        figures.moto_patches = moto.patches
        world, figures.seeding[small.label] = prepare(moto, plans["small"])
        figures.nodelay = nodelay_check(moto.address)
        with CountingProxy(moto.address) as proxy:
            figures.runs.append(
                run_c7n(custodian_bin, work / "c7n-small", plans["small"], world.account, proxy)
            )
            if available:
                env = ours_environment(world, proxy.url)
                extra = (option, str(work / "state.json")) if option else ()
                for run in ("first", "repeat"):
                    figures.runs.append(run_ours(cli, work / "ours-small", env, extra, proxy, small, run))
                # the same fleet anew, fresh state, full buckets
                world, _ = prepare(moto, plans["small"])
                (work / "state.json").unlink(missing_ok=True)
                env = ours_environment(world, proxy.url)
                proxy.throttle = Throttle()
                throttled = run_ours(cli, work / "ours-throttled", env, extra, proxy, small, "throttled")
                proxy.throttle = None
                figures.runs.append(throttled)
                figures.throttle_bound = lower_bound(throttled.ecs_served)
                figures.throttle_counts = category_counts(throttled.ecs_served)
            if large is not None:
                world, figures.seeding[large.label] = prepare(moto, plans["large"])
                figures.runs.append(
                    run_c7n(custodian_bin, work / "c7n-large", plans["large"], world.account, proxy)
                )
                if available:
                    (work / "state.json").unlink(missing_ok=True)
                    env = ours_environment(world, proxy.url)
                    extra = (option, str(work / "state.json")) if option else ()
                    figures.runs.append(run_ours(cli, work / "ours-large", env, extra, proxy, large, "first"))
    return figures
