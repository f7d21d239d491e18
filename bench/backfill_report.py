"""The backfill bench's figures as JSON-ready data, its targets (the backfill's specification) with
PASS/FAIL and, where a target is missed, what the floors say of it, and the printed table."""

from __future__ import annotations

from typing import Any

from .backfill import Figures, ToolRun, compare
from .project import cores
from .text import table

# The backfill specification's targets.
FIRST_FLOOR = 1.15  # a slice's first run: within 1.15x the buckets' floor (the largest fleet)
ORG_FLOOR = 1.25  # the organisation: within 1.25x the largest slice's floor
REPEAT_REQUESTS = 0.6  # a repeat run: at most 0.6x the first run's requests ...
REPEAT_FLOOR = 1.15  # ... and within 1.15x its own floor
SCALE_TOLERANCE = 0.20  # per-service time within +-20% from the small to the large fleet


def run_data(r: ToolRun) -> dict[str, Any]:
    return {
        "tool": r.tool,
        "run": r.run,
        "case": r.case,
        "services": r.services,
        "seconds": round(r.seconds, 2),
        "floor_seconds": None if r.floor is None else round(r.floor.seconds, 2),
        "requests": r.requests,
        "ecs_requests": r.ecs_requests,
        "floor_requests": None if r.floor is None else r.floor.requests,
        "throttled": r.throttled,
        "replayed": r.replayed,
        "cpu_seconds": round(r.cpu_seconds, 2),
        "cpu_per_service_ms": round(r.cpu_per_service_ms, 3),
        "stand_in_cpu_seconds": round(r.stand_in_cpu_seconds, 2),
        "per_service_ms": round(r.per_service_ms, 3),
        "by_action": dict(sorted(r.by_action.items())),
        "exit_code": r.exit_code,
        "error": r.error,
        "noncompliant": None if r.found is None else len(r.found),
        "statuses": r.statuses,
        "surfaced": r.surfaced[:5],
        "surfaced_count": len(r.surfaced),
    }


def data(f: Figures) -> dict[str, Any]:
    found = {(r.tool, r.run, r.case): r.found for r in f.runs}
    agreement = {}
    for case in f.cases:
        expected = f.expected.get(case.key, set())
        c7n = found.get(("c7n-org" if case.org else "c7n", "first", case.key))
        agreement[case.key] = {
            "expected": len(expected),
            "c7n_vs_expected": compare(c7n, expected),
            **{
                f"{run}_vs_expected": compare(found[("ours", run, case.key)], expected)
                for run in ("first", "repeat", "shared")
                if ("ours", run, case.key) in found
            },
            "ours_vs_c7n": compare(found.get(("ours", "first", case.key)), c7n),
        }
    out: dict[str, Any] = {
        "latency_ms": f.latency * 1000,
        "cores": cores(),
        "fleets": {c.key: c.label for c in f.cases},
        "org": [c.key for c in f.cases if c.org],
        "nodelay": {k: round(v, 2) for k, v in f.nodelay.items()},
        "seeding_seconds": {k: round(v, 2) for k, v in f.seeding.items()},
        "moto_patches": f.moto_patches,
        "ours_note": f.ours_note,
        "floors": {
            c.key: next((r.floor.by_action for r in f.runs if r.case == c.key and r.floor), {})
            for c in f.cases
        },
        "runs": [run_data(r) for r in f.runs],
        "agreement": agreement,
        "replay": f.replay,
        "shared_taken": f.shared_taken,
    }
    out["targets"] = targets(out)
    return out


def _run(d: dict[str, Any], tool: str, run: str, case: str) -> dict[str, Any] | None:
    return next((r for r in d["runs"] if r["tool"] == tool and r["run"] == run and r["case"] == case), None)


def _ok(r: dict[str, Any] | None) -> bool:
    return r is not None and r["error"] is None and r["noncompliant"] is not None


def _verdict(passed: bool | None) -> str:
    return "n/a" if passed is None else "PASS" if passed else "FAIL"


