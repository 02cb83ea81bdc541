"""Ocean test fixtures and reference results, written by a third-party netCDF stack.

    fixtures.py make DIR    writes the netCDF fixtures under DIR and DIR/reference.json
    fixtures.py check-timeavg RESULT.nc DIR   compares vocloud's time-average map with xarray
    fixtures.py check-subset RESULT CSV       the VOTable/netCDF subset holds the CSV's points, in order

The references are computed with xarray (default CF decoding: _FillValue masked, packed int16
unpacked as raw * scale_factor + add_offset in float64), plus the valid_min/valid_max mask that
CF asks for (xarray leaves it to the user), and SDAP's definitions from
docs/refs/ocean/sdap-algorithms.md: cnt, min, max, mean = cos(lat)-weighted, mean_plain,
std = population std about the plain mean; box edges inclusive on pixel centres; minLon > maxLon
crosses the antimeridian.
"""
import json
import os
import sys
import warnings

import cftime
import numpy as np
import xarray as xr

RNG = np.random.default_rng(7)
FILL = -32768
SCALE, OFFSET = 0.001, 290.0
VMIN, VMAX = -20000, 20000  # packed valid range; a few pixels are set outside it

# Regular grid: descending latitudes, 0..360 longitudes (GHRSST-like, but coarse).
LAT = np.arange(10.0, -10.5, -1.0)  # 21 rows, north to south
LON = np.arange(0.0, 360.0, 2.0)  # 180 columns
LAND = np.zeros((LAT.size, LON.size), bool)
LAND[3:7, 20:30] = True  # an island
LAND[:, 88:92] = True  # a continent across 176..182 E (inside the antimeridian box)
# Days (2024 is a leap year): a gap on 2024-03-01, and the last file holds two steps.
DAYS = ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-02", ("2024-03-03", "2024-03-04")]


def days_since_2024(day):
    return (np.datetime64(day) - np.datetime64("2024-01-01")) / np.timedelta64(1, "D")


def sst_field():
    field = RNG.integers(-15000, 15000, size=(LAT.size, LON.size)).astype(np.int16)
    field[LAND] = FILL
    gaps = RNG.random(field.shape) < 0.05  # scattered missing pixels (clouds)
    field[gaps] = FILL
    out = RNG.random(field.shape) < 0.01  # out of the valid range
    field[out] = 25000
    return field


def write_sst(out_dir):
    os.makedirs(f"{out_dir}/sst", exist_ok=True)
    for entry in DAYS:
        days = [entry] if isinstance(entry, str) else list(entry)
        data = np.stack([sst_field() for _ in days])
        times = np.array([days_since_2024(d) + 0.375 for d in days])  # 09:00 UTC, like MUR
        ds = xr.Dataset(
            {"analysed_sst": (("time", "lat", "lon"), data)},
            coords={"time": ("time", times), "lat": ("lat", LAT), "lon": ("lon", LON)},
        )
        ds.time.attrs.update(units="days since 2024-01-01 00:00:00", calendar="gregorian", standard_name="time")
        ds.lat.attrs.update(units="degrees_north", standard_name="latitude")
        ds.lon.attrs.update(units="degrees_east", standard_name="longitude")
        ds.analysed_sst.attrs.update(
            units="kelvin", scale_factor=SCALE, add_offset=OFFSET, valid_min=np.int16(VMIN), valid_max=np.int16(VMAX)
        )
        enc = {"analysed_sst": {"dtype": "int16", "_FillValue": np.int16(FILL), "zlib": True}, "time": {"dtype": "f8"}}
        ds.to_netcdf(f"{out_dir}/sst/sst_{days[0].replace('-', '')}.nc", encoding=enc)


