"""A fleet run's survey across many places (account, Region) in separate processes, as c7n-org runs
accounts: each place is paced by its own ECS buckets, and on a machine with several cores no place
waits for another's CPU (one process's threads share one interpreter lock).

The places are cut into at most ``processes`` runs of places side by side (an account's regions
together, so that its member role is assumed once), one child process each, forked
from the run (Linux: a child starts with every module, setting and plan of the parent already in
memory, and builds its own clients). A child surveys its group as a run in one process does and
answers through a pipe: its progress (a few times a second), then its rows and what its
``handovers`` took (the requests counted, the plans learned), which the parent merges. A child that
failed or died leaves each of its places one FAILED row (``failed``), never a traceback; the other
children's rows stand. The module knows nothing of what a row or a progress is: plain, picklable
data of the caller's.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing import connection
from multiprocessing.connection import Connection
from typing import Any, Protocol

PROGRESS_EVERY = 0.25  # seconds between a child's progress messages (and the parent's looks)

Place = tuple[str, str]  # (account, region)
Tell = Callable[[Any, bool], None]  # a child's progress, to the parent (True: now, not a few a second)


class Handover(Protocol):
    """State a child gathers for the parent: emptied in the child as it starts (``forget``), taken at
    its end (``take``: plain, picklable data), and merged into the parent's (``merge``)."""

    def forget(self) -> None: ...

    def take(self) -> Any: ...

    def merge(self, taken: Any) -> None: ...


def available() -> bool:
    """Forked children are only safe where fork is the platform's own way (Linux); elsewhere a run
    surveys its places in threads of one process."""
    return sys.platform.startswith("linux")


@dataclass
class _Child:
    number: int
    process: Any  # multiprocessing's Process (forked)
    places: list[Place]


def survey(
    places: Sequence[Place],
    processes: int,
    survey_group: Callable[[list[Place], Tell], list[Any]],
    failed: Callable[[Place, str], Any],
    handovers: Sequence[Handover],
    progress: Callable[[dict[int, Any]], None],
) -> list[Any]:
    """Every place surveyed, in at most ``processes`` children (``survey_group`` in each); the rows
    of all. ``progress``: each child's latest progress, as it comes."""
    size = -(-len(places) // processes)  # an account's regions side by side: one AssumeRole a child
    groups = [list(places[start : start + size]) for start in range(0, len(places), size)]
    context = multiprocessing.get_context("fork")
    for stream in (sys.stdout, sys.stderr):  # nothing buffered is written again by a child
        stream.flush()
    children: dict[Connection, _Child] = {}
    try:
        for number, group in enumerate(groups):
            answers, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(survey_group, group, handovers, send), daemon=True)
            process.start()
            send.close()
            children[answers] = _Child(number, process, group)
        return _gathered(children, failed, handovers, progress)
    finally:
        for answers, child in children.items():  # an interrupted run leaves no child behind
            if child.process.is_alive():
                child.process.terminate()
            child.process.join()
            answers.close()


def _gathered(
    children: dict[Connection, _Child],
    failed: Callable[[Place, str], Any],
    handovers: Sequence[Handover],
    progress: Callable[[dict[int, Any]], None],
) -> list[Any]:
    """The children's answers as they come: progress, then each one's rows and handovers; a child
    that ended without its answer: each of its places FAILED."""
    rows: list[Any] = []
    latest: dict[int, Any] = {}
    waiting = dict(children)
    while waiting:
        for ready in connection.wait(list(waiting), timeout=PROGRESS_EVERY):
            assert isinstance(ready, Connection)
            child = waiting[ready]
            try:
                kind, answer = ready.recv()
            except (EOFError, OSError):  # the child died (killed, out of memory) before its answer
                child.process.join()
                kind, answer = "failed", f"its survey process ended (exit {child.process.exitcode})"
            except Exception as exc:  # an answer that cannot be read
                kind, answer = "failed", f"its survey process's answer was lost ({type(exc).__name__})"
            if kind == "progress":
                latest[child.number] = answer
                continue
            del waiting[ready]
            if kind == "failed":
                rows.extend(failed(place, answer) for place in child.places)
                continue
            found, taken, last = answer
            if last is not None:  # None: the child told no progress
                latest[child.number] = last
            for handover, part in zip(handovers, taken, strict=True):
                handover.merge(part)
            rows.extend(found)
        progress(latest)
    return rows


def _child(
    survey_group: Callable[[list[Place], Tell], list[Any]],
    places: list[Place],
    handovers: Sequence[Handover],
    send: Connection,
) -> None:
    """In the child: its places surveyed, then its rows, handovers and last progress sent. Nothing
    is printed: a failure is an answer too."""
    last: list[Any] = [None]
    sent, sending = [0.0], threading.Lock()

    def tell(state: Any, now: bool) -> None:
        with sending:
            last[0] = state
            if now or time.monotonic() - sent[0] >= PROGRESS_EVERY:
                sent[0] = time.monotonic()
                send.send(("progress", state))

    try:
        for handover in handovers:
            handover.forget()
        rows = survey_group(places, tell)
        with sending:
            send.send(("done", (rows, [handover.take() for handover in handovers], last[0])))
    except BaseException as exc:  # the parent says it in one line, for each of these places
        with contextlib.suppress(BaseException):  # else the parent sees the pipe closed
            send.send(("failed", f"its survey process failed ({type(exc).__name__})"))
    finally:
        send.close()
