#!/usr/bin/env python3
"""The whole `preprocess` job through the service against an astropy + numpy loop doing the same
work on the same FITS files, in the same run.

Data: N one-dimensional FITS spectra written by astropy into a temporary folder (primary image,
float32 flux, linear WCS CRVAL1/CDELT1/CRPIX1 with a different start, step, reference pixel and
length per file, 3,000-4,000 points, a continuum with a slope, a Gaussian absorption line near
H-alpha and noise; seeded numpy RNG), uploaded into the user's storage with `PUT /api/files`
(not timed).

vocloud: a release `vocloud serve` on a fresh data folder (benches/som/job.py's `Service`), then
for each run `POST /uws/preprocess` (input = the folder, wave_min/wave_max inside every file's
range, bins, scale=linear, normalize=median) with PHASE=RUN and blocking WAIT until COMPLETED; the
time from the POST to the COMPLETED answer is what the user waits for (listing and reading the
files, the grid, writing matrix.fits, index.vot, sample.png, preprocess.json, the service's own
bookkeeping).

Reference: the loop a user would write: for each file astropy.io.fits reads flux and header, the
wavelengths come from the WCS, numpy.interp puts the flux on the same grid (float64), the row is
divided by its median, the rows are stacked into an N x bins float32 array written as a FITS
image. Once in one process (the issue's "astropy loop"), once with multiprocessing.Pool(2)
(the same function per file; pool start-up included). The median is vocloud's: the element at
index bins // 2 of the sorted row (numpy.median would average the two middle ones of an even
bins), so the comparison checks the interpolation, not the median convention.

Runs are interleaved (job, loop, pool, job, loop, pool, ...) so all three see the same machine.
The results of the last job are compared with the reference matrix row by row (matched by name
through index.vot): max relative and absolute difference.

Usage (build the release binary first: cargo build --release --bin vocloud):
  target/pyenv/bin/python benches/ml/preprocess.py [--files 5000] [--runs 3] [--bins 2000]
      [--seed 1] [--out FILE.json]
"""

import argparse
import concurrent.futures
import importlib.util
import io
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# The service helpers of the som bench (start `vocloud serve`, token, requests, UWS phase).
_spec = importlib.util.spec_from_file_location("som_job", os.path.join(ROOT, "benches", "som", "job.py"))
som_job = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(som_job)
Service, phase = som_job.Service, som_job.phase

# Every file covers at least [START_MAX, START_MIN + (LEN_MIN - 1) * STEP_MIN] = [6230, 6739.8] Å,
# so the grid needs no masking or gap filling on either side (checked per file).
START_MIN, START_MAX = 6200.0, 6230.0
STEP_MIN, STEP_MAX = 0.18, 0.22
LEN_MIN, LEN_MAX = 3000, 4000
WAVE_MIN, WAVE_MAX = 6240.0, 6730.0
FOLDER = "bench/preprocess"


# --- data -----------------------------------------------------------------------------------

def write_spectra(folder, n, seed):
    """N seeded 1-D FITS spectra; returns their file names (sorted, as vocloud lists them)."""
    from astropy.io import fits
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        length = int(rng.integers(LEN_MIN, LEN_MAX + 1))
        start = rng.uniform(START_MIN, START_MAX)
        step = rng.uniform(STEP_MIN, STEP_MAX)
        crpix = float(rng.integers(1, 11))
        wave = start + step * np.arange(length)
        assert wave[0] < WAVE_MIN and wave[-1] > WAVE_MAX, (i, wave[0], wave[-1])
        centre = 6563.0 + rng.uniform(-3.0, 3.0)
        depth, sigma = rng.uniform(0.2, 0.8), rng.uniform(1.0, 4.0)
        level, slope = rng.uniform(500.0, 2000.0), rng.uniform(-3e-4, 3e-4)
        flux = level * (1.0 + slope * (wave - 6500.0)) * (1.0 - depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2))
        flux *= 1.0 + rng.normal(0.0, rng.uniform(0.005, 0.02), length)
        hdu = fits.PrimaryHDU(flux.astype(np.float32))
        hdu.header["CTYPE1"] = "WAVE"
        hdu.header["CUNIT1"] = "Angstrom"
        hdu.header["CRPIX1"] = crpix
        hdu.header["CRVAL1"] = start + step * (crpix - 1.0)
        hdu.header["CDELT1"] = step
        name = f"spec_{i:06d}.fits"
        hdu.writeto(os.path.join(folder, name))
        names.append(name)
    return names


def upload(service, folder, names, threads=4):
    def one(name):
        with open(os.path.join(folder, name), "rb") as f:
            status = service.request("PUT", f"/api/files/{FOLDER}/{name}", f.read())[0]
        assert status in (200, 201, 204), (name, status)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, names))


# --- the reference ----------------------------------------------------------------------------

def the_grid(bins):
    """vocloud's grid: wave_min + step * i, step = (wave_max - wave_min) / (bins - 1), in f64."""
    return WAVE_MIN + (WAVE_MAX - WAVE_MIN) / (bins - 1) * np.arange(bins, dtype=np.float64)


