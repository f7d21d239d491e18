"""``sidecar-enforcer report``: every task definition file x every profile, one row each, with the
invariants of ``domain.planning.invariants`` checked on every planned request."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sidecar_enforcer.domain.ecs.taskdef import load_document
from sidecar_enforcer.domain.planning.invariants import violations
from sidecar_enforcer.domain.planning.plan import plan
from sidecar_enforcer.domain.planning.policy import Policy
from sidecar_enforcer.domain.planning.profile import Profile
from sidecar_enforcer.domain.runs.report_text import md_text
from sidecar_enforcer.errors import InputError

WIDTH = 110  # the detail column is cut here in the plain table


def _row(path: Path, profile: Profile, policy: Policy) -> tuple[str, str, str, str]:
    try:
        document = load_document(path.read_bytes())
    except InputError as exc:
        return path.name, profile.name, "UNREADABLE", str(exc)
    except OSError as exc:
        return path.name, profile.name, "UNREADABLE", exc.strerror or type(exc).__name__
    result = plan(document.task_definition, document.tags, profile, policy)
    checks = "-"
    if result.register_input is not None:
        broken = violations(document.task_definition, result.register_input, result.upgraded)
        checks = "ok" if not broken else "BROKEN: " + "; ".join(broken)
    detail = result.reasons[0] if result.reasons else ""
    if result.resize is not None:
        detail = f"task size {result.resize[0]} -> {result.resize[1]}"
    renamed = [c for c in result.changes if "renamed" in c]
    if renamed:
        detail = renamed[0]
    return path.name, profile.name, f"{result.decision.value} ({checks})", detail


def report(files: list[Path], profiles: list[Profile], policy: Policy, *, markdown: bool = False) -> str:
    rows = [_row(path, profile, policy) for path in files for profile in profiles]
    lines: list[str] = []
    header = ("FILE", "PROFILE", "DECISION (CHECKS)", "FIRST REASON / SIZE CHANGE")
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.extend("| " + " | ".join(md_text(cell) for cell in row) + " |" for row in rows)
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        for row in [header, *rows]:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  ".join(cells) + "  " + row[3][:WIDTH])
    lines.append("")
    for profile in profiles:
        counts = Counter(r[2].split(" ")[0] for r in rows if r[1] == profile.name)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        lines.append(f"{profile.label}: {summary}")
    broken = sum(1 for r in rows if "BROKEN" in r[2])
    lines.append(
        f"{len(files)} files x {len(profiles)} profiles = {len(rows)} plans; {broken} broke an invariant"
    )
    return "\n".join(lines)
