"""The backfill bench: ``sidecar-enforcer backfill --mode audit`` against Cloud Custodian on the same
fleets, in the same model of AWS (the backfill's specified benchmark).

The model. Moto's server on 127.0.0.1 in a process of its own (:mod:`bench.moto_process`) holds the
fleets; the counting proxy in front of it (:mod:`bench.proxy`) is AWS as a client sees it: 30 ms of
latency on every request, and ECS's token buckets per account and Region (:mod:`bench.throttle`,
the developer guide's table): a request that finds its bucket empty is answered ThrottlingException
(HTTP 400) as ECS answers it. Moto's own CPU (about 10 ms a DescribeServices on these 2 cores) is
not what is measured: each tool first runs once un-timed (no latency, no buckets) while the proxy
records moto's answers to ECS's reads, keyed by the request's canonical form and the account and
Region that asked; the timed runs are then answered from that recording (a request it lacks still
goes to moto), and a sample of the recorded answers is checked against moto's live ones, byte for
byte, after the timed runs.

The fleets (:mod:`bench.fleet`): one account and Region at 1,000 and at 10,000 services, and an
organisation of 8 slices (4 member accounts x 2 Regions, reached through the member role) of 1,250
services each. On each: Cloud Custodian (``custodian run`` on a slice, ``c7n-org run`` on the
organisation), then ours (``sidecar-enforcer backfill --mode audit ... --report r.json``, a fresh
plan file), then ours again on the unchanged fleet (the repeat run: the plans remembered), each with
full buckets; on the 1,000-service fleet ours once more while another client takes half of the
service-read and task-definition buckets' refill (:class:`bench.throttle.Competitor`). Each run's
wall time, requests (throttled ones included) and process CPU time (the tool and its children) are
measured, and set against the floors: the requests an audit needs and the seconds ECS's buckets and
the latency allow (:func:`floor`, :func:`floor_seconds`). Both tools' non-compliant services are
compared with each other and with the fleet's plan.
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
from .proxy import LATENCY, CountingProxy, Record, client_environment
from .throttle import Competitor, Throttle, ceil_div, floor_seconds
from .timed import Timed

REGION = fleet.REGION
MEMBER_ROLE = "sidecar-enforcer-member"  # member.yaml's role, which both tools assume
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


# -- the fleets ----------------------------------------------------------------------------------------

Found = set[tuple[str, str, str, str]]  # (account, region, cluster, service) found non-compliant
MEMBERS = ("111111111111", "222222222222", "333333333333", "444444444444")
ORG_REGIONS = ("us-east-1", "eu-west-1")


@dataclass(frozen=True)
class Case:
    """A fleet: a slice's plan seeded in each place; ``org``: the places are member accounts."""

    key: str  # "1k", "10k", "org"
    plan: fleet.Plan
    places: tuple[tuple[str, str], ...] = ()  # (account, region); empty: the bench's own account
    shared: bool = False  # also a run with another client taking half the refill

    @property
    def org(self) -> bool:
        return bool(self.places)

    @property
    def services(self) -> int:
        return self.plan.spec.services * max(1, len(self.places))

    @property
    def label(self) -> str:
        if not self.org:
            return self.plan.spec.label
        accounts, regions = len({a for a, _ in self.places}), len({r for _, r in self.places})
        return (
            f"{self.services:,} services: {accounts} accounts x {regions} Regions, "
            f"slices of {self.plan.spec.label}"
        )

    def where(self, account: str) -> tuple[tuple[str, str], ...]:
        return self.places or ((account, REGION),)

    def expected(self, account: str) -> Found:
        return {(a, r, c, s) for a, r in self.where(account) for c, s in self.plan.noncompliant()}


