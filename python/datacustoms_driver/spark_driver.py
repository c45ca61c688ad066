"""The shard protocol on Spark: one Spark task per ``map`` task, ``finalize`` on the
driver.

Locally use ``local[N,F]`` (F attempts per task): plain ``local[N]`` does not retry a
failed task. On a cluster set ``spark.task.maxFailures``. Set ``PYSPARK_PYTHON`` to the
driver's interpreter. Speculative attempts are harmless (the first to commit wins).
Security: ``spark.local.dir`` on an encrypted, private volume,
``spark.io.encryption.enabled`` and ``spark.authenticate``.
"""

from __future__ import annotations

from typing import List

from . import call, run_plan


def run(planned: dict, binary: str, spark_context=None) -> dict:
    sc = spark_context
    if sc is None:
        from pyspark import SparkContext

        sc = SparkContext.getOrCreate()

    def remote(step: dict, argvs: List[List[str]]) -> None:
        n = len(argvs)
        # call() raises on failure, which fails the Spark task (and Spark retries it).
        sc.parallelize(range(n), n).map(lambda i: call(argvs[i])).collect()

    return run_plan(planned, binary, remote)
