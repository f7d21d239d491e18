"""A run's report as CSV (a row per service, no cell a spreadsheet runs) and as Markdown (every cell
renders as exactly its text)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .report_rows import failed_members

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
    lines += _md_waves(report)
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


def _md_waves(report: Mapping[str, Any]) -> list[str]:
    """The waves of an enforce run, then each wave's failed members and why; nothing for an audit."""
    if not report.get("waves"):
        return []
    lines = ["", "## Waves", ""]
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
    return lines