def steps(plan: fleet.Plan, *, first: bool, assume_role: bool = False) -> int:
    """Requests that must wait for an earlier one's answer, one after the other: the pages of
    ListClusters, a cluster's pages of ListServices, a DescribeServices, then (a first run) a
    DescribeTaskDefinition; an AssumeRole before them in a member account."""
    pages = max(1, ceil_div(len(plan.clusters), PAGE))
    service_pages = max((max(1, ceil_div(n, PAGE)) for n in plan.per_cluster().values()), default=1)
    revisions = first and bool(plan.revisions(plan.opted_in()))
    return int(assume_role) + pages + service_pages + 1 + int(revisions)


@dataclass(frozen=True)
class Floor:
    requests: int  # ECS requests, every slice
    seconds: float  # the largest slice's: its slowest bucket, plus a latency per dependent step
    by_action: dict[str, int]  # one slice's


def floor_of(case: Case, *, first: bool, latency: float, share: float = 1.0) -> Floor:
    by_action = floor(case.plan) if first else repeat_floor(case.plan)
    slices = max(1, len(case.places))
    seconds = floor_seconds(
        by_action, steps(case.plan, first=first, assume_role=case.org), latency, share=share
    )
    return Floor(sum(by_action.values()) * slices, seconds, by_action)


# -- one run of a tool ---------------------------------------------------------------------------------


@dataclass
class ToolRun:
    tool: str  # "c7n" | "c7n-org" | "ours"
    run: str  # "first" | "repeat" | "shared"
    case: str  # the fleet's key
    services: int
    seconds: float
    records: list[Record]
    exit_code: int
    found: Found | None  # None: no readable output
    error: str | None = None  # why it did not run, or what it said when it failed
    statuses: dict[str, int] = field(default_factory=dict)  # ours: services per status
    surfaced: list[str] = field(default_factory=list)  # ours: throttling or failures in the report
    cpu_seconds: float = 0.0  # the tool's process and its children's, user + system
    stand_in_cpu_seconds: float = 0.0  # the stand-in AWS's meanwhile (bench.timed)
    floor: Floor | None = None

    @property
    def requests(self) -> int:
        """Every request that reached the proxy (throttled ones included: each is a round trip)."""
        return len(self.records)

    @property
    def ecs_requests(self) -> int:
        return sum(1 for r in self.records if r.call.service == "ecs")

    @property
    def throttled(self) -> int:
        return sum(1 for r in self.records if r.throttled)

    @property
    def replayed(self) -> int:
        return sum(1 for r in self.records if r.replayed)

    @property
    def by_action(self) -> Counter[str]:
        return Counter(str(r.call) for r in self.records)

    @property
    def per_service_ms(self) -> float:
        return self.seconds * 1000 / self.services

    @property
    def cpu_per_service_ms(self) -> float:
        return self.cpu_seconds * 1000 / self.services


