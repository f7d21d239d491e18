"""The figures of one run, as JSON-ready data, and the same figures as a plain-text table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .backfill_report import text as backfill_text
from .calls import APART, PRIME, Measured, Run
from .imports import TARGET_RATIO, Timing
from .layer import LayerFigures
from .text import table


def _kind(m: Measured) -> dict[str, Any]:
    return {
        "key": m.kind.key,
        "title": m.kind.title,
        "event": m.event,
        "calls": m.calls,
        "floor": m.kind.floor,
        "ratio": m.ratio,
        "over_floor": None if m.kind.floor is None else m.calls - m.kind.floor,
        "services": m.services,
        "calls_per_service": round(m.per_service, 2),
        "publishes": m.publishes,
        "sends": m.sends,
        "statuses": m.statuses,
        "error": m.error,
        "breakdown": {str(c): n for c, n in sorted(m.breakdown.items())},
        "failed": {str(c): n for c, n in sorted(m.failures.items())},
    }


def calls_data(run: Run) -> dict[str, Any]:
    return {
        "warm_container": True,
        "primed_with": PRIME,
        "not_counted": [str(c) for c in APART],
        "prime": _kind(run.prime),
        "kinds": [_kind(m) for m in run.kinds],
    }


def imports_data(base: Timing, handlers: list[Timing]) -> dict[str, Any]:
    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    return {
        "runs": len(base.seconds),
        "target_ratio": TARGET_RATIO,
        "baseline": {
            "module": base.module,
            "best_ms": ms(base.best),
            "runs_ms": [ms(s) for s in base.seconds],
        },
        "handlers": [
            {
                "function": t.name,
                "module": t.module,
                "best_ms": ms(t.best),
                "runs_ms": [ms(s) for s in t.seconds],
                "ratio": round(t.best / base.best, 2),
                "within_target": t.best / base.best <= TARGET_RATIO,
            }
            for t in handlers
        ],
    }


def layer_data(figures: LayerFigures, runs: int) -> dict[str, Any]:
    def ms(seconds: float) -> float:
        return round(seconds * 1000, 1)

    return {
        "runs": runs,
        "size_mb": figures.size_mb,
        "handlers": [
            {
                "function": t.function,
                "source_ms": ms(t.best("source")),
                "bytecode_ms": ms(t.best("bytecode")),
                "ratio": round(t.best("bytecode") / t.best("source"), 2),
                "runs_ms": {k: [ms(s) for s in v] for k, v in t.seconds.items()},
            }
            for t in figures.handlers
        ],
    }


def text(figures: dict[str, Any]) -> str:
    about = figures["about"]
    lines = [
        f"sidecar-enforcer bench: commit {about['commit']}, Python {about['python']}, "
        + ", ".join(f"{k} {v}" for k, v in about["versions"].items()),
        "",
    ]
    calls = figures.get("calls")
    if calls is not None:
        lines += [
            "1. AWS calls per event kind: moto's server on 127.0.0.1 behind the bench's counting proxy",
            f"   Warm containers: one router and one worker module, primed with {calls['primed_with']}",
            "   before the first measured event (caller identity and clients cached); a fresh event id each.",
            "   calls = every AWS call of the router and the worker but SNS Publish and SQS SendMessageBatch",
            "   (shown apart, not counted); the queue's receive/delete (Lambda's own) bypass the proxy.",
            "",
        ]
        rows: list[tuple[str, ...]] = [
            ("event kind", "calls", "floor", "calls/floor", "per service", "Publish", "SendBatch", "statuses")
        ]
        for k in calls["kinds"]:
            many = k["services"] > 1
            rows.append(
                (
                    k["title"],
                    str(k["calls"]),
                    "-" if k["floor"] is None else str(k["floor"]),
                    _ratio_text(k),
                    f"{k['calls_per_service']:.2f} ({k['services']} services)" if many else "-",
                    str(k["publishes"]),
                    str(k.get("sends", 0)),
                    _statuses_text(k),
                )
            )
        lines += table(rows, right={1, 2, 3, 5, 6})
        prime = calls["prime"]
        lines += [
            "",
            f"   The priming event, on the cold container (not a kind): {prime['calls']} calls, "
            f"{prime['publishes']} Publish, {prime.get('sends', 0)} SendMessageBatch, "
            f"{_statuses_text(prime)}",
            "",
            "   Per action (n failed = moto answered 4xx/5xx, e.g. a conditional write that lost):",
        ]
        for k in [*calls["kinds"], prime]:
            lines.append(f"   {k['title']}: {k['event']}")
            lines += _actions(k)
        lines.append("")
    imports = figures.get("imports")
    if imports is not None:
        lines += [
            f"2. Cold import time: a fresh interpreter per import, best of {imports['runs']}; "
            f"target: a handler within {imports['target_ratio']:g}x of a bare import boto3",
            "",
        ]
        base = imports["baseline"]
        rows = [("module", "best ms", "ratio", "runs (ms)")]
        rows.append((f"import {base['module']}", f"{base['best_ms']:.1f}", "1.00x", _runs(base["runs_ms"])))
        for h in imports["handlers"]:
            verdict = "within target" if h["within_target"] else "over target"
            rows.append(
                (h["module"], f"{h['best_ms']:.1f}", f"{h['ratio']:.2f}x ({verdict})", _runs(h["runs_ms"]))
            )
        lines += table(rows, right={1})
        lines.append("")
    layer = figures.get("layer")
    if layer is not None:
        sizes = ", ".join(f"{k} {v:.1f} MB" for k, v in layer["size_mb"].items())
        lines += [
            f"3. Cold start from the layer: each handler imported from a read-only layer (python -I -B), "
            f"best of {layer['runs']}",
            f"   source: no bytecode, as sam build ships it; bytecode: as make build ships it ({sizes})",
            "",
        ]
        rows = [("function", "source ms", "bytecode ms", "bytecode/source")]
        for h in layer["handlers"]:
            rows.append(
                (h["function"], f"{h['source_ms']:.1f}", f"{h['bytecode_ms']:.1f}", f"{h['ratio']:.2f}x")
            )
        lines += table(rows, right={1, 2, 3})
        lines.append("")
    backfill = figures.get("backfill")
    if backfill is not None:
        lines += backfill_text(backfill)
        lines.append("")
    return "\n".join(lines)


def _actions(kind: dict[str, Any]) -> list[str]:
    by_service: dict[str, list[str]] = {}
    for name, n in kind["breakdown"].items():
        service, _, action = name.partition(":")
        failed = kind["failed"].get(name)
        note = f" ({failed} failed)" if failed else ""
        note += " (not counted)" if name in {str(c) for c in APART} else ""
        by_service.setdefault(service, []).append(f"{action} {n}{note}")
    lines = [f"     {service:<9} {', '.join(actions)}" for service, actions in by_service.items()]
    return lines or ["     (no AWS call)"]


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def _ratio_text(kind: dict[str, Any]) -> str:
    floor, calls = kind["floor"], kind["calls"]
    if floor is None:
        return "-"
    if floor == 0:
        return "1.00x" if calls == 0 else f"inf (+{calls})"
    return f"{calls / floor:.2f}x"


def _statuses_text(kind: dict[str, Any]) -> str:
    if kind["error"]:
        return f"ERROR {kind['error']}"
    counted = Counter(kind["statuses"])
    return ", ".join(f"{s} x{n}" if n > 1 else s for s, n in counted.items()) or "(no finding)"
