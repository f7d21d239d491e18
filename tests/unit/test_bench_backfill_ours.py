"""Our half of the backfill bench on a small fleet, through the harness exactly as ``make bench``
runs it: ``sidecar-enforcer backfill --mode audit --regions us-east-1 --report r.json`` against
moto's server behind the proxy. Skipped, with the reason, while the CLI has no backfill command."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import backfill, fleet, project
from bench.proxy import CountingProxy


def test_our_backfill_finds_the_plans_non_compliant_services_within_the_floor(tmp_path: Path) -> None:
    cli = project.cli_script()
    available, help_text = backfill.ours_available(cli)
    if not available:
        pytest.skip(help_text)
    case = backfill.Case("small", fleet.plan(fleet.Spec(40, 2, 8)))
    plan = case.plan
    option = backfill.state_file_option(help_text)
    extra = (option, str(tmp_path / "state.json")) if option else ()
    with backfill.moto_server() as moto:
        world, _ = backfill.prepare(moto, plan)
        with CountingProxy(moto.address, latency=0.0) as proxy:
            env = backfill.ours_environment(world, proxy.url)
            proxy.account = world.account
            first = backfill.run_ours(cli, tmp_path, env, extra, proxy, case, "first")
            repeat = backfill.run_ours(cli, tmp_path, env, extra, proxy, case, "repeat")

    assert first.error is None, first.error
    assert first.found == case.expected(world.account)
    assert repeat.found == case.expected(world.account)
    assert first.surfaced == []
    served = Counter(r.call.action for r in first.records if r.call.service == "ecs")
    assert served == backfill.floor(plan)  # exactly the requests an audit needs
    assert first.throttled == 0
    assert first.cpu_seconds > 0
    assert first.stand_in_cpu_seconds > 0  # the proxy answered it, in this process
