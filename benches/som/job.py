#!/usr/bin/env python3
"""The whole `som` job through the service against somoclu's training, same data, same run.

What the user waits for: a release `vocloud serve` on a fresh data folder, the spectra uploaded
as one 2-D FITS image (one spectrum per row, linear WCS; the seeded five-class H-alpha set of
docs/refs/som.md from compare.py), then for each run `POST /uws/som` with PHASE=RUN and blocking
`WAIT` until the job is COMPLETED; the time from the POST to the COMPLETED answer is the job's
wall time (reading the input, training, quality, every result file, the service's own
bookkeeping). somoclu 1.7.6 trains on the same matrix with the same map and schedule (10 batch
epochs, Gaussian, compact support, radius min(rows, cols)/2 -> 1), initial codebook = M random
rows of the data as the job's `init=random`; its training time alone is measured (no reading, no
outputs). QE/TE8 of both come from the same float64 code (compare.quality).

Usage (somoclu into target/pyenv: pip install setuptools wheel; pip install --no-build-isolation
somoclu==1.7.6):
  target/pyenv/bin/python benches/som/job.py [--size 2000x1000] [--map 30x30] [--runs 5] [--binary B] [--baseline B0] [--out F]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the shared spectra generator, initial codebook and quality code)

ROOT = compare.ROOT


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A release `vocloud serve` on a temporary data folder, talked to with a bearer token."""

    def __init__(self, data_dir, binary):
        self.binary = binary
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, VOCLOUD_ADMIN_PASSWORD="bench-password", RUST_LOG="warn")
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--bind", f"127.0.0.1:{self.port}", "--data-dir", data_dir],
            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data_dir, "serve.log"), "w"))
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(self.base + "/vosi/availability", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("vocloud serve did not start; see serve.log")
                time.sleep(0.1)
        out = subprocess.run([self.binary, "token", "create", "admin", "--data-dir", data_dir],
                             check=True, capture_output=True, text=True, env=env).stdout
        self.token = out.strip().split()[-1]

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {self.token}", **(headers or {})})

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=600) as r:
                return r.status, {k.title(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.title(): v for k, v in e.headers.items()}, e.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def phase(doc):
    text = doc.decode()
    start = text.index("<uws:phase>") + len("<uws:phase>")
    return text[start:text.index("</uws:phase>", start)]


def run_job(service, rows, cols):
    form = f"input=bench/spectra.fits&rows={rows}&cols={cols}&epochs=10&PHASE=RUN".encode()
    started = time.perf_counter()
    status, headers, body = service.request("POST", "/uws/som", form,
                                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303, (status, body)
    url = headers["Location"].replace(service.base, "")
    doc = service.request("GET", url)[2]
    while phase(doc) in ("PENDING", "QUEUED", "EXECUTING"):
        doc = service.request("GET", f"{url}?WAIT=60&PHASE={phase(doc)}")[2]
    seconds = time.perf_counter() - started
    assert phase(doc) == "COMPLETED", doc.decode()
    quality = json.loads(service.request("GET", f"{url}/results/quality.json")[2])
    codebook = service.request("GET", f"{url}/results/codebook.fits")[2]
    return seconds, quality, codebook


def write_fits(path, x):
    from astropy.io import fits
    hdu = fits.PrimaryHDU(x)
    hdu.header["CTYPE1"] = "WAVE"
    hdu.header["CRPIX1"] = 1.0
    hdu.header["CRVAL1"] = 6250.0
    hdu.header["CDELT1"] = 520.0 / (x.shape[1] - 1)
    hdu.writeto(path, overwrite=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="2000x1000")
    p.add_argument("--map", default="30x30")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--somoclu-runs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    p.add_argument("--binary", help="the vocloud binary to run (default: the release build under "
                   "$CARGO_TARGET_DIR or target/; implies --no-build)")
    p.add_argument("--baseline", help="another vocloud binary (say, main's) whose jobs alternate with the "
                   "measured one's on its own service, so both see the same machine load")
    p.add_argument("--out", help="write the figures as JSON here")
    a = p.parse_args()
    n, d = map(int, a.size.split("x"))
    rows, cols = map(int, a.map.split("x"))
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    binary = a.binary or os.path.join(target, "release", "vocloud")
    if not a.no_build and not a.binary:
        subprocess.run(["cargo", "build", "--release", "-q", "--bin", "vocloud"], cwd=ROOT, check=True)
    x, labels = compare.spectra(n, d, a.seed)

    with tempfile.TemporaryDirectory() as tmp:
        fits_path = os.path.join(tmp, "spectra.fits")
        write_fits(fits_path, x)
        services = []
        try:
            for i, b in enumerate([binary] + ([a.baseline] if a.baseline else [])):
                data = os.path.join(tmp, f"data{i}")
                os.makedirs(data)
                services.append(Service(data, b))
                with open(fits_path, "rb") as f:
                    status = services[-1].request("PUT", "/api/files/bench/spectra.fits", f.read())[0]
                assert status in (200, 201, 204), status
            runs = [[run_job(s, rows, cols) for s in services] for _ in range(a.runs)]
        finally:
            for s in services:
                s.stop()
        jobs = [r[0] for r in runs]
        baseline_jobs = [r[1] for r in runs] if a.baseline else []
        with open(os.path.join(tmp, "codebook.fits"), "wb") as f:
            f.write(jobs[-1][2])
        from astropy.io import fits
        w_job = fits.getdata(os.path.join(tmp, "codebook.fits")).astype(np.float32)

    somoclu_seconds = []
    for r in range(a.somoclu_runs):
        w0 = compare.initial_codebook(x, rows * cols, seed=12345 + r)
        per_epoch, w_somoclu = compare.run_somoclu(x, w0, rows, cols, 10)
        somoclu_seconds.append(per_epoch * 10)

    job_seconds = [j[0] for j in jobs]
    q = jobs[-1][1]
    result = dict(
        size=a.size, map=a.map, runs=a.runs,
        job_seconds=job_seconds, job_seconds_min=min(job_seconds), job_seconds_median=statistics.median(job_seconds),
        job_inside_seconds=q["seconds"],
        job_inside_medians={k: statistics.median(j[1]["seconds"][k] for j in jobs)
                            for k in ("reading", "training", "quality", "outputs")},
        job_epochs=[{k: h[k] for k in ("epoch", "radius", "seconds", "bmu_seconds")} for h in q["history"]],
        job_quality=compare.quality(x, w_job, labels, rows, cols),
        load_average=os.getloadavg(),
    )
    if somoclu_seconds:  # --somoclu-runs 0 times the job alone (profiling, A/B against --baseline)
        result.update(
            somoclu_training_seconds=somoclu_seconds, somoclu_training_seconds_min=min(somoclu_seconds),
            speedup_median=statistics.median(somoclu_seconds) / statistics.median(job_seconds),
            speedup_best=min(somoclu_seconds) / min(job_seconds),
            somoclu_quality=compare.quality(x, w_somoclu, labels, rows, cols))
    if baseline_jobs:
        seconds = [j[0] for j in baseline_jobs]
        result["baseline"] = dict(
            binary=a.baseline, job_seconds=seconds, job_seconds_min=min(seconds),
            job_seconds_median=statistics.median(seconds),
            job_inside_medians={k: statistics.median(j[1]["seconds"][k] for j in baseline_jobs)
                                for k in ("reading", "training", "quality", "outputs")})
    print(json.dumps(result, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    if not somoclu_seconds:
        return
    print(f"\n| size | map | whole job s (median, min of {a.runs}) | somoclu training s | speed-up (medians) | "
          "QE job / somoclu | TE8 job / somoclu |")
    print("|---|---|---|---|---|---|---|")
    jq, sq = result["job_quality"], result["somoclu_quality"]
    print(f"| {a.size} | {a.map} | {result['job_seconds_median']:.3f} ({result['job_seconds_min']:.3f}) | "
          f"{statistics.median(somoclu_seconds):.2f} | {result['speedup_median']:.0f}x | "
          f"{jq['qe']:.4f} / {sq['qe']:.4f} | {jq['te8']:.4f} / {sq['te8']:.4f} |")


if __name__ == "__main__":
    sys.exit(main())