def write_climatology(out_dir):
    """5-day climatology of the same grid: float32 with NaN on land, keyed by day of year."""
    os.makedirs(f"{out_dir}/clim", exist_ok=True)
    times = np.arange(0.0, 366.0, 5.0)  # doy 1, 6, 11, ... 366
    data = (290.0 + RNG.normal(0, 3, size=(times.size, LAT.size, LON.size))).astype(np.float32)
    data[:, LAND] = np.nan
    ds = xr.Dataset(
        {"analysed_sst": (("time", "lat", "lon"), data)},
        coords={"time": ("time", times), "lat": ("lat", LAT), "lon": ("lon", LON)},
    )
    ds.time.attrs.update(units="days since 2024-01-01", calendar="standard")
    ds.lat.attrs.update(units="degrees_north")
    ds.lon.attrs.update(units="degrees_east")
    ds.analysed_sst.attrs.update(units="kelvin")
    ds.to_netcdf(f"{out_dir}/clim/clim_5day.nc", encoding={"analysed_sst": {"_FillValue": np.float32(np.nan), "zlib": True}})


def write_monthly_climatology(out_dir):
    """SDAP-style monthly climatology (`<ds>_clim`): 12 mid-month steps of 1970, float32."""
    os.makedirs(f"{out_dir}/clim_monthly", exist_ok=True)
    times = np.array([14.0 + 30.4 * m for m in range(12)])
    data = (291.0 + RNG.normal(0, 2, size=(12, LAT.size, LON.size))).astype(np.float32)
    data[:, LAND] = np.nan
    ds = xr.Dataset(
        {"analysed_sst": (("time", "lat", "lon"), data)},
        coords={"time": ("time", times), "lat": ("lat", LAT), "lon": ("lon", LON)},
    )
    ds.time.attrs.update(units="days since 1970-01-01")
    ds.lat.attrs.update(units="degrees_north")
    ds.lon.attrs.update(units="degrees_east")
    ds.to_netcdf(f"{out_dir}/clim_monthly/sst_clim.nc",
                 encoding={"analysed_sst": {"_FillValue": np.float32(np.nan), "zlib": True}})


# Days on the standard (mixed Julian/Gregorian) calendar, counted from 1500: three days of 1500
# around the Julian leap day 1500-02-29 (absent from the proleptic Gregorian calendar), and two
# days of 2024, which a proleptic reading of the units would put 9 days early.
CAL1500_UNITS = "days since 1500-01-01 00:00:00"
CAL1500 = {"hist_a": [(1500, 2, 28, 9), (1500, 2, 29, 9)], "hist_b": [(1500, 3, 1, 9)],
           "modern": [(2024, 2, 28, 9), (2024, 2, 29, 9)]}


def write_cal1500(out_dir):
    os.makedirs(f"{out_dir}/cal1500", exist_ok=True)
    for name, dates in CAL1500.items():
        times = cftime.date2num([cftime.DatetimeGregorian(*d) for d in dates], CAL1500_UNITS, "standard")
        ds = xr.Dataset(
            {"analysed_sst": (("time", "lat", "lon"), np.stack([sst_field() for _ in dates]))},
            coords={"time": ("time", np.asarray(times, "f8")), "lat": ("lat", LAT), "lon": ("lon", LON)},
        )
        ds.time.attrs.update(units=CAL1500_UNITS, calendar="standard")
        ds.lat.attrs.update(units="degrees_north")
        ds.lon.attrs.update(units="degrees_east")
        ds.analysed_sst.attrs.update(units="kelvin", scale_factor=SCALE, add_offset=OFFSET,
                                     valid_min=np.int16(VMIN), valid_max=np.int16(VMAX))
        enc = {"analysed_sst": {"dtype": "int16", "_FillValue": np.int16(FILL), "zlib": True}}
        ds.to_netcdf(f"{out_dir}/cal1500/{name}.nc", encoding=enc)


