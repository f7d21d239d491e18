"""A fleet run's progress on stderr (``ProgressView``): a bar redrawn in place on a terminal, plain
lines otherwise."""

from __future__ import annotations

import threading
import time
from typing import TextIO

from sidecar_enforcer.usecases.progress import Progress


class ProgressView:
    """One line redrawn in place on a terminal; a plain line per phase (and every ``every`` seconds)
    when stderr is not a terminal."""

    def __init__(self, stream: TextIO, *, every: float = 10.0) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._every = every
        self._last = 0.0
        self._phase = ""
        self._lock = threading.Lock()

    def __call__(self, p: Progress) -> None:
        with self._lock:
            now = time.monotonic()
            changed = p.phase != self._phase
            if not self._tty and not changed and now - self._last < self._every:
                return
            if self._tty and not changed and now - self._last < 0.1:
                return
            self._last, self._phase = now, p.phase
            line = self.line(p)
            if self._tty:
                self._stream.write("\r\033[K" + line)
                if p.phase == "done":
                    self._stream.write("\n")
            else:
                self._stream.write(line + "\n")
            self._stream.flush()

    @staticmethod
    def line(p: Progress) -> str:
        width = 24
        done = p.services_decided / p.services_seen if p.services_seen else 0.0
        bar = "#" * int(width * done) + "-" * (width - int(width * done))
        counts = " ".join(f"{s}={n}" for s, n in sorted(p.counts.items()))
        waiting = f" deployments waiting={p.deployments_waiting}" if p.deployments_waiting else ""
        return (
            f"[{bar}] {p.phase}: {p.services_decided}/{p.services_seen} services, "
            f"{p.places_done}/{p.places} account-regions{waiting} {counts}"
        ).rstrip()
