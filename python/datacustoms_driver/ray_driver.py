"""The shard protocol on Ray, as Ray Core tasks.

Each ``map`` task is a Ray task running the binary on a worker, retried by Ray on the
transient exit codes (``max_retries`` with ``retry_exceptions=[Retryable]``); a retried
or duplicated attempt is harmless (the first to commit wins). ``finalize`` runs on the
driver, at home. No row passes through Ray: tasks carry argv and about 1 KB of JSON.
Ray Data is not used: it adds nothing to a file protocol and, on small clusters, its
streaming executor can stall waiting for resources.

Security: use token authentication (``RAY_AUTH_MODE=token``; KubeRay ``authOptions``),
keep the dashboard private, and point ``--temp-dir`` and object spilling at an encrypted,
pod-private volume; the work folder holds home data (raw quarantined records, vaults,
exact partials) and must be a private (0700) shared filesystem at home.
"""

from __future__ import annotations

from typing import List

from . import Retryable, call, run_plan


def run(planned: dict, binary: str, max_retries: int = 3, cpus_per_task: float = 1.0) -> dict:
    import ray

    @ray.remote(max_retries=max_retries, retry_exceptions=[Retryable])
    def task(argv: List[str]) -> dict:
        return call(argv)

    def remote(step: dict, argvs: List[List[str]]) -> None:
        cpus = max(float(step.get("cpus", 1)), cpus_per_task)
        ray.get([task.options(num_cpus=cpus).remote(a) for a in argvs])

    return run_plan(planned, binary, remote)