def _x(r: dict[str, Any]) -> float:
    return r["seconds"] / r["floor_seconds"] if r.get("floor_seconds") else float("inf")


def _why(r: dict[str, Any], limit: float, cores: int, machine: int) -> str:
    """What the figures say of a missed time target. The run's own CPU (its process and children:
    no wait for ECS makes it shorter) is spread over ``cores`` at best (several processes: an
    organisation's slices; one process: its threads share one interpreter), and with the stand-in
    AWS's CPU over the ``machine``'s cores: when either takes the limit, the target cannot be met
    on this machine. Otherwise, what is left of the limit after the floor."""
    cpu, stand_in = r["cpu_seconds"], r["stand_in_cpu_seconds"]
    alone, shared = cpu / cores, (cpu + stand_in) / machine
    parts = []
    if max(alone, shared) >= limit:
        client = f"the client's own CPU is {cpu:.2f} s" + (
            f" ({alone:.2f} s on {cores} cores)" if cores > 1 else ""
        )
        both = f"with the stand-in AWS's {stand_in:.2f} s, {shared:.2f} s on this machine's {machine} cores"
        parts.append(f"cannot be met here: {client}; {both}; the limit {limit:.2f} s")
    else:
        over = r["seconds"] - r["floor_seconds"]
        parts.append(
            f"{over:.2f} s over the floor; the client's CPU {cpu:.2f} s, the stand-in's {stand_in:.2f} s"
        )
    if r["throttled"]:
        parts.append(f"{r['throttled']} requests throttled")
    return "; ".join(parts)