def cal1500_series(out_dir, bbox, start=None, end=None):
    """The time series as xarray decodes the files (cftime dates for 1500, datetime64 for 2024),
    selected by comparing dates on the dataset's calendar as xarray's CFTimeIndex does; `time`
    is the date read on the proleptic Gregorian calendar (vocloud's epoch seconds)."""
    steps = []
    for name in sorted(os.listdir(f"{out_dir}/cal1500")):
        with warnings.catch_warnings():  # "dates prior reform date": the point of this fixture
            warnings.simplefilter("ignore")
            da = open_sst(f"{out_dir}/cal1500/{name}")
        for k in range(da.sizes["time"]):
            t = da.time.values[k]
            if not isinstance(t, cftime.datetime):
                t = cftime.DatetimeGregorian(*t.astype("datetime64[s]").astype(object).timetuple()[:6])
            if (start is None or t >= start) and (end is None or t <= end):
                # Day 29 of a February without it reads as 1 March, like days_from_civil.
                days = (np.datetime64(f"{t.year:04}-{t.month:02}-01") - np.datetime64("1970-01-01")).astype(int)
                epoch = int(days + t.day - 1) * 86400 + t.hour * 3600 + t.minute * 60 + t.second
                steps.append((epoch, t.isoformat() + "+0000", da.isel(time=k)))
    rows = series([(epoch, da) for epoch, _, da in steps], bbox)
    assert len(rows) == len(steps), "every step has valid pixels"
    return [dict(row, iso_time=iso) for row, (_, iso, _) in zip(rows, steps)]


def write_layouts(out_dir):
    """Two days stored in ways vocloud's direct chunk reader leaves to libnetcdf: chunks with
    fletcher32 checksums (a filter it does not implement), and a contiguous (unchunked) variable."""
    os.makedirs(f"{out_dir}/layouts", exist_ok=True)
    for name, day, encoding in [("fletcher32", "2024-02-27", {"zlib": True, "fletcher32": True}),
                                ("contiguous", "2024-02-28", {"contiguous": True})]:
        ds = xr.Dataset(
            {"analysed_sst": (("time", "lat", "lon"), sst_field()[None])},
            coords={"time": ("time", [days_since_2024(day) + 0.375]), "lat": ("lat", LAT), "lon": ("lon", LON)},
        )
        ds.time.attrs.update(units="days since 2024-01-01 00:00:00", calendar="gregorian")
        ds.lat.attrs.update(units="degrees_north")
        ds.lon.attrs.update(units="degrees_east")
        ds.analysed_sst.attrs.update(units="kelvin", scale_factor=SCALE, add_offset=OFFSET,
                                     valid_min=np.int16(VMIN), valid_max=np.int16(VMAX))
        enc = {"analysed_sst": dict(encoding, dtype="int16", _FillValue=np.int16(FILL))}
        ds.to_netcdf(f"{out_dir}/layouts/{name}.nc", encoding=enc)


def layout_series(out_dir, bbox):
    steps = []
    for name in sorted(os.listdir(f"{out_dir}/layouts")):
        da = open_sst(f"{out_dir}/layouts/{name}")
        steps.append((int(da.time.values[0].astype("datetime64[s]").astype(np.int64)), da.isel(time=0)))
    return series(sorted(steps, key=lambda s: s[0]), bbox)


def rtofs_grid():
    """A rotated curvilinear grid (like RTOFS' tripolar grid) crossing the antimeridian."""
    j, i = np.meshgrid(np.arange(16), np.arange(24), indexing="ij")
    lat = -8.0 + 1.0 * j + 0.2 * i
    lon = 170.0 + 1.0 * i - 0.3 * j
    lon = np.where(lon > 180.0, lon - 360.0, lon)  # -180..180, so the seam is inside the grid
    return lat, lon