def one_file(path, grid):
    """One spectrum onto the grid, divided by its median: what the loop does per file."""
    from astropy.io import fits
    with fits.open(path) as hdul:
        header = hdul[0].header
        flux = hdul[0].data.astype(np.float64)
    pixels = np.arange(1, flux.size + 1, dtype=np.float64)
    wave = header["CRVAL1"] + header["CDELT1"] * (pixels - header.get("CRPIX1", 1.0))
    row = np.interp(grid, wave, flux)
    median = np.partition(row, row.size // 2)[row.size // 2]  # vocloud's median of an even count
    return (row / median).astype(np.float32)


_GRID = None


def _pool_init(bins):
    global _GRID
    _GRID = the_grid(bins)


def _pool_one(path):
    return one_file(path, _GRID)


def write_matrix(path, rows):
    from astropy.io import fits
    fits.PrimaryHDU(rows).writeto(path, overwrite=True)


def astropy_loop(paths, bins, out):
    started = time.perf_counter()
    grid = the_grid(bins)
    rows = np.empty((len(paths), bins), dtype=np.float32)
    for i, path in enumerate(paths):
        rows[i] = one_file(path, grid)
    write_matrix(out, rows)
    return time.perf_counter() - started, rows


def astropy_pool(paths, bins, out, processes=2):
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes, initializer=_pool_init, initargs=(bins,)) as pool:
        rows = np.stack(pool.map(_pool_one, paths, chunksize=max(1, len(paths) // (processes * 8))))
    write_matrix(out, rows)
    return time.perf_counter() - started, rows


# --- the job ----------------------------------------------------------------------------------

def run_job(service, bins):
    form = urllib.parse.urlencode(dict(input=FOLDER, wave_min=WAVE_MIN, wave_max=WAVE_MAX, bins=bins,
                                       scale="linear", normalize="median", PHASE="RUN")).encode()
    started = time.perf_counter()
    status, headers, body = service.request("POST", "/uws/preprocess", form,
                                            {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303, (status, body)
    location = next(v for k, v in headers.items() if k.lower() == "location")
    url = location.replace(service.base, "")
    doc = service.request("GET", url)[2]
    while phase(doc) in ("PENDING", "QUEUED", "EXECUTING"):
        doc = service.request("GET", f"{url}?WAIT=60&PHASE={phase(doc)}")[2]
    seconds = time.perf_counter() - started
    assert phase(doc) == "COMPLETED", doc.decode()
    return seconds, url


def job_results(service, url):
    from astropy.io import fits
    from astropy.io.votable import parse_single_table
    matrix = fits.open(io.BytesIO(service.request("GET", f"{url}/results/matrix.fits")[2]))
    index = parse_single_table(io.BytesIO(service.request("GET", f"{url}/results/index.vot")[2])).to_table()
    summary = json.loads(service.request("GET", f"{url}/results/preprocess.json")[2])
    rows = np.asarray(matrix[0].data, dtype=np.float32)
    grid = np.asarray(matrix["WAVELENGTH"].data, dtype=np.float64) if "WAVELENGTH" in matrix else None
    return rows, grid, index, summary


def compare(job_rows, job_grid, index, names, reference, bins):
    """Job rows matched to the reference by name through index.vot."""
    text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
    row_of = {text(n): int(r) for n, r in zip(index["name"], index["row"])}
    dropped = [n for n in names if row_of.get(n, -1) < 0]
    missing = [n for n in names if n not in row_of]
    pairs = [(i, row_of[n]) for i, n in enumerate(names) if row_of.get(n, -1) >= 0]
    ref = reference[[i for i, _ in pairs]].astype(np.float64)
    job = job_rows[[r for _, r in pairs]].astype(np.float64)
    diff = np.abs(job - ref)
    rel = diff / np.maximum(np.abs(ref), np.finfo(np.float32).tiny)
    worst = np.unravel_index(np.argmax(rel), rel.shape) if rel.size else (0, 0)
    return dict(
        compared_rows=len(pairs), job_rows=int(job_rows.shape[0]), dropped=len(dropped), missing=len(missing),
        masked_points=int(np.sum(index["masked"])),
        max_relative_difference=float(rel.max()) if rel.size else None,
        mean_relative_difference=float(rel.mean()) if rel.size else None,
        max_absolute_difference=float(diff.max()) if diff.size else None,
        worst=dict(name=names[pairs[worst[0]][0]], bin=int(worst[1]), job=float(job[worst]), reference=float(ref[worst]))
        if rel.size else None,
        grid_max_abs_difference=float(np.abs(job_grid - the_grid(bins)).max()) if job_grid is not None else None,
    )


# --- main -------------------------------------------------------------------------------------

def stats(values):
    return dict(seconds=values, best=min(values), median=statistics.median(values))


def git_revision():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout
        return head.strip() + ("+dirty" if dirty.strip() else "")
    except OSError:
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=5000, help="spectra (one FITS file each)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--bins", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="write the figures as JSON here")
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "vocloud"),
                   help="the vocloud binary to time (default: this checkout's release build)")
    a = p.parse_args()
    binary = a.binary
    if not os.path.exists(binary):
        sys.exit(f"{binary} is missing: cargo build --release --bin vocloud")
    import astropy

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "spectra")
        os.makedirs(folder)
        t = time.perf_counter()
        names = write_spectra(folder, a.files, a.seed)
        paths = [os.path.join(folder, n) for n in names]
        on_disk = sum(os.path.getsize(q) for q in paths)
        print(f"wrote {a.files} spectra ({on_disk / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        service = Service(data, binary)
        job_s, loop_s, pool_s = [], [], []
        try:
            t = time.perf_counter()
            upload(service, folder, names)
            print(f"uploaded in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            for r in range(a.runs):
                seconds, url = run_job(service, a.bins)
                job_s.append(seconds)
                seconds, reference = astropy_loop(paths, a.bins, os.path.join(tmp, "loop.fits"))
                loop_s.append(seconds)
                seconds, pooled = astropy_pool(paths, a.bins, os.path.join(tmp, "pool.fits"))
                pool_s.append(seconds)
                print(f"run {r + 1}: job {job_s[-1]:.2f} s, loop {loop_s[-1]:.2f} s, pool(2) {pool_s[-1]:.2f} s",
                      file=sys.stderr)
            job_rows, job_grid, index, summary = job_results(service, url)
        finally:
            service.stop()
    load_after = os.getloadavg()

    assert np.array_equal(reference, pooled), "the pool's matrix differs from the loop's"
    agreement = compare(job_rows, job_grid, index, names, reference, a.bins)
    job, loop, pool = stats(job_s), stats(loop_s), stats(pool_s)
    result = dict(
        files=a.files, bins=a.bins, runs=a.runs, seed=a.seed, bytes_on_disk=on_disk,
        grid=dict(wave_min=WAVE_MIN, wave_max=WAVE_MAX, bins=a.bins, scale="linear", normalize="median"),
        job=job, job_inside_seconds_last=summary.get("seconds"), job_summary_last=summary,
        astropy_loop=loop, astropy_pool2=pool,
        speedup_vs_loop=dict(job_best=loop["best"] / job["best"], job_median=loop["median"] / job["median"],
                             pool2_best=loop["best"] / pool["best"], pool2_median=loop["median"] / pool["median"]),
        speedup_vs_pool2=dict(job_best=pool["best"] / job["best"], job_median=pool["median"] / job["median"]),
        agreement=agreement,
        load_average_before=load_before, load_average_after=load_after, cpus=os.cpu_count(),
        binary=binary, vocloud_revision=git_revision(), python=platform.python_version(), numpy=np.__version__,
        astropy=astropy.__version__,
    )

    print(f"\n{a.files} FITS spectra ({on_disk / 1e6:.1f} MB) -> {a.files} x {a.bins} float32, "
          f"linear grid {WAVE_MIN:g}-{WAVE_MAX:g} Å, median-normalised; {a.runs} run(s), {os.cpu_count()} CPUs\n")
    print(f"| what | seconds, best of {a.runs} | seconds, median | speed-up vs astropy loop (best / median) |")
    print("|---|---|---|---|")
    lines = [("vocloud `preprocess` job (POST → COMPLETED)", job),
             ("astropy + numpy loop, 1 process", loop),
             ("astropy + numpy, multiprocessing.Pool(2)", pool)]
    for what, s in lines:
        print(f"| {what} | {s['best']:.3f} | {s['median']:.3f} | "
              f"{loop['best'] / s['best']:.1f}× / {loop['median'] / s['median']:.1f}× |")
    g = agreement
    inside = ("from the first read (files read and put on the grid in one pass)" if summary.get("streamed")
              else "after reading the files")
    print(f"\njob vs Pool(2): {result['speedup_vs_pool2']['job_best']:.1f}× (best) / "
          f"{result['speedup_vs_pool2']['job_median']:.1f}× (median); inside the job {inside} "
          f"(preprocess.json, last run): {summary.get('seconds', float('nan')):.3f} s, of which reading and the grid "
          f"{summary.get('seconds_to_grid', float('nan')):.3f} s, writing {summary.get('seconds_writing', float('nan')):.3f} s "
          f"(matrix.fits {summary.get('seconds_matrix_fits', float('nan')):.3f} s)")
    print(f"agreement (last job vs the loop, {g['compared_rows']} rows matched by name, {g['dropped']} dropped, "
          f"{g['missing']} missing, {g['masked_points']} grid points masked): max relative difference {g['max_relative_difference']:.3g}, "
          f"max absolute {g['max_absolute_difference']:.3g}, grid max |Δλ| {g['grid_max_abs_difference']} Å")
    print("load average (1, 5, 15 min): before " + ", ".join(f"{v:.2f}" for v in load_before)
          + "; after " + ", ".join(f"{v:.2f}" for v in load_after))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
