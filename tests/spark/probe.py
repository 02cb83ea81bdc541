"""A PySpark program for tests/api/spark.rs.

    probe.py MODE RESULTS [INPUT | ARG]...

MODE is `ok` (sum 1..100 on the cluster, count the lines of the inputs, and write
summary.json with what the program saw), `fail` (raise a ValueError after a Spark job),
`sleep` (tasks that sleep for ten minutes, to be aborted), or `nap` (tasks that sleep 20 s,
then as `ok`: long enough to restart the service meanwhile). In `ok` mode it also writes where it
should not: next to its results folder, into a sub-folder, and a symlink to a file outside.
"""
import json
import os
import sys
import time

from pyspark.sql import SparkSession

mode, results, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
spark = SparkSession.builder.getOrCreate()
sc = spark.sparkContext

if mode in ("sleep", "nap"):
    seconds = 600 if mode == "sleep" else 20
    sc.parallelize(range(2), 2).foreach(lambda _: time.sleep(seconds))

total = sc.parallelize(range(1, 101), 4).sum()


def check(value):
    raise ValueError(f"probe failed on request after summing to {value}")


if mode == "fail":
    check(total)

inputs = [p for p in rest if os.path.exists(p)]
lines = spark.read.text(inputs).count() if inputs else 0
summary = {
    "sum": total,
    "lines": lines,
    "argv": sys.argv[1:],
    "env_results": os.environ.get("VOCLOUD_RESULTS"),
    "env_inputs": json.loads(os.environ.get("VOCLOUD_INPUTS", "null")),
    "vocloud_env": sorted(k for k in os.environ if k.startswith("VOCLOUD_") or "DATABASE" in k),
    "master": sc.master,
}
with open(os.path.join(results, "summary.json"), "w") as f:
    json.dump(summary, f)

# Writes outside the results folder: none of these may be listed as results.
with open(os.path.join(results, "..", "outside.txt"), "w") as f:
    f.write("written next to the results folder\n")
os.makedirs(os.path.join(results, "sub"), exist_ok=True)
with open(os.path.join(results, "sub", "nested.txt"), "w") as f:
    f.write("written into a sub-folder\n")
os.symlink("/etc/hostname", os.path.join(results, "hostname.txt"))
spark.stop()