def compare(ours: set[Any] | None, theirs: set[Any] | None) -> dict[str, Any]:
    """Whether two tools found the same non-compliant services, and the first few differences."""
    if ours is None or theirs is None:
        return {"same": None, "only_ours": [], "only_theirs": []}
    return {
        "same": ours == theirs,
        "only_ours": sorted("/".join(x) for x in ours - theirs)[:5],
        "only_theirs": sorted("/".join(x) for x in theirs - ours)[:5],
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


def parse_report(report: Mapping[str, Any]) -> tuple[Found, dict[str, int], list[str]]:
    """The non-compliant (account, region, cluster, service), the count per status, and every
    service line that says it failed or was throttled."""
    found: Found = set()
    statuses: Counter[str] = Counter()
    surfaced: list[str] = []
    for entry in report.get("results", []):
        status = str(entry.get("status"))
        cluster = str(entry.get("cluster", "")).rsplit("/", 1)[-1]
        service = str(entry.get("service", "")).rsplit("/", 1)[-1]
        statuses[status] += 1
        if status == NONCOMPLIANT:
            found.add((str(entry.get("account", "")), str(entry.get("region", "")), cluster, service))
        reasons = " ".join(str(r) for r in entry.get("reasons", []) or [])
        if status in FAILED_STATUSES or THROTTLING.search(reasons):
            surfaced.append(f"{cluster}/{service}: {status} {reasons}".strip())
    return found, dict(statuses), surfaced


def ours_args(case: Case) -> tuple[str, ...]:
    """``sidecar-enforcer backfill --mode audit --regions R --report r.json`` (and, for the
    organisation, its member accounts through the member role)."""
    if not case.org:
        return ("backfill", "--mode", "audit", "--regions", REGION, "--report", "r.json")
    accounts = sorted({a for a, _ in case.places})
    regions = sorted({r for _, r in case.places})
    return (
        "backfill",
        "--mode",
        "audit",
        "--accounts",
        ",".join(accounts),
        "--regions",
        ",".join(regions),
        "--role-name",
        MEMBER_ROLE,
        "--report",
        "r.json",
    )


def run_ours(
    cli: Path,
    workdir: Path,
    env: Mapping[str, str],
    extra: tuple[str, ...],
    proxy: CountingProxy,
    case: Case,
    run: str,
) -> ToolRun:
    """Ours on ``case`` in ``workdir``, as :func:`ours_args` says, plus ``extra``."""
    workdir.mkdir(parents=True, exist_ok=True)
    report_file = workdir / "r.json"
    report_file.unlink(missing_ok=True)
    proxy.counts.take()
    with Timed() as timed:
        done = subprocess.run(  # noqa: S603 - the project's own console script, fixed arguments
            [str(cli), *ours_args(case), *extra],
            cwd=workdir,
            env=dict(env),
            capture_output=True,
            text=True,
            check=False,
            timeout=OURS_TIMEOUT,
        )
    records = proxy.counts.take()
    error = None
    if done.returncode != 0:
        error = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:]) or f"exit {done.returncode}"
    run_of = ToolRun("ours", run, case.key, case.services, timed.seconds, records, done.returncode, None)
    run_of.cpu_seconds, run_of.stand_in_cpu_seconds, run_of.error = timed.cpu, timed.stand_in_cpu, error
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        run_of.error = error or f"no report: {exc}"
        return run_of
    run_of.found, run_of.statuses, run_of.surfaced = parse_report(report)
    return run_of


def run_c7n(custodian_bin: Path, workdir: Path, case: Case, account: str, proxy: CountingProxy) -> ToolRun:
    """``custodian run`` on a slice, ``c7n-org run`` on the organisation (its member role)."""
    tagged = [
        f"arn:aws:ecs:{r}:{a}:cluster/{c.name}"
        for a, r in case.where(account)
        for c in case.plan.clusters
        if c.tag is not None
    ]
    data = custodian.policy(project.opt_in_tag_key(), tagged, fleet.SIDECAR_NAME)
    tool = "c7n-org" if case.org else "c7n"
    binary = custodian_bin.parent / "c7n-org" if case.org else custodian_bin
    if not binary.exists():
        why = f"{binary} not found: `make bench` installs Cloud Custodian and c7n-org (.venv-c7n)"
        return ToolRun(tool, "first", case.key, case.services, 0.0, [], -1, None, why)
    proxy.counts.take()
    env = client_environment(proxy.url, REGION)
    if case.org:
        accounts = [
            (a, sorted({r for b, r in case.places if b == a})) for a in sorted({a for a, _ in case.places})
        ]
        roles = {a: f"arn:aws:iam::{a}:role/{MEMBER_ROLE}" for a, _ in accounts}
        result = custodian.run_org(binary, workdir, data, env, accounts, roles)
    else:
        result = custodian.run(binary, workdir, data, env, REGION)
    records = proxy.counts.take()
    error = None
    if result.exit_code != 0 or result.found is None:
        error = result.log_tail or f"exit {result.exit_code}"
    elif not records:
        error = "the proxy saw none of c7n's requests: AWS_ENDPOINT_URL was not honoured"
    return ToolRun(tool, "first", case.key, case.services, result.seconds, records, result.exit_code,
                   result.found, error, cpu_seconds=result.cpu_seconds,
                   stand_in_cpu_seconds=result.stand_in_cpu_seconds)  # fmt: skip


