"""The handlers import the tracer (and the X-Ray SDK it brings, about a third of the cold import)
only when tracing is on, and neither imports what it does not use: Powertools' batch utility and
parser package (every event model of every service: a quarter of the cold import), idempotency."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from ._factories import ROOT

PROBE = (
    "import sys, app; print('aws_xray_sdk' in sys.modules, callable(app.lambda_handler), "
    "'aws_lambda_powertools.utilities.batch' in sys.modules, "
    "'aws_lambda_powertools.utilities.parser' in sys.modules, "
    "'aws_lambda_powertools.utilities.idempotency' in sys.modules)"
)


@pytest.mark.parametrize("function", ["router", "worker"])
@pytest.mark.parametrize(("disabled", "imported"), [("true", "False"), ("false", "True")])
def test_the_x_ray_sdk_is_imported_only_when_tracing_is_on(
    function: str, disabled: str, imported: str
) -> None:
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": disabled,
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "sidecar-enforcer",
        "PYTHONPATH": str(ROOT / "layers" / "common"),
    }

    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", PROBE],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert done.stdout.split() == [imported, "True", "False", "False", "False"]


def _imported(function: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a cold start of ``function``'s handler imports (a fresh interpreter)."""
    probe = f"import sys, app; print(sorted(m for m in sys.modules if m in {modules!r}))"
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "PYTHONPATH": str(ROOT / "layers" / "common")}
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-c", probe],
        cwd=ROOT / "functions" / function,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(ast.literal_eval(done.stdout.strip()))


def test_the_router_imports_none_of_the_modules_that_plan_and_enforce() -> None:
    planning = (
        "sidecar_enforcer.enforcer",
        "sidecar_enforcer.domain.planning.plan",
        "sidecar_enforcer.profiles",
        "sidecar_enforcer.adapters.ecs",
        "sidecar_enforcer.usecases.enforce_service",
    )

    assert _imported("router", planning) == []


@pytest.mark.parametrize("function", ["router", "worker", "notifier"])
def test_a_cold_start_imports_no_backfill_run_s_rules(function: str) -> None:
    """A run's state and wave rules are imported when a run is read (ledger), not by every cold start."""
    runs = (
        "sidecar_enforcer.domain.runs.run_state",
        "sidecar_enforcer.domain.runs.waves",
        "sidecar_enforcer.usecases.run_waves",
    )

    assert _imported(function, runs) == []