def targets(d: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: its name, PASS / FAIL / n/a (a run it needs did not happen), and the figures."""
    out: list[dict[str, Any]] = []
    org = set(d.get("org", []))
    singles = [k for k in d["fleets"] if k not in org]

    def add(name: str, passed: bool | None, measured: str) -> None:
        out.append({"target": name, "verdict": _verdict(passed), "measured": measured})

    def timed(r: dict[str, Any] | None, limit: float) -> tuple[bool | None, str]:
        if not _ok(r) or r is None or not r.get("floor_seconds"):
            return None, "the run is missing"
        ratio = _x(r)
        passed = ratio <= limit
        text = f"{r['seconds']:.2f} s, floor {r['floor_seconds']:.2f} s: {ratio:.2f}x"
        machine = int(d.get("cores", 1))
        cores = machine if r["case"] in org else 1  # an organisation's slices: processes
        return passed, text if passed else f"{text} ({_why(r, limit * r['floor_seconds'], cores, machine)})"

    # a slice's first run, at the largest single fleet
    if singles:
        key = singles[-1]
        r = _run(d, "ours", "first", key)
        passed, text = timed(r, FIRST_FLOOR)
        if r is not None and passed is not None:
            clean = r["surfaced_count"] == 0 and r["exit_code"] == 0
            exact = r["ecs_requests"] == r["floor_requests"]
            text += f"; {r['ecs_requests']} ECS requests, floor {r['floor_requests']}"
            text += f"; {r['surfaced_count']} errors"
            passed = passed and clean and exact
        add(f"first run <= {FIRST_FLOOR}x the floor, no error, requests = floor ({key})", passed, text)
    for key in sorted(org):
        passed, text = timed(_run(d, "ours", "first", key), ORG_FLOOR)
        add(f"organisation <= {ORG_FLOOR}x the largest slice's floor ({key})", passed, text)
    for key in d["fleets"]:
        first, repeat = _run(d, "ours", "first", key), _run(d, "ours", "repeat", key)
        label = f"repeat run <= {REPEAT_REQUESTS}x the first's requests, <= {REPEAT_FLOOR}x its floor ({key})"
        if not (_ok(first) and _ok(repeat)) or first is None or repeat is None:
            add(label, None, "a run is missing")
            continue
        share = repeat["requests"] / first["requests"]
        passed, text = timed(repeat, REPEAT_FLOOR)
        add(
            label,
            bool(passed) and share <= REPEAT_REQUESTS,
            f"{repeat['requests']} / {first['requests']} = {share:.2f} requests; {text}",
        )
    for key in d["fleets"]:
        shared = _run(d, "ours", "shared", key)
        if shared is None:
            continue
        label = f"throttled by another client (half the refill): no error, ends, same findings ({key})"
        if shared["noncompliant"] is None:
            add(label, False, shared["error"] or "no report")
            continue
        clean = shared["surfaced_count"] == 0 and shared["exit_code"] == 0
        same = d["agreement"][key].get("shared_vs_expected", {}).get("same")
        add(
            label,
            bool(clean and same),
            f"{shared['seconds']:.2f} s, floor at half the refill {shared['floor_seconds']:.2f} s "
            f"({_x(shared):.2f}x); {shared['throttled']} requests throttled, "
            f"{shared['surfaced_count']} surfaced; exit {shared['exit_code']}",
        )
    if len(singles) >= 2:
        small, large = _run(d, "ours", "first", singles[0]), _run(d, "ours", "first", singles[-1])
        label = f"per-service time flat within +-20% ({singles[0]} -> {singles[-1]})"
        if not (_ok(small) and _ok(large)) or small is None or large is None:
            add(label, None, "a run is missing")
        else:
            ratio = large["per_service_ms"] / small["per_service_ms"]
            floors = [r["floor_seconds"] * 1000 / r["services"] for r in (small, large)]
            text = f"{small['per_service_ms']:.2f} -> {large['per_service_ms']:.2f} ms ({ratio:.2f}x)"
            if abs(ratio - 1) > SCALE_TOLERANCE:
                text += (
                    f"; the floors themselves: {floors[0]:.2f} -> {floors[1]:.2f} ms a service "
                    f"({floors[1] / floors[0]:.2f}x)"
                )
            add(label, abs(ratio - 1) <= SCALE_TOLERANCE, text)
    for key in d["fleets"]:
        ours = _run(d, "ours", "first", key)
        c7n = _run(d, "c7n-org" if key in org else "c7n", "first", key)
        label = f"CPU per service no more than Cloud Custodian's ({key})"
        if not (_ok(ours) and _ok(c7n)) or ours is None or c7n is None:
            add(label, None, "a run is missing")
            continue
        add(
            label,
            ours["cpu_per_service_ms"] <= c7n["cpu_per_service_ms"],
            f"ours {ours['cpu_per_service_ms']:.3f} ms ({ours['cpu_seconds']:.2f} s), "
            f"c7n {c7n['cpu_per_service_ms']:.3f} ms ({c7n['cpu_seconds']:.2f} s)",
        )
    for key, agreement in d["agreement"].items():
        same = agreement["ours_vs_c7n"]["same"]
        ours_ok = agreement.get("first_vs_expected", {}).get("same")
        repeat_ok = agreement.get("repeat_vs_expected", {}).get("same", True)
        c7n_ok = agreement["c7n_vs_expected"]["same"]
        add(
            f"same non-compliant services, both tools and the plan ({key})",
            None if same is None else bool(same and ours_ok and c7n_ok and repeat_ok),
            f"expected {agreement['expected']}; c7n {_same(c7n_ok)}, ours {_same(ours_ok)}, "
            f"ours repeated {_same(repeat_ok)}",
        )
    return out


def _same(flag: bool | None) -> str:
    return "-" if flag is None else "same" if flag else "DIFFERENT"


# -- text ----------------------------------------------------------------------------------------------


def _floor_text(parts: dict[str, int]) -> str:
    return " + ".join(f"{a} {n}" for a, n in parts.items()) + f" = {sum(parts.values())}"


def text(d: dict[str, Any]) -> list[str]:
    nd = d["nodelay"]
    lines = [
        "4. Backfill audit vs Cloud Custodian, in a model of AWS: "
        f"+{d['latency_ms']:.0f} ms a request, ECS's token buckets per account and Region",
        "   (ThrottlingException, HTTP 400, as ECS answers), moto's answers recorded by a warm-up pass of "
        "each tool and replayed",
        "   ours: sidecar-enforcer backfill --mode audit --regions R [--accounts A,.. --role-name R] "
        f"--report r.json ({d['ours_note']})",
        "   c7n: custodian run (a slice) / c7n-org run (the organisation), aws.ecs-service, opt-in tag on "
        "the service or its cluster listed by ARN",
    ]
    if nd:
        lines.append(
            f"   proxy: serial DescribeClusters {nd['nodelay_ms']:.1f} ms a request with TCP_NODELAY, "
            f"{nd['nagle_ms']:.1f} ms without; a DescribeServices of 10 with nothing added: moto "
            f"{nd['moto_ms']:.1f} ms of its own, {nd.get('round_trip_ms', 0.0):.1f} ms the round trip live, "
            f"{nd.get('replayed_ms', 0.0):.1f} ms replayed"
        )
    lines.append(
        "   moto: a process of its own, patched: "
        + (
            ", ".join(p.rsplit(".", 2)[-2] + "." + p.rsplit(".", 1)[-1] for p in d.get("moto_patches", []))
            or "nothing"
        )
        + "; seeded in its process: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in d["seeding_seconds"].items())
    )
    for key, check in d.get("replay", {}).items():
        verdict = "all byte-equal" if not check["differ"] else f"{len(check['differ'])} DIFFER"
        lines.append(
            f"   replay ({key}): {check['recorded']} answers recorded; {check['checked']} checked against "
            f"moto live: {verdict}"
        )
    lines.append("")
    for key, label in d["fleets"].items():
        lines.append(f"   {key}: {label}")
    lines.append("")
    rows: list[tuple[str, ...]] = [
        (
            "fleet",
            "tool",
            "run",
            "seconds",
            "floor s",
            "x floor",
            "requests",
            "floor",
            "throttled",
            "CPU s",
            "CPU ms/svc",
            "stand-in CPU s",
            "ms/svc",
            "non-compliant",
            "note",
        )
    ]
    for r in d["runs"]:
        rows.append(
            (
                r["case"],
                r["tool"],
                r["run"],
                f"{r['seconds']:.2f}",
                "-" if r["floor_seconds"] is None else f"{r['floor_seconds']:.2f}",
                "-" if not r["floor_seconds"] else f"{_x(r):.2f}",
                f"{r['requests']} ({r['ecs_requests']} ECS)",
                "-" if r["floor_requests"] is None else str(r["floor_requests"]),
                str(r["throttled"]),
                f"{r['cpu_seconds']:.2f}",
                f"{r['cpu_per_service_ms']:.3f}",
                f"{r['stand_in_cpu_seconds']:.2f}",
                f"{r['per_service_ms']:.2f}",
                "-" if r["noncompliant"] is None else str(r["noncompliant"]),
                ("ERROR " + r["error"].splitlines()[-1][:80]) if r["error"] else "",
            )
        )
    lines += table(rows, right={3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
    lines.append("")
    lines.append(
        "   Floors: requests = ECS requests an audit needs (pages, describes, one DescribeTaskDefinition a "
        "distinct revision of an opted-in service), every slice;"
    )
    lines.append(
        "   seconds = the slowest bucket's (n - burst) / refill in the largest slice, plus one latency a "
        "dependent step. One slice's requests:"
    )
    for key, parts in d["floors"].items():
        if parts:
            lines.append(f"     {key}: {_floor_text(parts)}")
    if d.get("shared_taken"):
        lines.append(
            "   The other client took: " + ", ".join(f"{a} {n}" for a, n in sorted(d["shared_taken"].items()))
        )
    lines.append("")
    lines.append("   Requests by action:")
    for r in d["runs"]:
        actions = ", ".join(f"{a} {n}" for a, n in r["by_action"].items()) or "(none)"
        lines.append(f"     {r['case']} {r['tool']} {r['run']}: {actions}")
    lines.append("")
    lines.append("   Targets (the backfill specification):")
    for t in d["targets"]:
        lines.append(f"     {t['verdict']:<4}  {t['target']}: {t['measured']}")
    return lines
