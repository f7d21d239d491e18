"""A status message read for people: what it says, how bad it is, what to do, where to look.

The one reading both chat renderings share (``domain.messages.slack_message``,
``domain.messages.chat_message``).
Pure: the input is the status as published (a JSON object, schemas/status-v1.json), read as a plain
dict so a newer minor version's fields (``remedy``, ...) are tolerated; the output holds only what
the status holds plus fixed text. Nothing is read from the environment, so nothing of it (and no
secret) can reach a notification.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from ..ecs.arns import parse_arn, partition_of
from ..status import Status
from .console import Link, cloudtrail_link, logs_link, service_link

# Severity per status: what a person looks at first.
DANGER, WARNING, INFO, GOOD = "danger", "warning", "info", "good"
SEVERITY = {
    Status.FAILED: DANGER,
    Status.DEPLOYMENT_FAILED: DANGER,
    Status.FLAPPING: DANGER,
    Status.REFUSED: WARNING,
    Status.DRIFTED: WARNING,
    Status.NONCOMPLIANT: WARNING,
    Status.QUARANTINED: WARNING,
    Status.SKIPPED: INFO,
    Status.NOT_OPTED_IN: INFO,
    Status.IGNORED: INFO,
    Status.REMEDIATED: GOOD,
    Status.VERIFIED: GOOD,
    Status.COMPLIANT: GOOD,
    Status.RELEASED: GOOD,
}
# Slack emoji shortcodes (Amazon Q Developer renders client-markdown in Slack's markdown too).
EMOJI = {
    DANGER: ":red_circle:",
    WARNING: ":large_orange_circle:",
    INFO: ":large_blue_circle:",
    GOOD: ":large_green_circle:",
}
UNKNOWN_EMOJI = ":grey_question:"

# What a person does, per status (the README's Statuses table).
NEXT_STEP = {
    Status.REMEDIATED: "Nothing: the compliant revision is deployed (VERIFIED follows when its tasks run).",
    Status.COMPLIANT: "Nothing (see the warnings, if any).",
    Status.DRIFTED: "Upgrade the sidecar to its profile, or turn on UpgradeDrifted.",
    Status.NONCOMPLIANT: "Review the changes enforce mode would make.",
    Status.REFUSED: (
        "Fix what the reasons name (the task definition, the opt-in tag, the policy or the profile); "
        "the enforcer changes nothing until then."
    ),
    Status.SKIPPED: "Add the sidecar in the pipeline that owns this service.",
    Status.NOT_OPTED_IN: "Nothing.",
    Status.IGNORED: "Nothing.",
    Status.FAILED: "Look at the reason: the item is retried, then kept in the work dead-letter queue.",
    Status.VERIFIED: "Nothing.",
    Status.DEPLOYMENT_FAILED: "Fix the cause of the failed deployment, then release the service.",
    Status.FLAPPING: "Add the sidecar to the pipeline that keeps removing it, then release the service.",
    Status.QUARANTINED: "Release the service once its cause is fixed.",
    Status.RELEASED: "Nothing: the next event enforces it again.",
}
# The triggers of statuses a person's command made (enforcer.Enforcer: ``sidecar-enforcer enforce``
# and ``release``): nothing retries them or keeps them in a queue, the person runs the command again.
COMMAND_TRIGGERS = frozenset({"manual", "release"})
COMMAND_NEXT_STEP = {
    Status.FAILED: "Look at the reason, fix its cause, then run the command again.",
}
# The release tag a quarantined status offers beside the command (domain.safety.records.release_instructions).
RELEASE_TAG = re.compile(r"tag the service ([^\s`]+=[^\s`,]+)")


@dataclass(frozen=True)
class Notice:
    status: str  # as the message has it (an unknown one is shown as it is)
    severity: str
    emoji: str
    target: str  # cluster/service, the family, or "event"
    facts: list[tuple[str, str]]  # (label, value) in display order, present values only
    revision: tuple[str, str | None] | None  # (source, new) in short form, family:revision
    task_size: tuple[str, str] | None
    reasons: list[str]
    changes: list[str]
    warnings: list[str]
    reverted_by: list[str]
    release: str | None
    next_step: str
    links: list[Link]
    remedy_steps: list[str]
    remedy_snippet: str | None  # the container definition(s) to add, as JSON
    account: str | None
    region: str | None
    cluster: str | None
    service: str | None
    family: str | None
    event_id: str | None
    related_arns: list[str] = field(default_factory=list)
    release_command: str | None = None  # ``sidecar-enforcer release ...`` for this service, as a shell line
    release_tag: str | None = None  # key=token: the tag that releases it too

    @property
    def title(self) -> str:
        return f"{self.status} {self.target}"

    @property
    def thread_id(self) -> str:
        """One thread per service (or task definition family): account/region/cluster/service."""
        parts = [self.account, self.region]
        parts += [self.cluster, self.service] if self.service else [self.family or self.target]
        return "/".join(part or "-" for part in parts)

    def summary(self) -> str:
        """One line: the status, the target and the first reason (or the next step)."""
        detail = self.reasons[0] if self.reasons else self.next_step
        return f"{self.status} {self.target}: {detail}"


def short_revision(arn: str | None) -> str | None:
    """``family:revision`` of a task definition ARN (the rest of the ARN is the status's account
    and region); any other string as it is."""
    if not arn:
        return None
    parsed = parse_arn(arn)
    if parsed is None:
        return arn
    return parsed.resource.split("/", 1)[-1]


def release_command(cluster: str, service: str, region: str | None, account: str | None) -> str:
    """The release command for one service, ready to paste: one line, each word quoted for a POSIX
    shell where it needs it, with the service's region and account (the person's shell may have
    another region set, and their credentials another account's)."""
    words = ["sidecar-enforcer", "release", "--cluster", cluster, "--service", service]
    words += ["--region", region] if region else []
    words += ["--account", account] if account else []
    return shlex.join(words)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _awslogs_group(remedy: dict[str, Any]) -> str | None:
    """The awslogs group of the remedy's container definitions: the enforcer gives the sidecar the
    app's awslogs configuration, so this is where the service's containers log."""
    for container in remedy.get("containerDefinitions") or []:
        if not isinstance(container, dict):
            continue
        logging = container.get("logConfiguration")
        if isinstance(logging, dict) and logging.get("logDriver") == "awslogs":
            group = (logging.get("options") or {}).get("awslogs-group")
            if isinstance(group, str) and group:
                return group
    return None


