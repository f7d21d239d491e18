"""The Lambda layer and the tests run on the same versions: layers/common/requirements.txt pins the
layer's whole closure, and the environment the tests run in has exactly those installed."""

from __future__ import annotations

import importlib.metadata
import re

from ._factories import ROOT

PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s#]+)")


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "layers" / "common" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_every_runtime_requirement_is_pinned_with_its_whole_closure() -> None:
    locked = pins()
    for name in list(locked):
        requires = importlib.metadata.requires(name) or []
        for requirement in requires:
            if "extra ==" in requirement and "tracer" not in requirement:
                continue  # an extra the layer does not ask for
            if "python_version" in requirement and '< "3.1' in requirement:
                continue  # a backport for an older Python than the runtime's
            dependency = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            assert dependency in locked, f"{name} needs {dependency}, which is not pinned"


def test_the_tests_run_on_the_versions_the_layer_ships() -> None:
    installed = {name: importlib.metadata.version(name) for name in pins()}

    assert installed == pins()
