"""``sidecar-enforcer``: plan offline, invoke the functions (router, then worker), enforce one
service, set up a local emulator, run the demo.

Exit codes: 0 done (any decision), 1 an enforcement failed, 2 unreadable input or a malformed event
(one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sidecar_enforcer import __version__
from sidecar_enforcer.adapters import aws
from sidecar_enforcer.config import Mode, Settings
from sidecar_enforcer.domain.ecs.taskdef import load_document
from sidecar_enforcer.domain.planning.plan import plan
from sidecar_enforcer.errors import AwsError, EnforcerError, InputError
from sidecar_enforcer.models.findings import Status

from .local import LOCAL_TABLE, LOCAL_TOPIC, Pipeline, UsageError, create_work_queue
from .options import (
    _account,
    _catalog,
    _command,
    _policy,
    _policy_options,
    _profile,
    _read_bytes,
    _read_json,
    _service_options,
    _settings,
    _state_table_option,
)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False, default=str))


# -- commands -------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    document = load_document(_read_bytes(args.file))
    profile = _profile(args.profile, settings)
    policy = _policy(args, settings, [profile])
    _print(plan(document.task_definition, document.tags, profile, policy).to_json())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import report

    settings = Settings.from_env()
    catalog = _catalog(settings)
    names = args.profile or sorted(catalog.profiles)
    profiles = [_profile(name, settings, catalog) for name in names]
    files = sorted(p for folder in args.paths for p in _json_files(folder))
    if not files:
        raise UsageError(f"no .json files in {', '.join(args.paths)}")
    print(report(files, profiles, _policy(args, settings, profiles, catalog), markdown=args.markdown))
    return 0


def _json_files(path: str) -> list[Path]:
    target = Path(path)
    if target.is_dir():
        return [p for p in target.glob("*.json")]
    if target.is_file():
        return [target]
    raise InputError(f"{path}: no such file or folder")


def cmd_invoke(args: argparse.Namespace) -> int:
    event = _read_json(args.event)
    pipeline = Pipeline()  # the router, then the worker on what it queued (WORK_QUEUE_URL)
    try:
        with warnings.catch_warnings():
            # Powertools warns when an invocation emitted no metric (an AWS call failed first, an
            # ignored event): expected here, and it would break the one line of the error.
            warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
            result = pipeline.run(event)
    except EnforcerError as exc:
        kind = type(exc).__name__
        print(f"{kind}: {exc}", file=sys.stderr)
        return 2 if kind == "MalformedEventError" else 1
    if result["queued"] and not result["delivered"]:
        # SQS answers a duplicate like any message and does not deliver it: the sender cannot tell.
        # Here nothing else reads the queue, so an item queued and never delivered was dropped.
        print(
            f"sidecar-enforcer invoke: the router queued {result['queued']} item(s) for event "
            f"{result['eventId']} and the queue delivered none: an item whose deduplication id the "
            "queue saw within the last 5 minutes (this event, queued before) is dropped; give the event "
            "a new id to run it again",
            file=sys.stderr,
        )
    _print(result)
    return 0


def _region(args: argparse.Namespace) -> str:
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError("no region: pass --region or set AWS_REGION")
    return str(region)


def _clients(region: str) -> aws.Clients:
    """Clients for a command that names its service's region: when the environment sets no region,
    that one also serves the calls that name none (STS, IAM, the state table)."""
    return aws.Clients(aws.session(region))


def cmd_enforce(args: argparse.Namespace) -> int:
    from sidecar_enforcer.wiring import build_enforcer

    settings = _settings(args)
    if args.dry_run:
        settings = settings.model_copy(update={"enforcement_mode": Mode.AUDIT})
    region, account = _region(args), _account(args)
    enforcer = build_enforcer(settings, _clients(region))
    finding = enforcer.enforce_service(region, args.cluster, args.service, account=account)
    _print(finding.to_message())
    return 1 if finding.status is Status.FAILED else 0


def cmd_release(args: argparse.Namespace) -> int:
    from sidecar_enforcer.wiring import build_enforcer

    settings = _settings(args)
    if not settings.state_table_name:
        raise UsageError("release needs the state table: pass --state-table or set STATE_TABLE_NAME")
    region, account = _region(args), _account(args)
    finding = build_enforcer(settings, _clients(region)).release(
        region, args.cluster, args.service, account=account
    )
    _print(finding.to_message())
    return 1 if finding.status is Status.FAILED else 0


def cmd_local_env(args: argparse.Namespace) -> int:
    from sidecar_enforcer.adapters.dynamodb import create_table

    clients = aws.Clients()
    topic = aws.call("CreateTopic", clients.client("sns").create_topic, Name=LOCAL_TOPIC)["TopicArn"]
    dynamodb = clients.client("dynamodb")
    if LOCAL_TABLE not in aws.call("ListTables", dynamodb.list_tables).get("TableNames", []):
        aws.call("CreateTable", create_table, client=dynamodb, table_name=LOCAL_TABLE)
    queue = aws.call("CreateQueue", create_work_queue, sqs=clients.client("sqs"))
    defaults = Settings()
    for name, value in {
        "STATUS_TOPIC_ARN": topic,
        "STATE_TABLE_NAME": LOCAL_TABLE,
        "WORK_QUEUE_URL": queue,
        "OPT_IN_TAG_KEY": defaults.opt_in_tag_key,
        "DEFAULT_PROFILE": defaults.default_profile,
        "ENFORCEMENT_MODE": defaults.enforcement_mode.value,
    }.items():
        print(f"export {name}={value}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from .seed import seed

    _print(seed())
    return 0


def cmd_profiles(args: argparse.Namespace) -> int:
    """The profiles, each with the guarded members it needs in allowProfileMembers and whether the
    policy allows them; a profile whose services the policy refuses is also said on stderr."""
    from sidecar_enforcer.domain.planning import profile_rules

    settings = Settings.from_env()
    catalog = _catalog(settings)
    policy = _policy(args, settings, list(catalog.profiles.values()), catalog)
    rows = [("PROFILE", "VERSION", "ARCHITECTURES", "IMAGE", "ALLOWANCE", "FROM")]
    refused: list[str] = []
    for name, profile in sorted(catalog.profiles.items()):
        arch = ",".join(profile.architectures)
        allowed = policy.allow_profile_members.get(name, [])
        needs = profile_rules.needs_allowance(profile)
        cells = [f"{m} ({'allowed' if m in allowed else 'not allowed'})" for m in needs]
        cells += [f"{m} (unclassified)" for m in profile_rules.unclassified_members(profile.container)]
        rows.append(
            (name, profile.version, arch, profile.image, ", ".join(cells) or "-", catalog.origins[name])
        )
        refused += profile_rules.profile_refusals(profile, policy)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    for reason in refused:
        print(f"REFUSED until the policy allows it: {reason}", file=sys.stderr)
    for name, error in sorted(catalog.errors.items()):
        print(f"invalid {name}: {error}", file=sys.stderr)
    return 2 if catalog.errors else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run()


DESCRIPTION = """Add tracing sidecars to tagged Amazon ECS services: plan offline, invoke the
functions, enforce one service, set up a local emulator, run the demo."""
EXIT_CODES = """exit codes:
  0  done (whatever the decision)
  1  an enforcement or an AWS call failed
  2  unreadable input, a malformed event or a usage error (one line on stderr)"""


def parser() -> argparse.ArgumentParser:
    """The command line. Help texts are plain text (no reStructuredText): --help prints them as is."""
    top = argparse.ArgumentParser(
        prog="sidecar-enforcer",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="run sidecar-enforcer COMMAND --help for its options",
    )
    _offline_commands(sub)
    _service_commands(sub)
    _other_commands(sub)
    return top


def _offline_commands(sub: Any) -> None:
    """plan and report: decisions on files, no AWS."""
    p = _command(sub, "plan", "decide offline for a task definition file; print JSON", cmd_plan)
    p.add_argument("file", help="bare, DescribeTaskDefinition output, or a register request (JSON)")
    p.add_argument("--profile", help="a profile name or a profile document (default: DEFAULT_PROFILE)")
    _policy_options(p)
    p = _command(sub, "report", "plan every file of folders for every profile; print a table", cmd_report)
    p.add_argument("paths", nargs="+", help="task definition files or folders of them")
    p.add_argument("--profile", action="append", help="only this profile (repeatable; default: all)")
    p.add_argument("--markdown", action="store_true", help="a Markdown table")
    _policy_options(p)


def _service_commands(sub: Any) -> None:
    """The commands that read or change services through AWS: invoke, enforce, release, local-env,
    seed, backfill."""
    p = _command(
        sub,
        "invoke",
        "run the router on an event, then the worker on what it queued (WORK_QUEUE_URL)",
        cmd_invoke,
    )
    p.add_argument("event", help="an EventBridge event (JSON), e.g. events/cloudtrail-updateservice.json")
    p = _command(sub, "enforce", "the handler's decision path for one service", cmd_enforce)
    _service_options(p)
    p.add_argument(
        "--dry-run", action="store_true", help="report what would change (audit mode), change nothing"
    )
    _state_table_option(p)
    p = _command(
        sub,
        "release",
        "release a quarantined service (FLAPPING, DEPLOYMENT_FAILED): enforce it again",
        cmd_release,
    )
    _service_options(p)
    _state_table_option(p)
    _command(
        sub,
        "local-env",
        "create the enforcer's own resources (topic, table, work queue) on the endpoint; print exports",
        cmd_local_env,
    )
    _command(
        sub,
        "seed",
        "on a local endpoint, create the fleet events/ names and a service per examples/taskdefs file",
        cmd_seed,
    )
    from .backfill import add_parser as add_backfill

    add_backfill(sub, _command, _policy_options, _state_table_option)


def _other_commands(sub: Any) -> None:
    """profiles, schema, backfill-status and demo."""
    p = _command(
        sub,
        "profiles",
        "list the profiles: versions, images, the allowances they need (allowProfileMembers)",
        cmd_profiles,
    )
    _policy_options(p)
    p = _command(
        sub, "schema", "print the JSON Schema of status messages (schemas/status-v1.json)", cmd_schema
    )
    p.add_argument("--digest", action="store_true", help="a backfill digest's (schemas/digest-v1.json)")
    p = _command(
        sub,
        "backfill-status",
        "how far a backfill run of the stack is (its state table)",
        cmd_backfill_status,
    )
    p.add_argument("run_id", metavar="RUN", help="the run id the backfill function answered with")
    p.add_argument("--region", help="the stack's region (default: AWS_REGION or AWS_DEFAULT_REGION)")
    _state_table_option(p)
    _command(sub, "demo", "the main job against an embedded moto server on 127.0.0.1", cmd_demo)


def cmd_schema(args: argparse.Namespace) -> int:
    from sidecar_enforcer.models.digest import digest_schema
    from sidecar_enforcer.models.findings import status_schema

    print(json.dumps(digest_schema() if args.digest else status_schema(), indent=2))
    return 0


def cmd_backfill_status(args: argparse.Namespace) -> int:
    """How far a backfill run of the stack is: its document and its services' statuses so far."""
    from sidecar_enforcer.adapters.dynamodb import StateTable
    from sidecar_enforcer.ledger import Ledger

    settings = _settings(args)
    if not settings.state_table_name:
        raise UsageError("backfill-status needs the state table: pass --state-table or set STATE_TABLE_NAME")
    region = _region(args)
    ledger = Ledger(StateTable(_clients(region).client("dynamodb"), settings.state_table_name))
    run = ledger.run(args.run_id)
    if run is None:
        raise UsageError(f"no backfill run {args.run_id} in {settings.state_table_name}")
    doc = run.to_doc()
    rows = ledger.run_rows(args.run_id).values()
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
    _print(
        {
            "runId": args.run_id,
            "mode": run.mode,
            "status": run.status.value,
            "phase": run.progress(),
            "stopped": run.stopped,
            "started": run.started,
            "ended": doc.get("ended"),  # a wave's ends while on it; when the run ended, once closed
            "done": run.done,
            "expected": run.expected,
            "percent": round(100 * run.done / run.expected, 1) if run.expected else 100.0,
            "counts": dict(sorted(counts.items())),
            "report": run.report,
        }
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with aws.default_config(aws.INTERACTIVE):  # a person waits: fail in seconds, with a hint
            code: int = args.run(args)
        sys.stdout.flush()  # a reader gone early shows here, not as "Exception ignored" at exit
    except BrokenPipeError:
        return _stdout_closed()
    except EnforcerError as exc:
        print(f"sidecar-enforcer {args.command}: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, AwsError) else 2
    return code


def _stdout_closed() -> int:
    """The reader of stdout went away (``sidecar-enforcer plan FILE | head -1``): end quietly, as
    Python's documentation recommends for SIGPIPE: point stdout at devnull so that the interpreter's
    own flush at exit finds nothing to write, and exit 1 as Python does on EPIPE."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 1


if __name__ == "__main__":
    sys.exit(main())
