"""Cold import time of each Lambda handler module against a bare ``import boto3``.

Each import runs in a fresh interpreter of the bench's own Python (the project's .venv under
``make bench``) with the Powertools settings ``sidecar-enforcer invoke`` uses (tracing and metrics
off), timed inside the process around the import alone (interpreter start-up excluded). The handler
is imported as Lambda imports it: its folder first on ``sys.path``, ``import app``. The runs
alternate between boto3 and the handlers; the best of ``runs`` is kept (the first run may also
write the bytecode caches, which a deployed function ships or compiles once).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import project

TARGET_RATIO = 2.0  # the target: a handler imports within twice the time of a bare boto3
RUNS = 5


@dataclass(frozen=True)
class Timing:
    name: str  # "boto3", or the function's folder name
    module: str
    seconds: list[float]

    @property
    def best(self) -> float:
        return min(self.seconds)


def import_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # every run would compile from source
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.update(project.POWERTOOLS_ENV)
    env.setdefault("AWS_REGION", "us-east-1")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return env


def time_import(module: str, *path: Path, python: str = sys.executable, flags: Sequence[str] = ()) -> float:
    """Seconds one fresh interpreter (``python`` with ``flags``) takes to import ``module``, with
    ``path`` first on sys.path and the first folder of it as the working directory."""
    lines = ["import sys, time"]
    if path:
        lines.append(f"sys.path[:0] = {[str(p) for p in path]!r}")
    lines += ["began = time.perf_counter()", f"import {module}", "print(repr(time.perf_counter() - began))"]
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [python, *flags, "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        env=import_environment(),
        cwd=str(path[0] if path else project.ROOT),
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        where = f" from {path[0]}" if path else ""
        raise RuntimeError(f"import {module}{where} failed in a fresh interpreter: {last}")
    return float(done.stdout.strip().splitlines()[-1])


def measure_imports(runs: int = RUNS) -> tuple[Timing, list[Timing]]:
    """boto3's timing and each handler's (``functions/<name>/app.py``), best of ``runs``."""
    handlers = project.handler_files()
    base: list[float] = []
    each: dict[Path, list[float]] = {path: [] for path in handlers}
    for _ in range(runs):
        base.append(time_import("boto3"))
        for path in handlers:
            each[path].append(time_import(path.stem, path.parent))
    return Timing("boto3", "boto3", base), [
        Timing(path.parent.name, f"{path.parent.name}/{path.name}", seconds) for path, seconds in each.items()
    ]
