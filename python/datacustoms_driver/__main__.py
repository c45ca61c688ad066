"""``python -m datacustoms_driver ENGINE PIPELINE --work DIR [plan options]``.

ENGINE is ``local``, ``ray`` or ``spark``. Every option after the pipeline that the
driver does not know goes to ``datacustoms plan`` (``--run-id``, ``--output``,
``--input``, ``--shards``, ``--shard-bytes``, ``--keyring`` ...). Prints the export's
summary (JSON) as its last stdout line.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import default_binary, plan, run_local


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="datacustoms-driver")
    ap.add_argument("engine", choices=["local", "ray", "spark"])
    ap.add_argument("pipeline")
    ap.add_argument("--work", required=True, help="the run's work folder (kept at home, shared with the workers)")
    ap.add_argument("--bin", default=default_binary(), help="the datacustoms binary (default: $DATACUSTOMS_BIN or datacustoms)")
    ap.add_argument("--workers", type=int, default=2, help="local: processes at once; ray: num_cpus for a local ray.init()")
    ap.add_argument("--ray-address", default=None, help="ray: the cluster to join (default: a local one, or RAY_ADDRESS)")
    ap.add_argument("--spark-master", default=None, help="spark: e.g. local[2,3]")
    args, plan_args = ap.parse_known_args(argv)

    planned = plan(args.bin, args.pipeline, args.work, plan_args)
    if args.engine == "local":
        summary = run_local(planned, args.bin, workers=args.workers)
    elif args.engine == "ray":
        import ray

        from . import ray_driver

        if args.ray_address:
            ray.init(address=args.ray_address)
        else:
            ray.init(num_cpus=args.workers, include_dashboard=False)
        try:
            summary = ray_driver.run(planned, args.bin)
        finally:
            ray.shutdown()
    else:
        from pyspark import SparkConf, SparkContext

        from . import spark_driver

        conf = SparkConf().setAppName("datacustoms")
        conf.setMaster(args.spark_master or f"local[{args.workers},3]")
        sc = SparkContext.getOrCreate(conf)
        try:
            summary = spark_driver.run(planned, args.bin, sc)
        finally:
            sc.stop()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
