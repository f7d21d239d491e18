"""``python -m bench`` (``make bench``): AWS calls per event kind and cold import times, one run.

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

from . import project
from .calls import measure_calls
from .imports import RUNS, measure_imports
from .report import calls_data, imports_data, text


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write the figures as JSON to FILE")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"imports timed per module (default {RUNS})")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    began = time.perf_counter()
    figures: dict[str, Any] = {"about": _about()}
    figures["calls"] = calls_data(measure_calls())
    figures["imports"] = imports_data(*measure_imports(args.runs))
    figures["seconds"] = round(time.perf_counter() - began, 1)

    print(text(figures) + f"\n(the bench took {figures['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
