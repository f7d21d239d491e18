"""The backfill run's HTML report as a person sees it, in a real headless browser at a desktop's
width (1280 px) and a phone's (375 px, laid out as a phone's browser does): every service there
once its status is expanded, each status labelled in words, each wave's failed members named with
why, no wave table for an audit, no sideways scrolling, and nothing a name or reason carries runs.

Skips, saying why, where no browser is installed (``.ci/run`` installs Debian's ``chromium``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sidecar_enforcer.domain.runs import run_report

from ..browser import Browser, find_browser
from ..unit._factories import report_row

EXECUTABLE, MISSING = find_browser()
pytestmark = pytest.mark.skipif(EXECUTABLE is None, reason=MISSING)

SCREENS = [pytest.param(1280, 900, False, id="desktop-1280"), pytest.param(375, 812, True, id="phone-375")]
HOSTILE = "<img src=x onerror=\"window.pwned='img'\"><script>window.pwned='script'</script>"
LONG_ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/" + "a-very-long-family-name-" * 8 + "x:42"


def _row(service: str, status: str, **more: Any) -> dict[str, Any]:
    return report_row(service, status, **{"profile": "jaeger", "sourceTaskDefinitionArn": LONG_ARN, **more})


ENFORCE_ROWS = [
    *(_row(f"web-{i:02d}", "COMPLIANT") for i in range(12)),
    _row("pay-api", "DEPLOYMENT_FAILED", wave=1, reasons=["task stopped: CannotPullContainerError"]),
    _row("cart-api", "VERIFIED", wave=1),
    _row("search-" + "x" * 90, "VERIFIED", wave=2),  # a name too long for a phone's line
    _row("ledger", "FAILED", wave=2, reasons=["deployment ecs-svc/1 had not ended after 1800 s"]),
    _row(HOSTILE, "REFUSED", cluster=HOSTILE, profile=HOSTILE, reasons=[HOSTILE]),
    _row("legacy", "SKIPPED", reasons=["deployment controller CODE_DEPLOY"]),
    _row("billing", "NOT_OPTED_IN", reasons=[]),
]
WAVES = [
    {"number": 1, "size": 2, "succeeded": 1, "failed": 1, "neutral": 0, "tripped": False},
    {"number": 2, "size": 2, "succeeded": 1, "failed": 1, "neutral": 0, "tripped": True},
]


def _page(tmp_path: Path, name: str, rows: list[dict[str, Any]], **more: Any) -> Path:
    report = run_report.build(
        run_id=more.pop("run_id", "bf-20261207T120000Z-0a1b2c"),
        mode=more.pop("mode", "enforce"),
        started="2026-12-07T12:00:00+00:00",
        ended="2026-12-07T12:31:00+00:00",
        seconds=1860.0,
        rows=rows,
        calls={"ecs:DescribeServices": 3, "ecs:UpdateService": 4},
        **more,
    )
    path = tmp_path / f"{name}.html"
    path.write_text(run_report.render(report, "html"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert EXECUTABLE is not None
    with Browser(EXECUTABLE) as opened:
        yield opened


def _text(browser: Browser, selector: str = "body") -> str:
    """The text a person sees in an element (innerText leaves out what is collapsed or hidden)."""
    return str(browser.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{}}).innerText || ''"))


def _expand(browser: Browser) -> None:
    browser.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")


def _fits(browser: Browser, width: int) -> None:
    """Laid out at the screen's width, and nothing wider than the screen (page or box)."""
    page = browser.evaluate(
        "({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,"
        " inner: innerWidth, scale: visualViewport.scale})"
    )
    assert page["client"] == width, page  # a phone lays it out at its own width (the viewport meta)
    assert page["scroll"] <= page["inner"], page  # no sideways scroll
    assert page["scale"] == 1, page  # not zoomed out to fit


@pytest.mark.parametrize(("width", "height", "mobile"), SCREENS)
def test_a_person_finds_every_service_each_status_in_words_and_each_wave_s_failed_members(
    browser: Browser, tmp_path: Path, width: int, height: int, mobile: bool
) -> None:
    browser.open(_page(tmp_path, "enforce", ENFORCE_ROWS, waves=WAVES), width, height, mobile=mobile)

    collapsed = _text(browser)
    assert "web-07" not in collapsed  # a routine service waits behind its status
    legend = _text(browser, ".legend")
    for status, count in (("COMPLIANT", 12), ("DEPLOYMENT_FAILED", 1), ("FAILED", 1), ("VERIFIED", 2)):
        assert f"{status} {count}" in legend.replace("\u00a0", " ").replace("\n", " ")
    waves = _text(browser, "#waves")
    assert "shop/pay-api" in waves
    assert "CannotPullContainerError" in waves
    assert "shop/ledger" in waves
    assert "had not ended after 1800 s" in waves
    assert "cart-api" not in waves  # verified: no failed member

    _expand(browser)
    everything = _text(browser)
    for row in ENFORCE_ROWS:
        assert row["service"] in everything, row["service"]
    assert LONG_ARN in everything.replace("\n", "")
    _fits(browser, width)
    if mobile:  # on a phone the tables stack: not even a table's own box scrolls sideways
        boxes = browser.evaluate(
            "[...document.querySelectorAll('.scroll')].filter(b => b.scrollWidth > b.clientWidth).length"
        )
        assert boxes == 0
        assert browser.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 14


@pytest.mark.parametrize(("width", "height", "mobile"), SCREENS)
def test_nothing_a_name_or_reason_carries_runs_and_it_reads_as_the_text_it_is(
    browser: Browser, tmp_path: Path, width: int, height: int, mobile: bool
) -> None:
    path = _page(tmp_path, "hostile", ENFORCE_ROWS, waves=WAVES, run_id=HOSTILE, stopped=HOSTILE)
    browser.open(path, width, height, mobile=mobile)
    _expand(browser)

    assert browser.evaluate("typeof window.pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0
    assert HOSTILE in _text(browser, "h1")
    assert HOSTILE in _text(browser, "#status-REFUSED")


@pytest.mark.parametrize(("width", "height", "mobile"), SCREENS)
def test_an_audit_run_shows_its_services_and_no_wave_table(
    browser: Browser, tmp_path: Path, width: int, height: int, mobile: bool
) -> None:
    rows = [_row("web-1", "NONCOMPLIANT"), _row("web-2", "COMPLIANT"), _row("web-3", "DRIFTED")]
    browser.open(_page(tmp_path, "audit", rows, mode="audit"), width, height, mobile=mobile)
    _expand(browser)

    assert browser.evaluate("document.getElementById('waves') === null")
    assert "Waves" not in _text(browser)
    assert all(name in _text(browser) for name in ("web-1", "web-2", "web-3"))
    _fits(browser, width)


def test_an_empty_run_renders_with_its_table_headers(browser: Browser, tmp_path: Path) -> None:
    browser.open(_page(tmp_path, "empty", [], mode="audit"), 375, 812, mobile=True)

    assert "No services." in _text(browser)
    assert browser.evaluate("document.querySelectorAll('table').length") >= 2
    headed = "[...document.querySelectorAll('table')].every(t => t.tHead && t.tHead.rows.length === 1)"
    assert browser.evaluate(headed)
    _fits(browser, 375)