def write_rtofs(out_dir):
    os.makedirs(f"{out_dir}/rtofs", exist_ok=True)
    lat, lon = rtofs_grid()
    for k in range(2):
        data = (300.0 + RNG.normal(0, 1, size=(1, 1) + lat.shape)).astype(np.float32)
        data[0, 0, :3, :5] = 1.0e20  # land, as RTOFS marks it
        ds = xr.Dataset(
            {"sst": (("MT", "Depth", "Y", "X"), data)},
            coords={
                "MT": ("MT", [24.0 * k + 12.0]),
                "Depth": ("Depth", [0.0]),
                "Latitude": (("Y", "X"), lat),
                "Longitude": (("Y", "X"), lon),
            },
        )
        ds.MT.attrs.update(units="hours since 2024-03-01 00:00:00", calendar="noleap")
        ds.Latitude.attrs.update(units="degrees_north", standard_name="latitude")
        ds.Longitude.attrs.update(units="degrees_east", standard_name="longitude")
        ds.sst.attrs.update(units="degC", coordinates="Longitude Latitude")
        enc = {"sst": {"_FillValue": np.float32(1.0e20)}}
        ds.to_netcdf(f"{out_dir}/rtofs/rtofs_{k:02}.nc", encoding=enc)


def write_bad(out_dir):
    os.makedirs(f"{out_dir}/bad", exist_ok=True)
    with open(f"{out_dir}/bad/garbage.nc", "wb") as f:
        f.write(b"this is not a netCDF file\n")
    ds = xr.Dataset({"analysed_sst": (("lat", "lon"), np.zeros((LAT.size, LON.size)))},
                    coords={"lat": LAT, "lon": LON})
    ds.to_netcdf(f"{out_dir}/bad/no_time.nc")


# ---------------------------------------------------------------- references


def in_box(lat, lon, bbox):
    west, south, east, north = bbox
    lon180 = (np.asarray(lon) + 180.0) % 360.0 - 180.0
    w, e = (west + 180.0) % 360.0 - 180.0, (east + 180.0) % 360.0 - 180.0
    lon_ok = (lon180 >= w) & (lon180 <= e) if west <= east else (lon180 >= w) | (lon180 <= e)
    return (lat >= south) & (lat <= north) & lon_ok


def open_sst(path):
    decoded = xr.open_dataset(path)  # CF decoding by xarray
    raw = xr.open_dataset(path, mask_and_scale=False)
    valid = (raw.analysed_sst >= VMIN) & (raw.analysed_sst <= VMAX)
    return decoded.analysed_sst.where(valid)


def sst_steps(out_dir, start=None, end=None):
    """(time stamp as epoch seconds, 2-D DataArray) for every step in range, sorted by time."""
    steps = []
    for name in sorted(os.listdir(f"{out_dir}/sst")):
        da = open_sst(f"{out_dir}/sst/{name}")
        for k in range(da.sizes["time"]):
            t = int(da.time.values[k].astype("datetime64[s]").astype(np.int64))
            if (start is None or t >= start) and (end is None or t <= end):
                steps.append((t, da.isel(time=k)))
    return sorted(steps, key=lambda s: s[0])


def stats(values, lats):
    ok = ~np.isnan(values)
    if not ok.any():
        return None
    v, w = values[ok], np.cos(np.radians(lats[ok]))
    return {
        "cnt": int(ok.sum()),
        "min": float(v.min()),
        "max": float(v.max()),
        "mean": float((v * w).sum() / w.sum()),
        "mean_plain": float(v.mean()),
        "std": float(v.std()),
    }


def series(steps, bbox):
    out = []
    for t, da in steps:
        lat2, lon2 = xr.broadcast(da.lat, da.lon)
        mask = in_box(lat2.values, lon2.values, bbox)
        s = stats(np.where(mask, da.values, np.nan), lat2.values)
        if s:
            out.append(dict(s, time=t))
    return out


