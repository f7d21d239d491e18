"""``sidecar-enforcer backfill``: audit or remediate a whole fleet from a laptop, with the user's AWS
configuration, running the enforcer's own engine (usecases.backfill) in-process.

A progress bar on a terminal (stderr), plain lines otherwise; a report as JSON, CSV, Markdown or
one self-contained HTML page, chosen by the file's extension. Plans are remembered between runs in
a local file (``--plans``; revisions are immutable), so a second audit of an unchanged fleet
describes no task definition.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sidecar_enforcer.config import Mode, Settings
from sidecar_enforcer.domain.runs import run_report
from sidecar_enforcer.domain.runs.waves import WavePolicy
from sidecar_enforcer.usecases.backfill import DEFAULT_WORKERS, RunResult, RunSpec

from .local import UsageError
from .options import _policy, _settings
from .plans_file import DEFAULT_PLANS, FileMemo, default_plans_path
from .progress_view import ProgressView


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


MAX_WORKERS = 64  # requests in flight per account and region: far past ECS's burst, no faster
MAX_PROCESSES = 64  # survey processes: one per place of a large organisation is already plenty


# Survey processes per core. A place's survey mostly waits on its buckets, but its bursts (the
# first pages, the first revisions) come at once in every place; threads of one interpreter take
# turns on its lock, processes are scheduled by the kernel. Measured on 2 cores, an organisation of
# 8 places (bench.backfill's, `make bench`): 8 processes of one place ended about 1 s sooner than 2
# of four (6.0-6.3 s against 6.7-7.6 s), for more CPU in all (8.1-8.5 s against 6.1-7.6 s).
PROCESSES_PER_CORE = 4


def cores() -> int:
    """The cores this process may run on."""
    counted = getattr(os, "process_cpu_count", None)  # Python 3.13
    if counted is not None:
        return int(counted() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_processes() -> int:
    """Survey processes when ``--processes`` is not given: a few per core, never more than the
    places (usecases.backfill)."""
    return min(MAX_PROCESSES, PROCESSES_PER_CORE * cores())


def _check_options(args: argparse.Namespace, regions: list[str]) -> None:
    """Every option a run could only fail on later (or loop on: a place given twice is surveyed
    twice), refused now with one line."""
    from sidecar_enforcer.domain.ecs.arns import ACCOUNT_ID, REGION
    from sidecar_enforcer.domain.ecs.ecs_rules import NAME

    lists = (
        ("--accounts", _csv(args.accounts), ACCOUNT_ID, "a 12-digit account id"),
        ("--regions", regions, REGION, "a region"),
        ("--clusters", _csv(args.clusters), NAME, "a cluster name"),  # a name, or an ARN's last part
    )
    for flag, values, pattern, what in lists:
        seen: set[str] = set()
        for value in values:
            name = value.rsplit("/", 1)[-1] if flag == "--clusters" else value
            if not pattern.fullmatch(name):
                raise UsageError(f"{flag}: {value!r} is not {what}")
            if name in seen:
                raise UsageError(f"{flag}: {value!r} is given twice")
            seen.add(name)
    if not 1 <= args.workers <= MAX_WORKERS:
        bound = "at least 1" if args.workers < 1 else f"at most {MAX_WORKERS}"
        raise UsageError(f"--workers: {args.workers}: {bound}")
    if args.processes is not None and not 1 <= args.processes <= MAX_PROCESSES:
        bound = "at least 1" if args.processes < 1 else f"at most {MAX_PROCESSES}"
        raise UsageError(f"--processes: {args.processes}: {bound}")
    for flag, seconds in (("--poll", args.poll), ("--verify-timeout", args.verify_timeout)):
        if not (math.isfinite(seconds) and seconds > 0):
            raise UsageError(f"{flag}: {seconds}: a number of seconds more than 0")
    for flag, number in (("--wave-growth", args.wave_growth), ("--failure-share", args.failure_share)):
        if not math.isfinite(number):
            raise UsageError(f"{flag}: {number}: a finite number")


def _check_report_path(path: str) -> None:
    """The report's folder exists and takes a file: found out after the run, the report is lost."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"--report: {folder}: no such folder")
    if target.is_dir():
        raise UsageError(f"--report: {path}: a folder, not a file")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--report: {path}: not writable")


