"""Drivers for datacustoms' shard protocol.

The engine is the ``datacustoms`` binary; a driver only schedules its steps. ``plan``
writes ``WORK/plan.json`` and prints, as its last stdout line, the steps with the argv
of each task (``{i}`` stands for the task index) and where it runs (``any`` or
``home``). Tasks exchange files under the work folder, never rows through the engine,
and get the keyring as a *source* (``file:``, ``command:`` ...), never key bytes.

Exit codes: 74 and 75 are transient (the driver retries the task); 64, 65, 66, 78 and
80 are final; 1 is a bug.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Callable, Iterable, List, Sequence

__all__ = ["Retryable", "TaskFailed", "call", "plan", "task_argvs", "run_plan", "run_local"]

TRANSIENT = (74, 75)


class Retryable(Exception):
    """A task failed in a way worth retrying (exit 74 or 75)."""


class TaskFailed(RuntimeError):
    """A task failed for good; ``code`` is its exit code."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str):
        super().__init__(f"{argv[1] if len(argv) > 1 else argv[0]} exited {code}: {stderr[-2000:]}")
        self.code = code


def call(argv: Sequence[str]) -> dict:
    """Runs one step of the protocol and returns its last stdout line as JSON.

    The binary logs to stderr and never prints values from the data, so the error text
    is safe to keep in a scheduler's log.
    """
    p = subprocess.run(list(argv), capture_output=True, text=True)
    if p.returncode in TRANSIENT:
        raise Retryable(p.stderr[-2000:])
    if p.returncode != 0:
        raise TaskFailed(argv, p.returncode, p.stderr)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    return json.loads(lines[-1]) if lines else {}


def plan(binary: str, pipeline: str, work: str, args: Iterable[str] = ()) -> dict:
    """``datacustoms plan``: freezes the run into ``WORK/plan.json``; returns its steps."""
    return call([binary, "plan", pipeline, "--work", work, *args])


def task_argvs(step: dict, binary: str, extra: Sequence[str] = ()) -> List[List[str]]:
    """The argv of each task of a step, with this machine's binary and extra flags."""
    out = []
    for i in range(step["tasks"]):
        argv = [a.replace("{i}", str(i)) for a in step["argv"]]
        out.append([binary, *extra, *argv[1:]])
    return out


def run_plan(
    planned: dict,
    binary: str,
    run_remote: Callable[[dict, List[List[str]]], None],
    extra: Sequence[str] = (),
) -> dict:
    """Runs every step of a plan in order: ``any`` steps through ``run_remote`` (all
    tasks of a step, which must each succeed before the next step starts), ``home``
    steps here, on the driver, beside the keyring and the ledgers. Returns the last
    step's summary (``finalize`` prints the export's)."""
    last: dict = {}
    for step in planned["steps"]:
        argvs = task_argvs(step, binary, extra)
        if step["where"] == "home":
            for argv in argvs:
                last = call(argv)
        else:
            run_remote(step, argvs)
    return last


def run_local(planned: dict, binary: str, workers: int = 2, retries: int = 2) -> dict:
    """The protocol with a local process pool, as ``run --workers`` does in Rust."""
    from concurrent.futures import ThreadPoolExecutor

    def one(argv: List[str]) -> dict:
        for attempt in range(retries + 1):
            try:
                return call(argv)
            except Retryable:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def remote(step: dict, argvs: List[List[str]]) -> None:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, argvs))

    return run_plan(planned, binary, remote)


def default_binary() -> str:
    """``$DATACUSTOMS_BIN``, else ``datacustoms`` on the PATH."""
    return os.environ.get("DATACUSTOMS_BIN", "datacustoms")
