"""Moto's server in a process of its own, for the backfill bench.

Why a process: moto answers every request in Python, and a DescribeServices of ten services costs it
milliseconds of CPU (its model-driven response serializer, ``moto.core.serialize``). Run as a thread
of the bench's process (as it was), it shared one GIL with the counting proxy's threads (one per
client connection, each reading, forwarding and writing every request) and with the seeding: every
hop of a request waited for the GIL behind moto's serializing, and moto behind them. py-spy on the
bench's process: moto's handler threads held the GIL 52% of the samples, the proxy's 6%, the seeding
14%; a serial DescribeServices took 25-35 ms through the proxy (latency 0) against 10-15 ms from a
quiet process. In a child process moto has a GIL (and, when the machine has one free, a core) of its
own; the proxy and the tools' requests reach it over loopback TCP as before.

Seeding stays in process, in moto's: the parent sends the fleet's plan through a pipe and the child
writes it straight into its own ECS backend (``fleet.seed_backend``: what the API calls would
create, without 11,000 HTTP requests). Everything else (reset, the network, STS) goes over HTTP.

The child applies the harness's patches to moto before it serves (:mod:`bench.moto_patches`,
``patched=False`` to measure without them). Both tools reach this same server through the same
proxy: nothing here favours one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from . import fleet

START_TIMEOUT = 120.0  # seconds for the child to import moto and listen
SEED_TIMEOUT = 600.0  # seconds for the large fleet's seeding
BENCH_ROOT = Path(__file__).resolve().parents[1]  # the directory holding the bench package


class MotoProcessError(RuntimeError):
    """The child failed: its traceback, or that it did not answer."""


def serve(conn: Connection, patched: bool) -> None:
    """The child: moto's threaded server on a free loopback port, then the parent's commands."""
    import logging

    from moto.server import ThreadedMotoServer

    from . import moto_patches

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    applied = moto_patches.apply() if patched else []
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    conn.send(("ready", str(host), int(port), applied))
    try:
        while True:
            try:
                command, *args = conn.recv()
            except EOFError:  # the parent is gone
                break
            if command == "stop":
                break
            try:
                conn.send(("done", _run(command, args)))
            except Exception:  # the parent raises it, with the child's traceback
                conn.send(("error", traceback.format_exc()))
    finally:
        server.stop()


def _run(command: str, args: list[Any]) -> Any:
    if command == "seed":
        from moto.ecs.models import ecs_backends

        plan, account, tag_key, sidecar, net, region = args
        began = time.perf_counter()
        fleet.seed_backend(plan, ecs_backends[account][region], account, tag_key, sidecar, net, region)
        return time.perf_counter() - began
    raise ValueError(f"unknown command {command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.moto_process --fd N [--unpatched]``: the child, talking over fd N."""
    parser = argparse.ArgumentParser(prog="python -m bench.moto_process")
    parser.add_argument("--fd", type=int, required=True, help="the parent's socket (inherited)")
    parser.add_argument("--unpatched", action="store_true", help="moto as installed (no bench.moto_patches)")
    args = parser.parse_args(argv)
    serve(Connection(args.fd), patched=not args.unpatched)
    return 0


class MotoProcess:
    """``with MotoProcess() as moto:`` moto's server listens on ``moto.address`` in a child process
    (``python -m bench.moto_process``: a fresh interpreter, nothing shared with the bench's threads)
    until the block ends."""

    def __init__(self, *, patched: bool = True) -> None:
        self.patched = patched
        self.address: tuple[str, int] = ("", 0)
        self.patches: list[str] = []  # what the child patched (bench.moto_patches)
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> MotoProcess:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_ROOT), env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "bench.moto_process", "--fd", str(theirs.fileno())]
        try:
            self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                [*command, *(() if self.patched else ("--unpatched",))],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()  # the child has its own copy
        self._conn = Connection(ours.detach())
        try:
            _, host, port, applied = self._answer(START_TIMEOUT)
        except BaseException:
            self.__exit__()
            raise
        self.address, self.patches = (host, port), list(applied)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the child is gone already
                self._conn.send(("stop",))
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.terminate()
                self._process.wait(timeout=10)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def seed(
        self,
        plan: fleet.Plan,
        account: str,
        tag_key: str,
        sidecar: Mapping[str, Any],
        net: dict[str, Any],
        region: str = fleet.REGION,
    ) -> float:
        """The fleet into the child's ECS backend of ``account`` and ``region``; the seconds it took."""
        assert self._conn is not None, "use MotoProcess in a with block"
        self._conn.send(("seed", plan, account, tag_key, dict(sidecar), net, region))
        _, seconds = self._answer(SEED_TIMEOUT)
        return float(seconds)

    def _answer(self, timeout: float) -> tuple[Any, ...]:
        assert self._conn is not None
        assert self._process is not None
        if not self._conn.poll(timeout):
            raise MotoProcessError(f"moto's process did not answer within {timeout:.0f} s")
        try:
            answer: tuple[Any, ...] = self._conn.recv()
        except EOFError as exc:
            raise MotoProcessError(f"moto's process exited (code {self._process.poll()})") from exc
        if answer[0] == "error":
            raise MotoProcessError(f"moto's process failed:\n{answer[1]}")
        return answer


if __name__ == "__main__":
    sys.exit(main())