def add_parser(sub: Any, command: Any, policy_options: Any, state_table_option: Any) -> None:
    p = command(
        sub,
        "backfill",
        "audit or remediate every service of accounts, regions and clusters; write a report",
        cmd_backfill,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--accounts", metavar="A,B", help="account ids (default: the caller's own)")
    where.add_argument(
        "--organization", action="store_true", help="every ACTIVE account of the AWS Organization"
    )
    p.add_argument("--regions", metavar="R,..", help="regions (default: AWS_REGION or AWS_DEFAULT_REGION)")
    p.add_argument("--clusters", metavar="C,..", help="only these clusters (names or ARNs)")
    p.add_argument("--role-name", metavar="NAME", help="the member role in other accounts (MEMBER_ROLE_NAME)")
    p.add_argument("--mode", choices=("audit", "enforce"), default="audit", help="audit changes nothing")
    p.add_argument("--profile", help="only the services that ask for this profile (a rollout)")
    p.add_argument("--report", metavar="FILE", help="write the report: .json, .csv, .md or .html")
    p.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"concurrent service reads per account and region (default {DEFAULT_WORKERS})",
    )
    p.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help=f"account-regions surveyed in up to N processes (default: {PROCESSES_PER_CORE} per core)",
    )
    p.add_argument(
        "--plans",
        metavar="FILE",
        help=f"remembered plans by revision (default: $XDG_CACHE_HOME/{DEFAULT_PLANS})",
    )
    p.add_argument("--no-plans", action="store_true", help="remember no plans: describe every revision")
    waves = p.add_argument_group("waves (enforce mode)")
    waves.add_argument("--first-wave", type=int, default=WavePolicy.first, help="services in the first wave")
    waves.add_argument("--wave-growth", type=float, default=WavePolicy.growth, help="each wave this x larger")
    waves.add_argument("--largest-wave", type=int, default=WavePolicy.largest, help="the largest wave")
    waves.add_argument(
        "--per-cluster", type=int, default=WavePolicy.per_cluster, help="deployments in flight per cluster"
    )
    waves.add_argument(
        "--failure-share",
        type=float,
        default=WavePolicy.failure_share,
        help="stop the run when more than this share of a wave fails (0 to 1)",
    )
    waves.add_argument(
        "--verify-timeout", type=float, default=WavePolicy.verify_seconds, help="seconds a wave waits"
    )
    waves.add_argument("--poll", type=float, default=15.0, help="seconds between checks of a wave")
    policy_options(p)
    state_table_option(p)


def cmd_backfill(args: argparse.Namespace) -> int:
    from sidecar_enforcer.adapters import aws
    from sidecar_enforcer.adapters.identity import caller_identity
    from sidecar_enforcer.fleet_wiring import CallCounter, build_backfill

    settings, regions, waves, kind = _checked(args)
    session = aws.session(regions[0])
    # Who the caller is, asked first with a person's timeouts and retries (aws.INTERACTIVE): an
    # endpoint that does not answer, or credentials that are missing, end the command in seconds
    # with one line, before a fleet run's patient retries begin. GetCallerIdentity needs no IAM
    # permission; it also names the caller's own account in the report, and the member accounts'
    # role ARNs (its partition) without a second call.
    me = caller_identity(aws.Clients(session, aws.INTERACTIVE).client("sts"))
    clients = aws.Clients(session, aws.FLEET)
    clients.client("ecs", regions[0])  # ECS's model read once, before any survey process forks
    counter = CallCounter()
    accounts = _accounts(args, clients, counter) or [aws.HOME]  # HOME: learned from ECS's ARNs
    memo = _memo(args, clients, regions)
    run_id = f"bf-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    with aws.default_config(aws.FLEET):  # a fleet run waits out throttling (adaptive retries)
        backfill = build_backfill(
            settings,
            clients,
            run_id=run_id,
            memo=memo,
            counter=counter,
            workers=args.workers,
            on_progress=ProgressView(sys.stderr),
            caller=me,
            processes=args.processes or default_processes(),
            handovers=(memo,),
        )
        spec = RunSpec(
            mode=Mode(args.mode),
            places=tuple((a, r) for a in accounts for r in regions),
            clusters=tuple(_csv(args.clusters)),
            profile=args.profile,
            waves=waves,
            poll_seconds=args.poll,
            run_id=run_id,
        )
        started, clock = datetime.now(UTC), time.monotonic()
        result = backfill.run(spec)
    # Once the run changed something, nothing after it may lose its report or its digest: each of
    # the plans file, the report and the digest is tried, and what failed is said in one line each.
    problems = [f"warning: {w}" for w in [memo.save()] if w]
    seconds = time.monotonic() - clock
    report = _report(
        args, run_id, result, counter, memo, (started, seconds), regions, [a or me.account for a in accounts]
    )
    return _deliver(args, settings, clients, report, kind, problems, stopped=bool(result.stopped))


