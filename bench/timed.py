"""Wall time and CPU time of a block that runs a tool as a subprocess: the tool's (its process and
the children it waited for, user + system) and the stand-in AWS's (this process: the proxy's
threads that answer the tool, its latency, buckets and replayed answers; moto runs in a process of
its own, and a timed run's ECS reads are replayed, so they never reach it).

On one machine the two share the cores: a run whose client and stand-in need more CPU than the
cores give in its floor's time cannot meet the floor here, whatever the client does with ECS."""

from __future__ import annotations

import resource
import time


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Timed:
    seconds = cpu = stand_in_cpu = 0.0

    def __enter__(self) -> Timed:
        self._wall = time.perf_counter()
        self._cpu, self._self = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu = _cpu(resource.RUSAGE_CHILDREN) - self._cpu
        self.stand_in_cpu = _cpu(resource.RUSAGE_SELF) - self._self