def seasonal(out_dir, rows, bbox):
    """SDAP's seasonalFilter: subtract the climatology month's mean/min/max over the same box."""
    clim = xr.open_dataset(f"{out_dir}/clim_monthly/sst_clim.nc").analysed_sst
    by_month = {}
    for k in range(clim.sizes["time"]):
        da = clim.isel(time=k)
        lat2, lon2 = xr.broadcast(da.lat, da.lon)
        by_month[int(da.time.dt.month)] = stats(np.where(in_box(lat2.values, lon2.values, bbox), da.values, np.nan),
                                                lat2.values)
    out = []
    for row in rows:
        c = by_month[int(np.datetime64(row["time"], "s").astype(object).month)]
        out.append(dict(row, meanSeasonal=row["mean"] - c["mean"], minSeasonal=row["min"] - c["min"],
                        maxSeasonal=row["max"] - c["max"]))
    return out


def dda(out_dir, steps, bbox):
    clim = xr.open_dataset(f"{out_dir}/clim/clim_5day.nc").analysed_sst
    clim_doy = clim.time.dt.dayofyear.values
    out = []
    for t, da in steps:
        doy = int(da.time.dt.dayofyear)
        k = int(np.nonzero(clim_doy <= doy)[0].max())  # SDAP: largest climatology day <= doy
        diff = da.values - clim.isel(time=k).values
        lat2, lon2 = xr.broadcast(da.lat, da.lon)
        s = stats(np.where(in_box(lat2.values, lon2.values, bbox), diff, np.nan), lat2.values)
        if s:
            s["mean_coslat"] = s["mean"]  # vocloud's DDA `mean` is weighted too (SDAP's: mean_plain)
            out.append(dict(s, time=t // 86400 * 86400))
    return out


def rtofs_subset(out_dir, bbox):
    ds = xr.open_mfdataset(f"{out_dir}/rtofs/*.nc", combine="by_coords",
                           decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))
    lat, lon = ds.Latitude.values, ds.Longitude.values
    mask = in_box(lat, lon, bbox)
    values = ds.sst.isel(Depth=0).values
    points = [float(v) for k in range(values.shape[0]) for v in values[k][mask] if not np.isnan(v)]
    return {"count": len(points), "sum": float(np.sum(points)), "min": min(points), "max": max(points)}


def epoch(iso):
    return int(np.datetime64(iso, "s").astype(np.int64))


def make(out_dir):
    write_sst(out_dir)
    write_climatology(out_dir)
    write_monthly_climatology(out_dir)
    write_rtofs(out_dir)
    write_bad(out_dir)
    write_cal1500(out_dir)
    write_layouts(out_dir)
    every = sst_steps(out_dir)
    leap_window = sst_steps(out_dir, epoch("2024-02-28T00:00:00"), epoch("2024-03-03T09:00:00"))
    ref = {
        "ts_antimeridian": seasonal(out_dir, series(every, (170.0, -5.0, -170.0, 5.0)), (170.0, -5.0, -170.0, 5.0)),
        "ts_seam": series(leap_window, (-10.0, -6.0, 10.0, 6.0)),
        "dda": dda(out_dir, every, (-30.0, -10.0, 30.0, 10.0)),
        "subset_rtofs": rtofs_subset(out_dir, (175.0, -6.0, -175.0, 6.0)),
        "ts_layouts": layout_series(out_dir, (-30.0, -10.0, 30.0, 10.0)),
        "ts_cal1500": cal1500_series(out_dir, (-30.0, -10.0, 30.0, 10.0)),
        "ts_cal1500_window": cal1500_series(out_dir, (-30.0, -10.0, 30.0, 10.0),
                                            cftime.DatetimeGregorian(1500, 2, 29),
                                            cftime.DatetimeGregorian(2024, 2, 28, 12)),
    }
    with open(f"{out_dir}/reference.json", "w") as f:
        json.dump(ref, f, indent=1)


def check_timeavg(result, out_dir):
    """vocloud's timeavg.nc for bbox 170,-5,-170,5 over all steps vs xarray, pixel by pixel."""
    got = xr.open_dataset(result)
    steps = sst_steps(out_dir)
    cube = xr.concat([da for _, da in steps], dim="time")
    lon180 = (cube.lon + 180.0) % 360.0 - 180.0
    box = cube.where((cube.lat >= -5) & (cube.lat <= 5) & ((lon180 >= 170) | (lon180 <= -170)), drop=True)
    # vocloud writes longitudes west to east across the antimeridian; align by value.
    box = box.assign_coords(lon=(box.lon + 180.0) % 360.0 - 180.0)
    got = got.assign_coords(lon=(got.lon + 180.0) % 360.0 - 180.0)
    want_mean = box.mean("time").sel(lat=got.lat, lon=got.lon)
    want_cnt = box.count("time").sel(lat=got.lat, lon=got.lon)
    assert got["mean"].shape == want_mean.shape, (got["mean"].shape, want_mean.shape)
    assert want_cnt.sum() > 0
    assert (got["count"].values == want_cnt.values).all(), "counts differ"
    diff = np.abs(got["mean"].values - want_mean.values)
    assert np.array_equal(np.isnan(got["mean"].values), np.isnan(want_mean.values)), "no-data pixels differ"
    assert np.nanmax(diff) < 1e-9, f"max |mean diff| = {np.nanmax(diff)}"
    assert list(got.lon.values[:2]) == [170.0, 172.0], got.lon.values
    print("timeavg ok", int(want_cnt.sum()), float(np.nanmax(diff)))


def check_subset(result, csv_path):
    """A streamed subset (VOTable via astropy-free XML parsing, or netCDF via xarray) equals the CSV."""
    import csv as csvlib
    with open(csv_path) as f:
        rows = list(csvlib.reader(f))[1:]
    want = [(float(r[0]), float(r[1]), r[2], float(r[3])) for r in rows]
    if result.endswith(".nc"):
        ds = xr.open_dataset(result, decode_times=False)
        iso = [np.datetime_as_string(np.datetime64(int(t), "s")) + "Z" for t in ds.time.values]
        got = list(zip(ds.lon.values.tolist(), ds.lat.values.tolist(), iso, ds.sst.values.tolist()))
    else:
        import xml.etree.ElementTree as ET
        ns = {"v": "http://www.ivoa.net/xml/VOTable/v1.3"}
        trs = ET.parse(result).getroot().findall(".//v:TR", ns)
        got = [tuple(f(td.text) for f, td in zip((float, float, str, float), tr.findall("v:TD", ns))) for tr in trs]
    assert len(got) == len(want) > 0, (len(got), len(want))
    assert got == want, next((g, w) for g, w in zip(got, want) if g != w)
    print("subset ok", len(got))


def compare_timeavg(merged, single):
    """A merged timeavg.nc vs the single job's: counts and grid identical, means to 1e-12."""
    got, want = xr.open_dataset(merged), xr.open_dataset(single)
    assert got["mean"].shape == want["mean"].shape, (got["mean"].shape, want["mean"].shape)
    assert np.array_equal(got.lat.values, want.lat.values) and np.array_equal(got.lon.values, want.lon.values)
    assert np.array_equal(got["count"].values, want["count"].values), "counts differ"
    g, w = got["mean"].values, want["mean"].values
    assert np.array_equal(np.isnan(g), np.isnan(w)), "no-data pixels differ"
    diff = float(np.nanmax(np.abs(g - w)))
    assert diff < 1e-12, f"max |mean diff| = {diff}"
    assert got.attrs["time_coverage_start"] == want.attrs["time_coverage_start"]
    assert got.attrs["time_coverage_end"] == want.attrs["time_coverage_end"]
    print("merged timeavg ok", int(got["count"].values.sum()), diff, "identical" if np.array_equal(g, w, equal_nan=True) else "")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "check-timeavg":
        check_timeavg(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "compare-timeavg":
        compare_timeavg(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check-subset":
        check_subset(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