def _report(
    args: argparse.Namespace,
    run_id: str,
    result: RunResult,
    counter: Any,
    memo: FileMemo,
    timed: tuple[datetime, float],
    regions: list[str],
    accounts: list[str],
) -> dict[str, Any]:
    """The run's report (domain.runs.run_report): its rows, waves, requests and scope."""
    started, seconds = timed
    report = run_report.build(
        run_id=run_id,
        mode=args.mode,
        started=started.isoformat(timespec="seconds"),
        ended=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=seconds,
        rows=result.rows(),
        calls=dict(counter.counts),
        waves=result.waves,
        stopped=result.stopped,
        scope={
            "accounts": sorted({f.account for f in result.findings if f.account}) or accounts,
            "regions": regions,
            "clusters": _csv(args.clusters),
            "profile": args.profile,
        },
    )
    report["plansRemembered"] = memo.hits
    return report


def _checked(args: argparse.Namespace) -> tuple[Settings, list[str], WavePolicy, str | None]:
    """The run's settings, regions, wave policy and report kind, every option checked (UsageError:
    exit 2, one line) before anything runs."""
    settings: Settings = _settings(args)
    policy = _policy(args, settings, [])
    settings = settings.model_copy(update={"enforcement_mode": Mode(args.mode), "policy": policy})
    regions = (
        _csv(args.regions)
        or [r for r in (os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION")) if r][:1]
    )
    if not regions:
        raise UsageError("no region: pass --regions or set AWS_REGION")
    _check_options(args, regions)
    try:
        waves = WavePolicy(
            first=args.first_wave,
            growth=args.wave_growth,
            largest=args.largest_wave,
            per_cluster=args.per_cluster,
            failure_share=args.failure_share,
            verify_seconds=args.verify_timeout,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    kind = None
    if args.report:
        try:
            kind = run_report.kind_of(args.report)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        _check_report_path(args.report)
    if args.profile:
        from .options import _profile

        try:
            _profile(args.profile, settings)
        except UsageError as exc:
            raise UsageError(f"--profile: {exc}") from None
    return settings, regions, waves, kind


def _accounts(args: argparse.Namespace, clients: Any, counter: Any) -> list[str]:
    """The accounts asked for: --accounts', every ACTIVE one of the organisation, or none (the
    caller's own)."""
    if args.organization:
        from sidecar_enforcer.adapters.organizations import Organization

        return sorted(Organization(counter.watch(clients.client("organizations"))).active_accounts())
    return _csv(args.accounts)


def _memo(args: argparse.Namespace, clients: Any, regions: list[str]) -> FileMemo:
    memo = FileMemo(
        None if args.no_plans else Path(args.plans) if args.plans else default_plans_path(),
        lambda region: str(clients.client("ecs", region or regions[0]).meta.endpoint_url),
    )
    for warning in memo.warnings:
        print(f"sidecar-enforcer backfill: warning: {warning}", file=sys.stderr)
    return memo


def _deliver(
    args: argparse.Namespace,
    settings: Settings,
    clients: Any,
    report: dict[str, Any],
    kind: str | None,
    problems: list[str],
    *,
    stopped: bool,
) -> int:
    """The report written, the digest published, the summary printed; the exit code: 1 when a
    service failed, the run stopped, or the report or digest was lost."""
    written = False
    if args.report and kind is not None:
        try:
            Path(args.report).write_text(run_report.render(report, kind), encoding="utf-8")
            written = True
        except OSError as exc:
            problems.append(f"report not written to {args.report}: {exc.strerror or exc}")
    if settings.status_topic_arn:  # one digest for the run, never a status per service
        from sidecar_enforcer.adapters.sns import StatusPublisher
        from sidecar_enforcer.errors import AwsError
        from sidecar_enforcer.models.digest import Digest

        topic = settings.status_topic_arn
        where = {"file": str(Path(args.report).resolve())} if written else {}
        try:
            sns = clients.client("sns", topic.split(":")[3])
            StatusPublisher(sns, topic).publish(Digest.of(report, where))
        except AwsError as exc:
            problems.append(f"digest not published: {exc}")
    print(_summary(report, args.report if written else None))
    for problem in problems:
        print(f"sidecar-enforcer backfill: {problem}", file=sys.stderr)
    failed = report["totals"].get("FAILED", 0) + report["totals"].get("DEPLOYMENT_FAILED", 0)
    lost = any(not p.startswith("warning: ") for p in problems)
    return 1 if failed or stopped or lost else 0


def _summary(report: dict[str, Any], path: str | None) -> str:
    totals = ", ".join(f"{s} {n}" for s, n in report["totals"].items()) or "no services"
    lines = [
        f"backfill {report['runId']} ({report['mode']}): {report['services']} services in "
        f"{report['seconds']} s: {totals}",
        f"AWS requests: {report['callsTotal']} ({report['callsPerService']} per service); "
        f"plans remembered from earlier runs: {report['plansRemembered']}",
    ]
    if report.get("stopped"):
        lines.append(f"STOPPED: {report['stopped']}")
    if path:
        lines.append(f"report: {path}")
    return "\n".join(lines)