DIGEST_KIND = "backfill-digest"
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


def read_digest(message: dict[str, Any]) -> Notice:
    """A backfill run's digest (schemas/digest-v1.json): the counts as facts, the worst services as
    reasons, the report's place as links."""
    run = _text(message.get("runId")) or "?"
    found_totals = message.get("totals")
    totals: dict[str, Any] = found_totals if isinstance(found_totals, dict) else {}
    worst = [w for w in message.get("worst") or [] if isinstance(w, dict)]
    attention = message.get("attention") if isinstance(message.get("attention"), int) else len(worst)
    severity = (
        DANGER
        if any(k in totals for k in ("FAILED", "DEPLOYMENT_FAILED", "FLAPPING"))
        else (WARNING if attention else GOOD)
    )
    facts = [
        ("Run", run),
        ("Mode", _text(message.get("mode"))),
        ("Services", str(message.get("services", "?"))),
    ]
    facts += [(str(status), str(count)) for status, count in totals.items()]
    return Notice(
        status="BACKFILL",
        severity=severity,
        emoji=EMOJI[severity],
        target=f"run {run}: {message.get('services', '?')} services, {attention} to look at",
        facts=[(label, value) for label, value in facts if value],
        revision=None,
        task_size=None,
        reasons=_digest_reasons(message, worst, attention),
        changes=[],
        warnings=[],
        reverted_by=[],
        release=None,
        next_step="Read the report: it lists every service with its reasons." if attention else "Nothing.",
        links=_report_links(message),
        remedy_steps=[],
        remedy_snippet=None,
        account=None,
        region=None,
        cluster=None,
        service=None,
        family=f"backfill {run}",
        event_id=None,
    )


def _digest_reasons(message: dict[str, Any], worst: list[dict[str, Any]], attention: Any) -> list[str]:
    """Why the run was stopped, if it was; the worst services, each with its first reason; and how
    many more the report lists."""
    reasons = []
    for w in worst:
        where = "/".join(p for p in (_text(w.get("cluster")), _text(w.get("service"))) if p) or "-"
        first = _texts(w.get("reasons"))[:1]
        reasons.append(
            f"{w.get('status')} {w.get('account')}/{w.get('region')} {where}"
            + (f": {first[0]}" if first else "")
        )
    if isinstance(attention, int) and attention > len(worst):
        reasons.append(f"...and {attention - len(worst)} more in the report")
    if _text(message.get("stopped")):
        reasons.insert(0, f"stopped: {message['stopped']}")
    return reasons


def _report_links(message: dict[str, Any]) -> list[Link]:
    """A console link to each of the run's report files kept in S3."""
    links = []
    found_report = message.get("report")
    report: dict[str, Any] = found_report if isinstance(found_report, dict) else {}
    for kind, where in sorted(report.items()):
        found = S3_URI.match(str(where))
        if found:
            bucket, key = found.groups()
            links.append(
                Link(f"Report ({kind})", f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}")
            )
    return links