# -- the world ---------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class World:
    upstream: tuple[str, int]
    account: str


def prepare(
    moto: MotoProcess, plan: fleet.Plan, places: tuple[tuple[str, str], ...] = ()
) -> tuple[World, float]:
    """Moto emptied, then the fleet's plan in each place (the bench's own account and Region when
    ``places`` is empty), each with a network of its own, straight into moto (not through the
    proxy). Returns the world and the seconds the seeding took (in moto's process)."""
    url = moto.url
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310 - a local http URL
    urllib.request.urlopen(reset, timeout=30).close()  # noqa: S310 - a local http URL
    account = str(_client("sts", url).get_caller_identity()["Account"])
    key, sidecar = project.opt_in_tag_key(), project.default_profile_container()
    seconds = 0.0
    for where, region in places or ((account, REGION),):
        ec2 = _client("ec2", url) if where == account else member_client("ec2", url, where, region)
        seconds += moto.seed(plan, where, key, sidecar, fleet.network(ec2), region)
    return World(moto.address, account), seconds


def ours_environment(world: World, endpoint: str) -> dict[str, str]:
    """The CLI's environment: the user's AWS configuration pointed at the proxy."""
    env = client_environment(endpoint, REGION, drop=("AWS_",))
    # No STATE_TABLE_NAME: a person's run from a laptop keeps its plans in a file (--plans), and
    # XDG_CACHE_HOME points away from the user's own cache.
    env["XDG_CACHE_HOME"] = str(Path(tempfile.gettempdir()) / f"bench-backfill-cache-{os.getpid()}")
    env.pop("STATE_TABLE_NAME", None)
    # Bytecode written as an installed tool has it (Cloud Custodian's environment drops every
    # PYTHON* variable): without it each run compiles every module it imports (1.5-3 s of CPU).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def nodelay_check(upstream: tuple[str, int], requests: int = 30) -> dict[str, float]:
    """ms a request of serial DescribeClusters through the proxy (30 ms added), with and without
    TCP_NODELAY on the proxy's sockets; and a DescribeServices of ten services (with tags) through
    the proxy with nothing added, live and replayed: moto's own cost (the median of the proxy's
    upstream_ms), the client's whole round trip live, and the same replayed from the recording."""
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
        proxy.replay.recording = True
        ecs.describe_services(cluster="bench-c000", services=arns, include=["TAGS"])  # warm, recorded
        proxy.replay.recording = False
        proxy.counts.take()
        for replaying, name in ((False, "round_trip_ms"), (True, "replayed_ms")):
            proxy.replay.replaying = replaying
            began = time.perf_counter()
            for _ in range(requests):
                ecs.describe_services(cluster="bench-c000", services=arns, include=["TAGS"])
            out[name] = (time.perf_counter() - began) * 1000 / requests
        upstream_ms = [r.upstream_ms for r in proxy.counts.take() if r.upstream_ms is not None]
        out["moto_ms"] = statistics.median(upstream_ms) if upstream_ms else 0.0
    return out


# -- the whole bench ---------------------------------------------------------------------------------


@dataclass
class Figures:
    cases: list[Case]
    nodelay: dict[str, float]
    seeding: dict[str, float]  # fleet key -> seconds
    runs: list[ToolRun]
    ours_note: str  # how ours ran (or why it did not)
    expected: dict[str, Found]  # fleet key -> the plan's non-compliant services
    replay: dict[str, dict[str, Any]] = field(default_factory=dict)  # fleet key -> recorded, checked, differ
    shared_taken: dict[str, int] = field(default_factory=dict)  # the other client's tokens, by action
    moto_patches: list[str] = field(default_factory=list)  # what bench.moto_patches patched in moto
    latency: float = LATENCY

    def find(self, tool: str, run: str, case: str) -> ToolRun | None:
        return next((r for r in self.runs if r.tool == tool and r.run == run and r.case == case), None)


