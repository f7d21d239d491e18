"""A run's report as one self-contained HTML page: an inline SVG chart per account and region, every
status in words and a symbol beside its colour, readable offline, nothing fetched and nothing run."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..status import Status
from .report_rows import ORDER, failed_members, row_status

# Status colours from Okabe and Ito's colour-blind-safe palette ("Color Universal Design", 2008),
# greys for the routine ones; statuses that share a colour share a meaning, and every colour on the
# page comes with the status written out and a symbol (never colour alone).
VERMILLION, PURPLE, ORANGE, YELLOW = "#D55E00", "#CC79A7", "#E69F00", "#F0E442"
BLUE, GREEN, SKY, GREY, LIGHT = "#0072B2", "#009E73", "#56B4E9", "#999999", "#DDDDDD"
COLOURS = {
    Status.FAILED: VERMILLION,
    Status.DEPLOYMENT_FAILED: VERMILLION,
    Status.FLAPPING: PURPLE,
    Status.QUARANTINED: PURPLE,
    Status.REFUSED: ORANGE,
    Status.NONCOMPLIANT: YELLOW,
    Status.DRIFTED: YELLOW,
    Status.SKIPPED: GREY,
    Status.REMEDIATED: BLUE,
    Status.VERIFIED: GREEN,
    Status.RELEASED: SKY,
    Status.COMPLIANT: GREEN,
    Status.NOT_OPTED_IN: LIGHT,
    Status.IGNORED: LIGHT,
}
SYMBOLS = {VERMILLION: "\u2716", PURPLE: "\u26a0", ORANGE: "\u2298", YELLOW: "\u25b3", GREY: "\u2013"}
SYMBOLS |= {BLUE: "\u21bb", GREEN: "\u2714", SKY: "\u2714", LIGHT: "\u00b7"}


def _chart(counts: Mapping[str, int], height: int = 20) -> str:
    """One stacked horizontal bar, as inline SVG stretched to its container's width: a segment per
    status, in the legend's order, with its name and count as a title; the legend and the counts
    beside it say in words what the colours show."""
    total = sum(counts.values()) or 1
    x, parts = 0.0, []
    for status in ORDER:
        n = counts.get(status.value, 0)
        if not n:
            continue
        w = 1000 * n / total
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{height}" fill="{COLOURS[status]}" '
            f'stroke="#fff" stroke-width="3"><title>{status.value}: {n}</title></rect>'
        )
        x += w
    text = ", ".join(f"{s} {n}" for s, n in counts.items()) or "no services"
    return (
        f'<svg class="chart" viewBox="0 0 1000 {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{html.escape(text)}">{"".join(parts)}</svg>'
    )


def _badge(status: str) -> str:
    """A status as the page shows it: a colour swatch, a symbol and the status written out."""
    known = status in Status.__members__
    colour = COLOURS[Status(status)] if known else LIGHT
    return (
        f'<span class="badge"><i style="background:{colour}"></i>'
        f"{SYMBOLS[colour]}\u00a0{html.escape(status)}</span>"
    )


def _text(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _arn(value: Any) -> str:
    """An ARN, which may break anywhere (it has no spaces to break at)."""
    return f'<span class="arn">{_text(value)}</span>'


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table with its header row (cells are HTML), in a box of its own: on a wide screen a table
    too wide scrolls inside it; on a narrow one each row stacks as a card, each cell under its
    column's name, so the page never scrolls sideways."""
    th = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td data-label="{html.escape(h)}">{cell}</td>' for h, cell in zip(head, row, strict=True))
        + "</tr>"
        for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


SERVICE_COLUMNS = ("service", "cluster", "account/region", "profile", "wave", "reasons", "task definition")


