"""The README a person reads first: its statuses table is one table listing every status, and it
points at nothing a reader of a clone cannot see (no issue numbers, no closing notes)."""

from __future__ import annotations

import re

from sidecar_enforcer.models.findings import Status

from ._readme import README, tables


def test_the_statuses_table_is_one_table_with_every_published_status() -> None:
    # A blank line inside would split it in two, and render the second half as plain text.
    (table,) = [t for t in tables(README) if t[0].startswith("| status |")]
    listed = {m.group(1) for row in table[2:] if (m := re.match(r"\| `([A-Z_]+)` \|", row))}

    assert listed == {s.value for s in Status} - {Status.IGNORED.value}
    assert re.match(r"\|(-+\|)+$", table[1])


def test_the_readme_names_no_issue_numbers() -> None:
    assert re.search(r"\bissues? #?\d+|closing notes", README, re.IGNORECASE) is None