def read(message: dict[str, Any]) -> Notice:
    """A status message (a dict with at least ``status``) read for people; a backfill digest too."""
    if message.get("kind") == DIGEST_KIND:
        return read_digest(message)
    status = str(message.get("status") or "UNKNOWN")
    known = Status(status) if status in Status.__members__ else None
    severity = SEVERITY.get(known, WARNING) if known else WARNING
    account, region = _text(message.get("account")), _text(message.get("region"))
    cluster, service = _text(message.get("cluster")), _text(message.get("service"))
    family = _text(message.get("family"))
    target = f"{cluster}/{service}" if cluster and service else service or family or "event"

    old_size, new_size = _text(message.get("oldTaskSize")), _text(message.get("newTaskSize"))

    release = _text(message.get("release"))
    found = message.get("remedy")
    remedy: dict[str, Any] = found if isinstance(found, dict) else {}
    containers = [c for c in remedy.get("containerDefinitions") or [] if isinstance(c, dict)]
    snippet = json.dumps(containers, indent=2, sort_keys=True, ensure_ascii=False) if containers else None

    facts = _facts(message, account, region, cluster, service, family)
    return Notice(
        status=status,
        severity=severity,
        emoji=EMOJI[severity] if known else UNKNOWN_EMOJI,
        target=target,
        facts=[(label, value) for label, value in facts if value],
        revision=_revision(message),
        task_size=(old_size or "?", new_size or "?") if old_size or new_size else None,
        reasons=_texts(message.get("reasons")),
        changes=_texts(message.get("changes")),
        warnings=_texts(message.get("warnings")),
        reverted_by=_texts(message.get("revertedBy")),
        release=release,
        next_step=_next_step(known, _text(message.get("trigger"))),
        links=_links(message, remedy, region, cluster, service, family),
        remedy_steps=_texts(remedy.get("steps")),
        remedy_snippet=snippet,
        account=account,
        region=region,
        cluster=cluster,
        service=service,
        family=family,
        event_id=_text(message.get("eventId")),
        related_arns=_related_arns(message, account, region, cluster, service),
        release_command=release_command(cluster, service, region, account)
        if release and cluster and service
        else None,
        release_tag=tag.group(1) if release and (tag := RELEASE_TAG.search(release)) else None,
    )


def _facts(
    message: dict[str, Any],
    account: str | None,
    region: str | None,
    cluster: str | None,
    service: str | None,
    family: str | None,
) -> list[tuple[str, str | None]]:
    """The status's facts by label, in the order a person reads them; empty ones left for the caller."""
    profile = _text(message.get("profile"))
    version = _text(message.get("profileVersion"))
    return [
        ("Service", service),
        ("Cluster", cluster),
        ("Task definition family", family if not service else None),
        ("Account", account),
        ("Region", region),
        ("Profile", f"{profile} {version}" if profile and version else profile),
        ("Mode", _text(message.get("mode"))),
        ("Trigger", _text(message.get("trigger"))),
        ("Deployment", _text(message.get("deploymentId"))),
    ]


def _links(
    message: dict[str, Any],
    remedy: dict[str, Any],
    region: str | None,
    cluster: str | None,
    service: str | None,
    family: str | None,
) -> list[Link]:
    """The console's pages for this status: the service, its logs, the CloudTrail record."""
    return [
        link
        for link in (
            service_link(region, cluster, service),
            logs_link(region, cluster, service, _awslogs_group(remedy), family),
            cloudtrail_link(
                region,
                _text(message.get("cloudTrailEventId")),
                (service or family) if _is_api_call(message) else None,
            ),
        )
        if link is not None
    ]


def _revision(message: dict[str, Any]) -> tuple[str, str | None] | None:
    """The source and new revisions in short form (family:revision), when the status names one."""
    source, new = message.get("sourceTaskDefinitionArn"), message.get("newTaskDefinitionArn")
    if _text(source) or _text(new):
        return (short_revision(_text(source)) or "?", short_revision(_text(new)))
    return None


def _next_step(known: Status | None, trigger: str | None) -> str:
    if known is None:
        return "Read the status message."
    if trigger in COMMAND_TRIGGERS and known in COMMAND_NEXT_STEP:
        return COMMAND_NEXT_STEP[known]
    return NEXT_STEP.get(known, "Read the status message.")


# The CloudTrail calls the enforcer reacts to (models.events): a status triggered by one of them
# has a CloudTrail record to look at.
API_CALLS = frozenset({"CreateService", "UpdateService", "TagResource", "RegisterTaskDefinition"})


def _is_api_call(message: dict[str, Any]) -> bool:
    return bool(message.get("cloudTrailEventId")) or message.get("trigger") in API_CALLS


def _related_arns(
    message: dict[str, Any], account: str | None, region: str | None, cluster: str | None, service: str | None
) -> list[str]:
    arns: list[str] = []
    partition = partition_of(region) if region else None
    if partition and account and cluster and service:
        arns.append(f"arn:{partition}:ecs:{region}:{account}:service/{cluster}/{service}")
    for key in ("sourceTaskDefinitionArn", "newTaskDefinitionArn"):
        value = _text(message.get(key))
        if value and parse_arn(value) and value not in arns:
            arns.append(value)
    return arns
