"""Cold start from the layer as Lambda runs it: each handler imported from a read-only layer, without
bytecode (as ``sam build`` ships it) and with bytecode (as ``make build`` ships it).

Lambda extracts a layer into /opt, and only /tmp is writable in the execution environment ("Security
Overview of AWS Lambda", Lambda isolation technologies: "a writeable /tmp directory"). A layer
without ``__pycache__`` therefore compiles every module it imports on every cold start and cannot
keep the result. ``sam build`` (BuildMethod python3.13) installs no bytecode into the layer;
``make build`` adds it (``compileall --invalidation-mode unchecked-hash``: a zip keeps file times
at two seconds' precision, which could make timestamp-checked bytecode look stale).

Both layouts are installed here from ``layers/common/requirements.txt`` for this machine's platform
(``pip install --target``: the same files as the layer, built for arm64 by ``sam build``, except the
compiled extensions), plus the package. Each handler is imported in fresh interpreters that may not
write bytecode (``-B``, as on /opt), the layouts alternating; the best of ``runs`` is kept. The
bundled boto3 with bytecode imports what the runtime's boto3 would (the runtime ships its bytecode),
so the "bytecode" column is also the cost of using the runtime's boto3 instead.
"""

from __future__ import annotations

import compileall
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from py_compile import PycInvalidationMode

from . import project
from .imports import time_import

LAYOUTS = ("source", "bytecode")  # as sam build ships the layer, as make build ships it


@dataclass(frozen=True)
class LayerTiming:
    function: str
    seconds: dict[str, list[float]]  # layout -> each run

    def best(self, layout: str) -> float:
        return min(self.seconds[layout])


@dataclass(frozen=True)
class LayerFigures:
    size_mb: dict[str, float]  # layout -> unzipped size
    handlers: list[LayerTiming]


def _size_mb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1)


def build(into: Path, python: str = sys.executable) -> dict[str, Path]:
    """The layer's ``python/`` folder in both layouts under ``into``."""
    source = into / "source" / "python"
    done = subprocess.run(  # noqa: S603 - our interpreter's pip, our lock file
        [
            python,
            *("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
            *("--target", str(source), "-r", str(project.ROOT / "layers" / "common" / "requirements.txt")),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the layer could not be installed: {last}")
    shutil.copytree(
        project.ROOT / "layers" / "common" / "sidecar_enforcer",
        source / "sidecar_enforcer",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for cache in list(source.rglob("__pycache__")):
        shutil.rmtree(cache)
    compiled = into / "bytecode" / "python"
    shutil.copytree(source, compiled)
    compileall.compile_dir(compiled, quiet=1, workers=0, invalidation_mode=PycInvalidationMode.UNCHECKED_HASH)
    return {"source": source, "bytecode": compiled}


def time_handler(function_dir: Path, layer: Path) -> float:
    """Seconds a fresh interpreter takes to import the handler (``app``) from the layer: writing no
    bytecode (-B, as on /opt) and without the venv's site-packages (-I, as on Lambda)."""
    return time_import("app", function_dir, layer, flags=("-I", "-B"))


def measure(runs: int = 5) -> LayerFigures:
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as tmp:
        layers = build(Path(tmp))
        handlers = project.handler_files()
        seconds: dict[str, dict[str, list[float]]] = {
            h.parent.name: {k: [] for k in LAYOUTS} for h in handlers
        }
        for _ in range(runs):
            for handler in handlers:
                for layout in LAYOUTS:
                    seconds[handler.parent.name][layout].append(time_handler(handler.parent, layers[layout]))
        return LayerFigures(
            {k: _size_mb(v) for k, v in layers.items()},
            [LayerTiming(name, each) for name, each in seconds.items()],
        )
