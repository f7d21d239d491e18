"""Plain-text tables for the bench's printed figures."""

from __future__ import annotations


def table(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    """Rows as aligned columns (the first row a header, ruled below), the ``right`` ones right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines
