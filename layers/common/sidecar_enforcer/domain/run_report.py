"""A backfill run's report: counts per status, per account and region, the services a person must
look at with their reasons, the waves, and the AWS calls made per service — as a JSON document, and
rendered as CSV, Markdown or one self-contained HTML page (an inline SVG chart per account and
region: readable offline, nothing fetched).

Rows are status messages (``Finding.to_message()``): names, ARNs and reasons only, never environment
values. Pure: the caller writes the text where it belongs.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .status import Status

REPORT_VERSION = "1.0"

# What a person should look at, worst first (the order of the "attention" list and of the chart).
ATTENTION = (
    Status.FAILED,
    Status.DEPLOYMENT_FAILED,
    Status.FLAPPING,
    Status.QUARANTINED,
    Status.REFUSED,
    Status.NONCOMPLIANT,
    Status.DRIFTED,
    Status.SKIPPED,
)
ORDER = (
    *ATTENTION,
    Status.REMEDIATED,
    Status.VERIFIED,
    Status.RELEASED,
    Status.COMPLIANT,
    Status.NOT_OPTED_IN,
    Status.IGNORED,
)
COLOURS = {
    Status.FAILED: "#b00020",
    Status.DEPLOYMENT_FAILED: "#d32f2f",
    Status.FLAPPING: "#e65100",
    Status.QUARANTINED: "#ef6c00",
    Status.REFUSED: "#8e24aa",
    Status.NONCOMPLIANT: "#f9a825",
    Status.DRIFTED: "#fbc02d",
    Status.SKIPPED: "#9e9e9e",
    Status.REMEDIATED: "#1e88e5",
    Status.VERIFIED: "#2e7d32",
    Status.RELEASED: "#00897b",
    Status.COMPLIANT: "#43a047",
    Status.NOT_OPTED_IN: "#cfd8dc",
    Status.IGNORED: "#eeeeee",
}
CSV_COLUMNS = (
    "account",
    "region",
    "cluster",
    "service",
    "status",
    "profile",
    "profileVersion",
    "sourceTaskDefinitionArn",
    "newTaskDefinitionArn",
    "deploymentId",
    "wave",
    "reasons",
)


def _status(row: Mapping[str, Any]) -> Status:
    return Status(row["status"])


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
    totals = Counter(_status(r).value for r in rows)
    where: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        where[f"{row.get('account', '?')}/{row.get('region', '?')}"][_status(row).value] += 1
    attention = sorted(
        (r for r in rows if _status(r) in ATTENTION),
        key=lambda r: (ATTENTION.index(_status(r)), str(r.get("cluster")), str(r.get("service"))),
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


def to_csv(report: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["results"]:
        values = [row.get(c) for c in CSV_COLUMNS]
        values[-1] = "; ".join(row.get("reasons") or [])
        writer.writerow(["" if v is None else v for v in values])
    return out.getvalue()


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Mapping[str, Any]) -> str:
    lines = [
        f"# sidecar-enforcer backfill {report['runId']} ({report['mode']})",
        "",
        f"{report['services']} services in {report['seconds']} s, {report['callsTotal']} AWS requests "
        f"({report['callsPerService']} per service). {report['started']} to {report['ended']}.",
    ]
    if report.get("stopped"):
        lines += ["", f"**Stopped:** {_md(report['stopped'])}"]
    lines += ["", "| status | services |", "|---|---:|"]
    lines += [f"| {status} | {n} |" for status, n in report["totals"].items()]
    lines += ["", "## By account and region", "", "| account/region | " + " | ".join(report["totals"]) + " |"]
    lines.append("|---|" + "---:|" * len(report["totals"]))
    for key, counts in report["byAccountRegion"].items():
        lines.append(f"| {key} | " + " | ".join(str(counts.get(s, 0)) for s in report["totals"]) + " |")
    if report.get("waves"):
        lines += ["", "## Waves", "", "| wave | services | succeeded | failed | other | breaker |"]
        lines.append("|---:|---:|---:|---:|---:|---|")
        for wave in report["waves"]:
            tripped = "tripped" if wave.get("tripped") else ""
            lines.append(
                f"| {wave['number']} | {wave['size']} | {wave['succeeded']} | {wave['failed']} | "
                f"{wave['neutral']} | {tripped} |"
            )
        failed = [(w["number"], m) for w in report["waves"] for m in w.get("failedMembers") or []]
        if failed:
            lines += ["", "### Failed in a wave", ""]
            lines.append("| wave | account/region | cluster | service | status | why |")
            lines.append("|---:|---|---|---|---|---|")
            lines += [
                f"| {number} | {m.get('account')}/{m.get('region')} | {_md(m.get('cluster'))} | "
                f"{_md(m.get('service'))} | {m['status']} | {_md(m.get('reason'))} |"
                for number, m in failed
            ]
    if report["attention"]:
        lines += ["", "## Needs attention", "", "| status | account/region | cluster | service | reasons |"]
        lines.append("|---|---|---|---|---|")
        for row in report["attention"]:
            reasons = "; ".join(row.get("reasons") or [])
            lines.append(
                f"| {row['status']} | {row.get('account')}/{row.get('region')} | {_md(row.get('cluster'))} "
                f"| {_md(row.get('service'))} | {_md(reasons)} |"
            )
    lines += ["", "## AWS requests", "", "| request | count |", "|---|---:|"]
    lines += [f"| {call} | {n} |" for call, n in report["calls"].items()]
    return "\n".join(lines) + "\n"


def _chart(counts: Mapping[str, int], width: int = 560, height: int = 22) -> str:
    """One stacked horizontal bar, as inline SVG, with a title per segment (hover)."""
    total = sum(counts.values()) or 1
    x, parts = 0.0, []
    for status in ORDER:
        n = counts.get(status.value, 0)
        if not n:
            continue
        w = width * n / total
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{COLOURS[status]}">'
            f"<title>{status.value}: {n}</title></rect>"
        )
        x += w
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="services by status">{"".join(parts)}</svg>'
    )


def _cells(values: Iterable[Any]) -> str:
    return "".join(f"<td>{html.escape(str(v))}</td>" for v in values)


def to_html(report: Mapping[str, Any]) -> str:
    e = html.escape
    legend = "".join(
        f'<span class="key"><i style="background:{COLOURS[Status(s)]}"></i>{e(s)} {n}</span>'
        for s, n in report["totals"].items()
    )
    regions = "".join(
        f"<tr><th>{e(key)}</th><td>{_chart(counts)}</td>"
        f"<td>{e(', '.join(f'{s} {n}' for s, n in counts.items()))}</td></tr>"
        for key, counts in report["byAccountRegion"].items()
    )
    attention = "".join(
        "<tr>"
        + _cells(
            (
                row["status"],
                f"{row.get('account')}/{row.get('region')}",
                row.get("cluster"),
                row.get("service"),
                "; ".join(row.get("reasons") or []),
            )
        )
        + "</tr>"
        for row in report["attention"]
    )
    waves = "".join(
        "<tr>"
        + _cells(
            (
                w["number"],
                w["size"],
                w["succeeded"],
                w["failed"],
                w["neutral"],
                "tripped" if w["tripped"] else "",
                "; ".join(
                    f"{m.get('cluster')}/{m.get('service')} {m['status']}: {m.get('reason')}"
                    for m in w.get("failedMembers") or []
                ),
            )
        )
        + "</tr>"
        for w in report.get("waves") or []
    )
    calls = "".join(f"<tr>{_cells((call, n))}</tr>" for call, n in report["calls"].items())
    stopped = f'<p class="stopped">Stopped: {e(report["stopped"])}</p>' if report.get("stopped") else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>sidecar-enforcer backfill {e(report["runId"])}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}} th{{background:#f5f5f5}}
.key{{margin-right:1em;white-space:nowrap}}
.key i{{display:inline-block;width:10px;height:10px;margin-right:4px}}
.stopped{{color:#b00020;font-weight:bold}}
</style></head><body>
<h1>Backfill {e(report["runId"])} <small>({e(report["mode"])})</small></h1>
<p>{report["services"]} services in {report["seconds"]} s; {report["callsTotal"]} AWS requests
({report["callsPerService"]} per service); {e(report["started"])} to {e(report["ended"])}.</p>
{stopped}
<p>{_chart(report["totals"])}</p><p>{legend}</p>
<h2>By account and region</h2><table>{regions}</table>
<h2>Waves</h2><table><tr><th>wave</th><th>services</th><th>succeeded</th><th>failed</th><th>other</th>
<th>breaker</th><th>failed members</th></tr>{waves}</table>
<h2>Needs attention ({len(report["attention"])})</h2><table><tr><th>status</th><th>account/region</th>
<th>cluster</th><th>service</th><th>reasons</th></tr>{attention}</table>
<h2>AWS requests</h2><table>{calls}</table>
</body></html>
"""