def _services(report: Mapping[str, Any]) -> str:
    """Every service, under a collapsed section per status, worst first."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in report["results"]:
        groups[row_status(row).value].append(row)
    parts = []
    for status in ORDER:
        rows = sorted(
            groups.get(status.value, []), key=lambda r: (str(r.get("cluster")), str(r.get("service")))
        )
        if not rows:
            continue
        cells = (
            (
                _text(r.get("service") or r.get("family")),
                _text(r.get("cluster")),
                _text(f"{r.get('account')}/{r.get('region')}"),
                _text(r.get("profile")),
                _text(r.get("wave")),
                _text("; ".join(r.get("reasons") or [])),
                _arn(r.get("newTaskDefinitionArn") or r.get("sourceTaskDefinitionArn")),
            )
            for r in rows
        )
        parts.append(
            f'<details id="status-{status.value}"><summary>{_badge(status.value)} ({len(rows)})</summary>'
            f"{_table(SERVICE_COLUMNS, cells)}</details>"
        )
    return "".join(parts) or "<p>No services.</p>"


def _waves(report: Mapping[str, Any]) -> str:
    """The waves of an enforce run, each with its failed members and why; nothing for an audit."""
    waves = report.get("waves") or []
    if not waves:
        return ""
    failed = failed_members(report)
    rows = []
    for w in waves:
        named = "".join(
            f"<li>{_text(m['name'])}"
            + (f" {_badge(m['status'])}" if m["status"] else "")
            + (f": {_text(m['why'])}" if m["why"] else "")
            + "</li>"
            for m in failed.get(int(w["number"]), [])
        )
        if not named and w.get("failed"):
            named = f"<li>{int(w['failed'])} failed; the run's record does not name them</li>"
        numbers = (w["number"], w["size"], w["succeeded"], w["failed"], w["neutral"])
        rows.append(
            (
                *(_text(n) for n in numbers),
                "tripped" if w.get("tripped") else "",
                f"<ul>{named}</ul>" if named else "",
            )
        )
    head = ("wave", "services", "succeeded", "failed", "other", "breaker", "failed members")
    return f'<section id="waves"><h2>Waves</h2>{_table(head, rows)}</section>'


# The page fetches and runs nothing: no script at all, styles only inline (a name that escaped its
# escaping still could not run).
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;padding:1em;max-width:80em;color:#111;
overflow-wrap:break-word}
h1{font-size:1.5em;overflow-wrap:anywhere} h2{font-size:1.2em;margin-top:1.5em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;white-space:nowrap}
.arn{overflow-wrap:anywhere}
.chart{display:block;width:100%;height:20px;margin:.5em 0}
td .chart{min-width:12em}
.legend{display:flex;flex-wrap:wrap;gap:.25em 1.2em;padding:0;margin:.5em 0;list-style:none}
.badge{white-space:nowrap}
.badge i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em;
border:1px solid #333}
details{margin:.4em 0} summary{cursor:pointer;padding:.25em 0}
ul{margin:0;padding-left:1.2em}
.stopped{border-left:4px solid #D55E00;padding-left:.5em;font-weight:bold}
@media (max-width:40em){
 body{padding:.6em}
 table,thead,tbody,tr,td{display:block;width:100%}
 thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
 tr{border:1px solid #bbb;margin:.5em 0}
 td{border:0;border-top:1px solid #eee;overflow-wrap:anywhere}
 td::before{content:attr(data-label);display:block;font-size:.8em;font-weight:bold;color:#444}
 td .chart{min-width:0}
}
"""


def to_html(report: Mapping[str, Any]) -> str:
    e = html.escape
    legend = "".join(f"<li>{_badge(s)} {n}</li>" for s, n in report["totals"].items())
    regions = (
        (e(key), _chart(counts), e(", ".join(f"{s} {n}" for s, n in counts.items())))
        for key, counts in report["byAccountRegion"].items()
    )
    attention = [
        (
            _badge(row["status"]),
            _text(f"{row.get('account')}/{row.get('region')}"),
            _text(row.get("cluster")),
            _text(row.get("service")),
            _text("; ".join(row.get("reasons") or [])),
        )
        for row in report["attention"]
    ]
    needs = (
        _table(("status", "account/region", "cluster", "service", "reasons"), attention)
        if attention
        else "<p>Nothing needs attention.</p>"
    )
    calls = ((_text(call), _text(n)) for call, n in report["calls"].items())
    stopped = f'<p class="stopped">Stopped: {e(report["stopped"])}</p>' if report.get("stopped") else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>sidecar-enforcer backfill {e(report["runId"])}</title>
<style>{STYLE}</style></head><body>
<h1>Backfill {e(report["runId"])} <small>({e(report["mode"])})</small></h1>
<p>{report["services"]} services in {report["seconds"]} s; {report["callsTotal"]} AWS requests
({report["callsPerService"]} per service); {e(report["started"])} to {e(report["ended"])}.</p>
{stopped}
{_chart(report["totals"])}<ul class="legend">{legend}</ul>
<h2>By account and region</h2>{_table(("account/region", "services by status", "counts"), regions)}
{_waves(report)}
<h2>Needs attention ({len(report["attention"])})</h2>{needs}
<h2>Every service ({report["services"]})</h2>{_services(report)}
<h2>AWS requests</h2>{_table(("request", "count"), calls)}
</body></html>
"""
