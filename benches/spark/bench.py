"""What a `spark` job costs on top of running `spark-submit` by hand, in the same run.

    target/pyenv/bin/python benches/spark/bench.py [--vocloud BIN] [--rounds N] [--master local[2]]

Starts `vocloud serve` (a private data folder, SQLite, one local worker) with `[spark]` pointing
at the pyspark of this Python, and alice holding the `spark` grant. Each round runs
tests/spark/probe.py (`ok` mode: a sum and a line count on Spark, a small JSON result) twice,
in alternating order: by hand with `spark-submit`, and as a job (POST with PHASE=RUN, then
blocking WAITs). For the job it reports:

- run->executing: from the POST until the job is EXECUTING (queue, claim, the attempt's folders);
- spark-submit: how long spark-submit ran inside the job (the kind's note in spark-driver.log);
- around: EXECUTING->COMPLETED minus that (building the command, starting and ending the process
  group, the driver log, recording the outcome);
- completed->listed: from seeing COMPLETED until the results list (with summary.json) is read;
- total: POST to results listed, beside the hand-run spark-submit.

Spark's own start-up dominates both; the overhead is total minus hand. Needs Java 17 and pyspark
in this Python (./x setup --test).
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE = os.path.join(ROOT, "tests", "spark", "probe.py")
SUBMIT = os.path.join(os.path.dirname(sys.executable), "spark-submit")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_binary():
    for profile in ("release", "debug"):
        path = os.path.join(ROOT, "target", profile, "vocloud")
        if os.path.exists(path):
            return path
    sys.exit("build vocloud first (cargo build --release)")


def spark_env(scratch):
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "JAVA_HOME") if k in os.environ}
    env.update(PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_LOCAL_DIRS=scratch)
    return env


def by_hand(master, scratch, out):
    os.makedirs(out, exist_ok=True)
    command = [SUBMIT, "--master", master, "--conf", f"spark.ui.port={free_port()}", PROBE, "ok", out]
    start = time.monotonic()
    subprocess.run(command, env=spark_env(scratch), cwd=out, check=True, capture_output=True)
    return time.monotonic() - start


def phase(doc):
    return re.search(r"<uws:phase>(\w+)</uws:phase>", doc).group(1)


def as_job(session, base):
    start = time.monotonic()
    created = session.post(
        f"{base}/uws/spark",
        data={"program": "prog/probe.py", "args": '["ok", "{results}"]', "PHASE": "RUN"},
        allow_redirects=False,
    )
    url = created.headers["Location"]
    marks, doc = {}, session.get(url).text
    while phase(doc) in ("PENDING", "QUEUED", "EXECUTING"):
        if phase(doc) == "EXECUTING" and "executing" not in marks:
            marks["executing"] = time.monotonic()
        doc = session.get(url, params={"WAIT": 30, "PHASE": phase(doc)}).text
    marks.setdefault("executing", time.monotonic())
    completed = time.monotonic()
    assert phase(doc) == "COMPLETED", doc
    listing = session.get(f"{url}/results").text
    assert "summary.json" in listing, listing
    listed = time.monotonic()
    log = session.get(f"{url}/results/spark-driver.log").text
    submit = float(re.search(r"^vocloud: spark-submit exit code 0 after ([\d.]+) s$", log, re.M).group(1))
    return {
        "run->executing": marks["executing"] - start,
        "spark-submit": submit,
        "around": completed - marks["executing"] - submit,
        "completed->listed": listed - completed,
        "total": listed - start,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocloud", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    binary = args.vocloud or default_binary()
    work = tempfile.mkdtemp(prefix="vocloud-spark-bench-")
    data, scratch = os.path.join(work, "data"), os.path.join(work, "spark-local")
    config = os.path.join(work, "vocloud.toml")
    with open(config, "w") as f:
        f.write(
            f"[spark]\nsubmit = {json.dumps(SUBMIT)}\npython = {json.dumps(sys.executable)}\n"
            f"master = {json.dumps(args.master)}\n\n[spark.env]\nSPARK_LOCAL_IP = \"127.0.0.1\"\n"
            f"SPARK_LOCAL_DIRS = {json.dumps(scratch)}\n"
        )
    cli = [binary, "--data-dir", data, "--config", config]
    env = dict(os.environ, RUST_LOG="warn", VOCLOUD_ADMIN_PASSWORD="admin-password")
    subprocess.run(cli + ["user", "add", "alice", "--password-stdin"], input=b"alice-password\n", env=env, check=True, capture_output=True)
    subprocess.run(cli + ["user", "grant", "alice", "spark"], env=env, check=True, capture_output=True)
    os.makedirs(os.path.join(data, "storage", "users", "alice", "prog"))
    shutil.copy(PROBE, os.path.join(data, "storage", "users", "alice", "prog", "probe.py"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "serve.log"), "w")
    serve = subprocess.Popen(cli + ["serve", "--local-workers", "1", "--bind", f"127.0.0.1:{port}"], env=env, stderr=log)
    try:
        session = requests.Session()
        session.auth = ("alice", "alice-password")
        for _ in range(600):
            try:
                session.get(f"{base}/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        rows = []
        for round in range(args.rounds):
            order = ["hand", "job"] if round % 2 == 0 else ["job", "hand"]
            row = {}
            for what in order:
                if what == "hand":
                    row["hand"] = by_hand(args.master, scratch, os.path.join(work, f"hand-{round}"))
                else:
                    row.update(as_job(session, base))
            rows.append(row)
            print(f"round {round + 1} ({' then '.join(order)}): " + ", ".join(f"{k} {v:.2f} s" for k, v in row.items()), flush=True)
        print(f"\nmedians over {args.rounds} rounds ({args.master}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}):")
        for key in ("hand", "total", "run->executing", "spark-submit", "around", "completed->listed"):
            print(f"  {key:18} {statistics.median(r[key] for r in rows):7.2f} s")
        overhead = statistics.median(r["total"] - r["hand"] for r in rows)
        print(f"  {'total - hand':18} {overhead:7.2f} s")
    finally:
        serve.terminate()
        serve.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
