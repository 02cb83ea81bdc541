#!/usr/bin/env python3
"""Ocean benchmark: vocloud's ocean kinds vs xarray + dask (threads) on the same files, same run.

    target/pyenv/bin/python benches/ocean/bench.py [--days N] [--skip-xarray] [--lock-check]

1. Generates N (default 365) daily 0.25-degree global files (720 x 1440, int16 packed with
   scale_factor/add_offset/_FillValue, zlib level 4 + shuffle, chunks 1 x 360 x 720, 2023 so the
   year has 365 days) and a 5-day climatology (73 steps) with xarray, cached in
   target/ocean-bench/data (re-used when present).
2. Starts the release `vocloud serve` (cargo build --release first) on a fresh data folder,
   hard-links the files into a user's storage, and times each job from POST (PHASE=RUN) to
   COMPLETED over UWS: ocean-timeseries for the Nino 3.4 box and for a box across the
   antimeridian, ocean-timeavg for a region and for the globe, ocean-dda for Nino 3.4.
3. Times xarray.open_mfdataset + dask (threaded scheduler) for the same five
   computations, then compares the numbers (cnt exactly, means to 1e-9).
`--lock-check` also runs the Nino 3.4 series with RAYON_NUM_THREADS=1 to show what the
netCDF library's global lock leaves of the file-level parallelism, and `--process-check` times
the global average in one server against two servers (two processes, so two netCDF locks) each
given half of the files at the same time: what splitting a job across processes would gain.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import requests
import xarray as xr

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, "target", "ocean-bench")
LAT = np.arange(-89.875, 90.0, 0.25)
LON = np.arange(-179.875, 180.0, 0.25)
SCALE, OFFSET, FILL = 0.001, 298.15, -32768
CASES = {
    "ts_nino34": ("ocean-timeseries", "-170,-5,-120,5"),
    "ts_antimeridian": ("ocean-timeseries", "160,-10,-160,10"),
    "timeavg_region": ("ocean-timeavg", "-80,0,0,60"),
    "timeavg_global": ("ocean-timeavg", "-180,-90,180,90"),
    "dda_nino34": ("ocean-dda", "-170,-5,-120,5"),
}


# ---------------------------------------------------------------- data


def land_mask():
    la, lo = np.meshgrid(LAT, LON, indexing="ij")
    blobs = [(45, -100, 25, 30), (0, 20, 30, 25), (50, 80, 25, 50), (-25, 135, 15, 20), (-80, 0, 12, 360)]
    land = np.zeros(la.shape, bool)
    for lat0, lon0, rlat, rlon in blobs:
        land |= ((la - lat0) / rlat) ** 2 + ((lo - lon0) / rlon) ** 2 < 1
    return land


def field(day, land, rng):
    la, lo = np.meshgrid(np.radians(LAT), np.radians(LON), indexing="ij")
    season = np.sin(2 * np.pi * day / 365.0)
    sst = 271.5 + 30.0 * np.cos(la) ** 2 + 2.0 * season * np.sin(la) + 0.8 * np.sin(3 * lo + day / 20.0) * np.cos(la)
    sst += rng.normal(0, 0.05, sst.shape)
    packed = np.round((sst - OFFSET) / SCALE).astype(np.int16)
    packed[land] = FILL
    packed[rng.random(packed.shape) < 0.02] = FILL  # clouds
    return packed


def write(path, data, times, units):
    ds = xr.Dataset(
        {"analysed_sst": (("time", "lat", "lon"), data)},
        coords={"time": ("time", np.asarray(times, float)), "lat": ("lat", LAT), "lon": ("lon", LON)},
    )
    ds.time.attrs.update(units=units, calendar="gregorian")
    ds.lat.attrs.update(units="degrees_north")
    ds.lon.attrs.update(units="degrees_east")
    ds.analysed_sst.attrs.update(units="kelvin", scale_factor=SCALE, add_offset=OFFSET)
    enc = {"analysed_sst": {"dtype": "int16", "_FillValue": np.int16(FILL), "zlib": True, "complevel": 4,
                            "shuffle": True, "chunksizes": (1, 360, 720)}}
    ds.to_netcdf(path + ".tmp", encoding=enc)
    os.replace(path + ".tmp", path)


def generate(days):
    data_dir = os.path.join(CACHE, "data")
    os.makedirs(f"{data_dir}/sst", exist_ok=True)
    os.makedirs(f"{data_dir}/clim", exist_ok=True)
    land, rng = land_mask(), np.random.default_rng(1)
    t0 = time.time()
    files = []
    for d in range(days):
        date = np.datetime64("2023-01-01") + np.timedelta64(d, "D")
        path = f"{data_dir}/sst/{str(date).replace('-', '')}090000-sst.nc"
        if not os.path.exists(path):
            write(path, field(d, land, rng)[None], [d + 0.375], "days since 2023-01-01 00:00:00")
        files.append(path)
    clim = f"{data_dir}/clim/clim_5day.nc"
    if not os.path.exists(clim):
        steps = np.arange(0, 365, 5)
        write(clim, np.stack([field(d + 2, land, np.random.default_rng(100 + d)) for d in steps]), steps,
              "days since 2023-01-01")
    print(f"data: {days} daily files ready in {time.time() - t0:.1f} s "
          f"({sum(os.path.getsize(f) for f in files) / 1e6:.0f} MB)", flush=True)
    return data_dir, files, clim


# ---------------------------------------------------------------- vocloud


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Vocloud:
    def __init__(self, data_dir, files, clim, env=None):
        self.home = os.path.join(CACHE, "vocloud")
        shutil.rmtree(self.home, ignore_errors=True)
        storage = os.path.join(self.home, "storage", "users", "bench")
        os.makedirs(f"{storage}/sst")
        os.makedirs(f"{storage}/clim")
        for f in files:
            os.link(f, f"{storage}/sst/{os.path.basename(f)}")
        os.link(clim, f"{storage}/clim/{os.path.basename(clim)}")
        exe = os.path.join(ROOT, "target", "release", "vocloud")
        self.port = free_port()
        env = dict(os.environ, VOCLOUD_ADMIN_PASSWORD="bench-admin", **(env or {}))
        subprocess.run([exe, "--data-dir", self.home, "user", "add", "bench", "--password-stdin"],
                       input=b"bench-password\n", check=True, env=env, capture_output=True)
        self.proc = subprocess.Popen([exe, "--data-dir", self.home, "serve", "--bind", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        self.s = requests.Session()
        self.s.auth = ("bench", "bench-password")
        for _ in range(100):
            try:
                self.s.get(f"{self.base}/uws/diag", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)

    def run(self, kind, form):
        t0 = time.time()
        r = self.s.post(f"{self.base}/uws/{kind}", data=dict(form, PHASE="RUN"), allow_redirects=False)
        assert r.status_code == 303, r.text
        url = r.headers["location"]
        phase = "QUEUED"
        while phase in ("PENDING", "QUEUED", "EXECUTING"):
            phase = self.s.get(f"{url}/phase").text.strip()
            if phase in ("PENDING", "QUEUED", "EXECUTING"):
                self.s.get(url, params={"WAIT": 30, "PHASE": phase})
        elapsed = time.time() - t0
        assert phase == "COMPLETED", (kind, form, self.s.get(f"{url}/error").text)
        return elapsed, url

    def result(self, url, name):
        r = self.s.get(f"{url}/results/{name}")
        r.raise_for_status()
        return r.content

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def run_vocloud(vc, case):
    kind, bbox = CASES[case]
    form = {"dataset": "sst", "variable": "analysed_sst", "bbox": bbox}
    if kind == "ocean-dda":
        form["climatology"] = "clim"
    elapsed, url = vc.run(kind, form)
    if kind == "ocean-timeavg":
        path = os.path.join(CACHE, f"{case}.vocloud.nc")
        with open(path, "wb") as f:
            f.write(vc.result(url, "timeavg.nc"))
        return elapsed, path
    return elapsed, json.loads(vc.result(url, "timeseries.json"))


# ---------------------------------------------------------------- xarray + dask


def box(da, bbox):
    west, south, east, north = bbox
    da = da.sel(lat=slice(south, north))
    if west <= east:
        return da.sel(lon=slice(west, east))
    idx = np.nonzero((da.lon.values >= west) | (da.lon.values <= east))[0]
    idx = np.concatenate([idx[da.lon.values[idx] >= west], idx[da.lon.values[idx] <= east]])
    return da.isel(lon=idx)


def series_stats(v):
    w = np.cos(np.radians(v.lat))
    valid = v.notnull()
    return {
        "cnt": valid.sum(("lat", "lon")),
        "min": v.min(("lat", "lon")),
        "max": v.max(("lat", "lon")),
        "mean": (v * w).sum(("lat", "lon")) / w.where(valid).sum(("lat", "lon")),
        "mean_plain": v.mean(("lat", "lon")),
        "std": v.std(("lat", "lon")),
    }


def run_xarray(case, files, clim):
    import dask

    kind, bbox = CASES[case]
    bbox = tuple(float(x) for x in bbox.split(","))
    t0 = time.time()
    with dask.config.set(scheduler="threads"):
        # parallel=True (opening files in dask threads) crashed netCDF4-python 1.7.5 with a bus error
        # on this machine, so files are opened serially; the computation runs on dask threads.
        ds = xr.open_mfdataset(files, combine="nested", concat_dim="time", parallel=False)
        v = box(ds.analysed_sst, bbox)
        if kind == "ocean-timeseries":
            out = dask.compute(series_stats(v))[0]
        elif kind == "ocean-timeavg":
            out = dask.compute({"mean": v.mean("time"), "count": v.count("time")})[0]
        else:
            c = xr.open_dataset(clim, chunks={"time": 1}).analysed_sst
            k = np.searchsorted(c.time.dt.dayofyear.values, v.time.dt.dayofyear.values, side="right") - 1
            cv = box(c, bbox).isel(time=xr.DataArray(k, dims="time")).drop_vars("time")
            d = v - cv.assign_coords(time=v.time)
            valid = d.notnull()
            w = np.cos(np.radians(d.lat))
            out = dask.compute({"cnt": valid.sum(("lat", "lon")),
                                "mean": (d * w).sum(("lat", "lon")) / w.where(valid).sum(("lat", "lon")),
                                "mean_plain": d.mean(("lat", "lon")), "std": d.std(("lat", "lon"))})[0]
    return time.time() - t0, out


# ---------------------------------------------------------------- comparison


def compare(case, got, want):
    kind, _ = CASES[case]
    if kind == "ocean-timeavg":
        g = xr.open_dataset(got)
        cnt_ok = np.array_equal(g["count"].values, want["count"].values)
        diff = float(np.nanmax(np.abs(g["mean"].values - want["mean"].values)))
        return f"counts equal: {cnt_ok}, max |mean diff| = {diff:.2e}", cnt_ok and diff < 1e-9
    rows = [r[0] for r in got["data"]]
    cnt_ok = [r["cnt"] for r in rows] == [int(x) for x in want["cnt"].values]
    low_pass = ""
    try:  # SDAP's low-pass variant, if SciPy is installed (it is not a test dependency)
        import scipy.signal
        if kind == "ocean-timeseries" and "meanLowPass" in rows[0]:
            n = len(rows)
            b, a = scipy.signal.butter(9, (3 if n - 12 <= 12 else 12) / (0.5 * n))
            ref = scipy.signal.filtfilt(b, a, want["mean"].values, padlen=min(n, len(a), len(b)))
            low_pass = f", meanLowPass vs SciPy max |diff| = {np.max(np.abs(ref - [r['meanLowPass'] for r in rows])):.1e}"
    except ImportError:
        pass
    worst = 0.0
    for field in ["mean", "mean_plain", "std"] + (["min", "max"] if kind == "ocean-timeseries" else []):
        worst = max(worst, float(np.max(np.abs(np.array([r[field] for r in rows]) - want[field].values))))
    return f"{len(rows)} steps, cnt equal: {cnt_ok}, max |diff| = {worst:.2e}{low_pass}", cnt_ok and worst < 1e-9


def process_check(data_dir, files, clim):
    import threading

    global CACHE
    base, servers = CACHE, []
    try:
        for tag, part in [("one", files), ("half0", files[: len(files) // 2]), ("half1", files[len(files) // 2 :])]:
            CACHE = os.path.join(base, tag)
            os.makedirs(CACHE, exist_ok=True)
            servers.append(Vocloud(data_dir, part, clim))
        form = {"dataset": "sst", "variable": "analysed_sst", "bbox": "-180,-90,180,90"}
        t_one, _ = servers[0].run("ocean-timeavg", form)
        threads = [threading.Thread(target=s.run, args=("ocean-timeavg", form)) for s in servers[1:]]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t_two = time.time() - t0
    finally:
        CACHE = base
        for s in servers:
            s.stop()
    return f"global timeavg: one process {t_one:.2f} s, two processes with half the files each {t_two:.2f} s"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--skip-xarray", action="store_true")
    p.add_argument("--lock-check", action="store_true")
    p.add_argument("--process-check", action="store_true")
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args()
    data_dir, files, clim = generate(args.days)
    if not os.environ.get("OCEAN_BENCH_NO_BUILD"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"machine: {os.cpu_count()} cores; {args.days} files", flush=True)
    cases = args.cases.split(",")
    vc = Vocloud(data_dir, files, clim)
    report = []
    try:
        for case in cases:
            t_vc, got = run_vocloud(vc, case)
            line = f"{case:17s} vocloud {t_vc:7.2f} s"
            print(f"  ({line})", flush=True)
            if not args.skip_xarray:
                t_xr, want = run_xarray(case, files, clim)
                summary, ok = compare(case, got, want)
                line += f" | xarray+dask {t_xr:7.2f} s | speed-up {t_xr / t_vc:5.1f}x | {summary}{'' if ok else ' MISMATCH'}"
            print(line, flush=True)
            report.append(line)
    finally:
        vc.stop()
    if args.lock_check:
        for threads in ["1", "2"]:
            vc = Vocloud(data_dir, files, clim, env={"RAYON_NUM_THREADS": threads})
            try:
                t, _ = run_vocloud(vc, "ts_nino34")
                t2, _ = run_vocloud(vc, "timeavg_global")
            finally:
                vc.stop()
            line = f"RAYON_NUM_THREADS={threads}: ts_nino34 {t:.2f} s, timeavg_global {t2:.2f} s"
            print(line, flush=True)
            report.append(line)
    if args.process_check:
        report.append(process_check(data_dir, files, clim))
        print(report[-1], flush=True)
    with open(os.path.join(CACHE, "report.txt"), "w") as f:
        f.write("\n".join(report) + "\n")


if __name__ == "__main__":
    sys.exit(main())
