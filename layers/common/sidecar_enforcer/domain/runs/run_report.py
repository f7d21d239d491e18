"""A backfill run's report: counts per status, per account and region, the services a person must
look at with their reasons, the waves, and the AWS calls made per service — as a JSON document, and
rendered as CSV, Markdown or one self-contained HTML page (an inline SVG chart per account and
region: readable offline, nothing fetched).

Rows are status messages (``Finding.to_message()``): names, ARNs and reasons only, never environment
values. Pure: the caller writes the text where it belongs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .report_html import to_html
from .report_rows import ATTENTION, ORDER, row_status
from .report_text import to_csv, to_markdown

REPORT_VERSION = "1.0"


def build(
    *,
    run_id: str,
    mode: str,
    started: str,
    ended: str,
    seconds: float,
    rows: Sequence[Mapping[str, Any]],
    calls: Mapping[str, int],
    waves: Sequence[Mapping[str, Any]] = (),
    stopped: str | None = None,
    scope: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document (JSON-ready). ``rows``: one status message per service; ``calls``: AWS
    requests by ``service:Action``."""
    totals = Counter(row_status(r).value for r in rows)
    where: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        where[f"{row.get('account', '?')}/{row.get('region', '?')}"][row_status(row).value] += 1
    attention = sorted(
        (r for r in rows if row_status(r) in ATTENTION),
        key=lambda r: (ATTENTION.index(row_status(r)), str(r.get("cluster")), str(r.get("service"))),
    )
    total_calls = sum(calls.values())
    return {
        "reportVersion": REPORT_VERSION,
        "runId": run_id,
        "mode": mode,
        "scope": dict(scope or {}),
        "started": started,
        "ended": ended,
        "seconds": round(seconds, 3),
        "services": len(rows),
        "totals": _ordered(totals),
        "byAccountRegion": {key: _ordered(counts) for key, counts in sorted(where.items())},
        "stopped": stopped,
        "waves": list(waves),
        "calls": dict(sorted(calls.items())),
        "callsTotal": total_calls,
        "callsPerService": round(total_calls / len(rows), 3) if rows else 0.0,
        "attention": [_brief(r) for r in attention],
        "results": [dict(r) for r in rows],
    }


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    return {s.value: counts[s.value] for s in ORDER if counts.get(s.value)}


def _brief(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("account", "region", "cluster", "service", "status", "profile", "reasons", "release")
    return {k: row[k] for k in keys if row.get(k) is not None}


def worst(report: Mapping[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """The first ``limit`` services a person must look at, worst first (for a digest)."""
    return list(report["attention"][:limit])


# -- renderings --------------------------------------------------------------------------------------


def render(report: Mapping[str, Any], kind: str) -> str:
    """The report as ``json``, ``csv``, ``md`` (Markdown) or ``html``."""
    renderers = {"json": to_json, "csv": to_csv, "md": to_markdown, "html": to_html}
    if kind not in renderers:
        raise ValueError(f"report: no {kind!r} format; one of {', '.join(sorted(renderers))}")
    return renderers[kind](report)


def kind_of(path: str) -> str:
    """The format a report file's extension asks for."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    kinds = {"json": "json", "csv": "csv", "md": "md", "markdown": "md", "html": "html", "htm": "html"}
    if suffix not in kinds:
        raise ValueError(f"report {path}: the extension must be .json, .csv, .md or .html")
    return kinds[suffix]


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"
