"""``python -m bench`` (``make bench``): AWS calls per event kind, cold import times, and the
backfill audit against Cloud Custodian on 1,000 and 10,000 services and an organisation of 8 slices,
in a model of AWS (latency and ECS's token buckets), one run.

Prints a plain-text table; ``--json FILE`` also writes the same figures as JSON. Exits 0 when it
ran: the bench reports the figures, it does not fail on a missed target.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from . import backfill, fleet, project
from .backfill_report import data as backfill_data
from .calls import measure_calls
from .imports import RUNS, measure_imports
from .layer import measure as measure_layer
from .report import calls_data, imports_data, layer_data, text


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - a fixed git command
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=project.ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        head = git("rev-parse", "--short", "HEAD") or "unknown"
        changed = git("status", "--porcelain", "--untracked-files=no")
    except OSError:
        return "unknown (no git)"
    return f"{head}{' with uncommitted changes' if changed else ''}"


def _about() -> dict[str, Any]:
    versions = {}
    for name in ("boto3", "botocore", "aws-lambda-powertools", "moto"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"commit": _commit(), "python": platform.python_version(), "versions": versions}


# the single slice's two fleets, and the organisation's slice (8 of them)
SIZES: dict[str, tuple[fleet.Spec, fleet.Spec | None, fleet.Spec | None]] = {
    "full": (fleet.SMALL, fleet.LARGE, fleet.ORG_SLICE),
    "quick": (fleet.Spec(100, 2, 10), fleet.Spec(400, 4, 40), fleet.Spec(50, 2, 10)),
    "small": (fleet.SMALL, None, None),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON to FILE")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"imports timed per module (default {RUNS})")
    parser.add_argument(
        "--backfill",
        choices=["full", "quick", "small", "none"],
        default="full",
        help="the backfill bench: full (1,000 then 10,000 services, and 8 slices of 1,250: the default), "
        "quick (100, 400, 8 x 50), small (1,000 only), none",
    )
    parser.add_argument("--quick", action="store_true", help="the same as --backfill quick")
    parser.add_argument(
        "--only-backfill",
        action="store_true",
        help="the backfill bench alone (no calls per event, no imports)",
    )
    parser.add_argument(
        "--c7n",
        metavar="PATH",
        type=Path,
        default=project.ROOT / ".venv-c7n" / "bin" / "custodian",
        help="Cloud Custodian's custodian script (default: .venv-c7n/bin/custodian, made by make bench)",
    )
    parser.add_argument(
        "--cli",
        metavar="PATH",
        type=Path,
        default=project.cli_script(),
        help="the sidecar-enforcer console script whose backfill is measured (default: this venv's)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.quick:
        args.backfill = "quick"
    if args.only_backfill and args.backfill == "none":
        parser.error("--only-backfill with --backfill none leaves nothing to measure")

    began = time.perf_counter()
    figures: dict[str, Any] = {"about": _about()}
    if not args.only_backfill:
        figures["calls"] = calls_data(measure_calls())
        figures["imports"] = imports_data(*measure_imports(args.runs))
        figures["layer"] = layer_data(measure_layer(args.runs), args.runs)
    if args.backfill != "none":
        small, large, org = SIZES[args.backfill]
        figures["backfill"] = backfill_data(
            backfill.measure(small, large, org, custodian_bin=args.c7n, cli=args.cli)
        )
    figures["seconds"] = round(time.perf_counter() - began, 1)

    print(text(figures) + f"\n(the bench took {figures['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