REPLAY_SAMPLE = 200  # recorded answers checked against moto's live ones after each fleet's runs


def cases(small: fleet.Spec, large: fleet.Spec | None, org: fleet.Spec | None) -> list[Case]:
    out = [Case("1k" if small == fleet.SMALL else "small", fleet.plan(small), shared=True)]
    if large is not None:
        out.append(Case("10k" if large == fleet.LARGE else "large", fleet.plan(large)))
    if org is not None:
        places = tuple((a, r) for a in MEMBERS for r in ORG_REGIONS)
        out.append(Case("org", fleet.plan(org), places))
    return out


def measure(
    small: fleet.Spec = fleet.SMALL,
    large: fleet.Spec | None = fleet.LARGE,
    org: fleet.Spec | None = fleet.ORG_SLICE,
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
    fleets = cases(small, large, org)
    figures = Figures(fleets, {}, {}, [], note, {})
    with moto_server() as moto, tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        work = Path(tmp)
        figures.moto_patches = moto.patches
        with CountingProxy(moto.address) as proxy:
            for case in fleets:
                world, figures.seeding[case.key] = prepare(moto, case.plan, case.places)
                figures.expected[case.key] = case.expected(world.account)
                proxy.account = world.account
                if not figures.nodelay:
                    figures.nodelay = nodelay_check(moto.address)
                _measure_case(
                    figures, case, world, proxy, work / case.key, custodian_bin, cli, available, option
                )
    return figures


def _measure_case(
    figures: Figures,
    case: Case,
    world: World,
    proxy: CountingProxy,
    work: Path,
    custodian_bin: Path,
    cli: Path,
    available: bool,
    option: str | None,
) -> None:
    env = ours_environment(world, proxy.url)
    plans = work / "plans.json"

    def extra(path: Path) -> tuple[str, ...]:
        return (option, str(path)) if option else ()

    # the warm-up: each tool once, moto's answers recorded (no latency, no buckets)
    proxy.replay.clear()
    proxy.replay.replaying, proxy.replay.recording = False, True
    proxy.latency, proxy.throttle = 0.0, None
    run_c7n(custodian_bin, work / "c7n-warm", case, world.account, proxy)
    if available:
        run_ours(cli, work / "ours-warm", env, extra(work / "warm-plans.json"), proxy, case, "warm")
    proxy.counts.take()
    # the timed runs, answered from the recording, each from full buckets
    proxy.replay.replaying, proxy.replay.recording = True, False
    proxy.latency = figures.latency
    first = floor_of(case, first=True, latency=proxy.latency)
    proxy.throttle = Throttle()
    c7n = run_c7n(custodian_bin, work / "c7n", case, world.account, proxy)
    c7n.floor = first
    figures.runs.append(c7n)
    if available:
        for run, fl in (("first", first), ("repeat", floor_of(case, first=False, latency=proxy.latency))):
            proxy.throttle = Throttle()
            ours = run_ours(cli, work / "ours", env, extra(plans), proxy, case, run)
            ours.floor = fl
            figures.runs.append(ours)
        if case.shared:
            proxy.throttle = Throttle()
            with Competitor(proxy.throttle, (world.account, REGION)) as other:
                shared = run_ours(
                    cli, work / "ours-shared", env, extra(work / "shared.json"), proxy, case, "shared"
                )
            shared.floor = floor_of(case, first=True, latency=proxy.latency, share=0.5)
            figures.runs.append(shared)
            figures.shared_taken = dict(other.taken)
    proxy.throttle = None
    checked, differ = proxy.replay.check(world.upstream, REPLAY_SAMPLE)
    figures.replay[case.key] = {"recorded": len(proxy.replay), "checked": checked, "differ": differ[:5]}
