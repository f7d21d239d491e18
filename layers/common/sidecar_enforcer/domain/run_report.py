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
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .status import Status
from .waves import counts_as_failed

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


# A cell a spreadsheet reads as a formula begins with one of these (OWASP, "CSV Injection": = + - @,
# tab, carriage return, line feed); a space before one is no guard, since a spreadsheet may trim it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell no spreadsheet runs: one that would begin a formula gets a leading
    single quote, which spreadsheets show as text (OWASP's rule; the only change to the value)."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip(" ").startswith(FORMULA_STARTS) else text


def to_csv(report: Mapping[str, Any]) -> str:
    """A row per service. Every cell is quoted and its quotes doubled (RFC 4180), so neither a quote
    nor a separator in a name can start a cell of its own, whichever separator the spreadsheet
    assumes (many locales split on ``;``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_COLUMNS)
    for row in report["results"]:
        values = [row.get(c) for c in CSV_COLUMNS]
        values[-1] = "; ".join(row.get("reasons") or [])
        writer.writerow([csv_cell(v) for v in values])
    return out.getvalue()


# What Markdown (CommonMark, and GitHub's tables and strikethrough) reads as markup inside a line:
# emphasis, code spans, links and images, strikethrough, a cell's end, and the backslash itself. An
# underscore inside a word opens no emphasis (CommonMark's flanking rules), so NOT_OPTED_IN stays
# as it is.
_MD_PUNCTUATION = re.compile(r"([\\`*\[\]~|]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")


def md_text(text: Any) -> str:
    """Text for a Markdown line or table cell that renders as exactly that text: ``&`` and ``<`` as
    entities (no tag, no autolink, no entity of the text's own; ``>`` opens nothing inside a line, so
    ``->`` stays), Markdown's inline punctuation backslash-escaped, line breaks as spaces."""
    plain = str(text).replace("&", "&amp;").replace("<", "&lt;")
    plain = _MD_PUNCTUATION.sub(lambda m: "\\" + m.group(0), plain)
    return re.sub(r"\r\n|\r|\n", " ", plain)


def _md_table(head: Sequence[str], rows: Iterable[Sequence[Any]], right: Sequence[bool] = ()) -> list[str]:
    """A Markdown table: its header and delimiter rows always (an empty table is a valid table), one
    line per row, every cell escaped."""
    aligns = [("---:" if (right[i] if i < len(right) else False) else "---") for i in range(len(head))]
    lines = ["| " + " | ".join(md_text(h) for h in head) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(report: Mapping[str, Any]) -> str:
    lines = [
        f"# sidecar-enforcer backfill {md_text(report['runId'])} ({md_text(report['mode'])})",
        "",
        f"{report['services']} services in {report['seconds']} s, {report['callsTotal']} AWS requests "
        f"({report['callsPerService']} per service). "
        f"{md_text(report['started'])} to {md_text(report['ended'])}.",
    ]
    if report.get("stopped"):
        lines += ["", f"**Stopped:** {md_text(report['stopped'])}"]
    statuses = list(report["totals"])
    lines += ["", *_md_table(("status", "services"), report["totals"].items(), (False, True))]
    lines += ["", "## By account and region", ""]
    lines += _md_table(
        ("account/region", *statuses),
        ((key, *(counts.get(s, 0) for s in statuses)) for key, counts in report["byAccountRegion"].items()),
        (False, *(True for _ in statuses)),
    )
    if report.get("waves"):
        lines += ["", "## Waves", ""]
        lines += _md_table(
            ("wave", "services", "succeeded", "failed", "other", "breaker"),
            (
                (
                    w["number"],
                    w["size"],
                    w["succeeded"],
                    w["failed"],
                    w["neutral"],
                    "tripped" if w.get("tripped") else "",
                )
                for w in report["waves"]
            ),
            (True, True, True, True, True),
        )
        failed = failed_members(report)
        if failed:
            lines += ["", "### Failed in a wave", ""]
            lines += _md_table(
                ("wave", "account/region", "cluster", "service", "status", "why"),
                (
                    (number, m["where"], m["cluster"], m["service"], m["status"], m["why"])
                    for number, members in sorted(failed.items())
                    for m in members
                ),
                (True,),
            )
    if report["attention"]:
        lines += ["", "## Needs attention", ""]
        lines += _md_table(
            ("status", "account/region", "cluster", "service", "reasons"),
            (
                (
                    row["status"],
                    f"{row.get('account')}/{row.get('region')}",
                    row.get("cluster"),
                    row.get("service"),
                    "; ".join(row.get("reasons") or []),
                )
                for row in report["attention"]
            ),
        )
    lines += [
        "",
        "## AWS requests",
        "",
        *_md_table(("request", "count"), report["calls"].items(), (False, True)),
    ]
    return "\n".join(lines) + "\n"


# -- the waves' failed members -------------------------------------------------------------------------


def failed_members(report: Mapping[str, Any]) -> dict[int, list[dict[str, str]]]:
    """Each wave's failed members by wave number (each: ``where`` (account/region), ``cluster``,
    ``service``, ``name`` (cluster/service), ``status``, ``why``): as the wave's outcome lists them
    (``failedMembers``), else the services whose row names the wave and whose status the breaker
    counts as failed."""
    found: dict[int, list[dict[str, str]]] = {}
    for wave in report.get("waves") or []:
        listed = wave.get("failedMembers")
        if listed:
            found[int(wave["number"])] = [_member(m) for m in listed]
    listed_by_outcome = set(found)
    for row in report["results"]:
        if row.get("wave") is None or int(row["wave"]) in listed_by_outcome:
            continue
        if counts_as_failed(_status(row)):
            found.setdefault(int(row["wave"]), []).append(_member(row))
    return found


def _member(member: Mapping[str, Any]) -> dict[str, str]:
    """A failed member as the report names it: where, its status, and why (its last reason)."""
    reasons = member.get("reasons") or ([member["reason"]] if member.get("reason") else [])
    cluster, service = (
        str(member.get("cluster") or ""),
        str(member.get("service") or member.get("family") or ""),
    )
    return {
        "where": f"{member.get('account')}/{member.get('region')}",
        "cluster": cluster,
        "service": service,
        "name": "/".join(part for part in (cluster, service) if part) or "?",
        "status": str(member.get("status") or ""),
        "why": str(reasons[-1]) if reasons else "",
    }


# -- HTML ------------------------------------------------------------------------------------------------


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
        groups[_status(row).value].append(row)
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
