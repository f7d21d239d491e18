"""The Lambda function run locally: the handler imported from the checkout as Lambda would, a
context like Lambda's, and the names of the enforcer's own resources on a local endpoint. Shared by
the command line, the demo and the tests.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import uuid
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from sidecar_enforcer.errors import EnforcerError

LOCAL_TOPIC = "sidecar-enforcer-status"
LOCAL_TABLE = "sidecar-enforcer-state"


class UsageError(EnforcerError):
    """Exit 2 with one line."""


def project_root() -> Path:
    """The checkout this package is installed from (editable install): functions/ and events/ live there."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "functions" / "enforcer" / "app.py").is_file():
            return parent
    raise UsageError(
        "functions/enforcer/app.py not found: run from a checkout of sidecar-enforcer (pip install -e .)"
    )


def load_handler() -> ModuleType:
    """Import functions/enforcer/app.py as Lambda would, with Powertools set up for a terminal:
    no X-Ray daemon, no metrics on stdout, logs on stderr (stdout carries the result)."""
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "sidecar-enforcer",
        "POWERTOOLS_METRICS_NAMESPACE": "SidecarEnforcer",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        os.environ.setdefault(name, value)
    path = project_root() / "functions" / "enforcer" / "app.py"
    spec = importlib.util.spec_from_file_location("sidecar_enforcer_function_enforcer", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in (module.logger.name, "sidecar_enforcer"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sys.stderr)
    return module


def lambda_context(function_name: str = "sidecar-enforcer-local") -> Any:
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}",
        memory_limit_in_mb=256,
        aws_request_id=str(uuid.uuid4()),  # one per call, as Lambda gives each invocation
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 120_000,
    )
