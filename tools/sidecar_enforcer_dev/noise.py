"""The share of CloudTrail records that cannot change compliance (an UpdateService that names no task
definition and forces no new deployment), over a folder of events, and what the stack's CloudTrail
rule (template.yaml, CloudTrailEcsCalls) lets through of each, evaluated with moto's EventBridge
pattern matcher.

    python -m sidecar_enforcer_dev.noise ../shared/corpus/events   (make noise-share)

A file counts as a CloudTrail record when it is one (raw, or a fragment with eventSource and
eventName) or an EventBridge event that carries one ("AWS API Call via CloudTrail"); a raw record
is put in the envelope EventBridge gives it (source aws.<service>) before the rule's pattern is tried.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from moto.events.models import EventPattern
from sidecar_enforcer.models.events import CLOUDTRAIL, changes_compliance

RULE = "CloudTrailEcsCalls"


class CloudFormation(yaml.SafeLoader):
    """template.yaml with its intrinsic functions (!Sub, !GetAtt, ...) read as plain data."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    raise yaml.constructor.ConstructorError(
        None, None, f"!{suffix} on a {type(node).__name__}", node.start_mark
    )


CloudFormation.add_multi_constructor("!", _any_tag)


def rule_pattern(template: Path) -> dict[str, Any]:
    """The router's CloudTrail rule's pattern, as template.yaml declares it."""
    doc = yaml.load(template.read_text(encoding="utf-8"), Loader=CloudFormation)  # noqa: S506 - SafeLoader
    pattern: dict[str, Any] = doc["Resources"]["RouterFunction"]["Properties"]["Events"][RULE]["Properties"][
        "Pattern"
    ]
    return pattern


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether EventBridge would deliver ``event`` to a rule with ``pattern`` (moto's matcher)."""
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(cast(Any, event)))


def envelope(record: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as EventBridge delivers it."""
    service = str(record.get("eventSource", "")).split(".", 1)[0]
    return {"source": f"aws.{service}", "detail-type": CLOUDTRAIL, "detail": record}


@dataclass(frozen=True)
class Record:
    file: str
    event_name: str
    noise: bool  # an UpdateService that cannot change compliance
    delivered: bool  # the CloudTrail rule's pattern matches it


def records(folder: Path, pattern: dict[str, Any]) -> list[Record]:
    found = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
        if isinstance(doc, dict) and doc.get("detail-type") == CLOUDTRAIL:
            record, event = doc.get("detail") or {}, doc
        elif isinstance(doc, dict) and "eventSource" in doc and "eventName" in doc:
            record, event = doc, envelope(doc)
        else:
            continue
        name = str(record.get("eventName"))
        params = record.get("requestParameters")
        noise = name == "UpdateService" and not changes_compliance(params if isinstance(params, dict) else {})
        found.append(Record(path.name, name, noise, matches(pattern, event)))
    return found


def summary(found: list[Record]) -> str:
    noise = sum(1 for r in found if r.noise)
    updates = sum(1 for r in found if r.event_name == "UpdateService")
    share = noise / len(found) if found else 0.0
    lines = [
        f"{r.file}: {r.event_name}{' (noise)' if r.noise else ''}, delivered: {r.delivered}" for r in found
    ]
    lines.append(
        f"{noise} of {len(found)} CloudTrail records ({share:.1%}) are UpdateService calls that cannot "
        f"change compliance; {updates} UpdateService record(s) in all; "
        f"{sum(1 for r in found if r.delivered)} delivered by {RULE}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "../shared/corpus/events")
    if not folder.is_dir():
        print(f"noise-share: {folder} is not a folder (set CORPUS_EVENTS=DIR)", file=sys.stderr)
        return 2
    print(summary(records(folder, rule_pattern(Path("template.yaml")))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
