"""Inputs and reference results for the example programs of docs/examples/spark, written and
computed with astropy, netCDF4 and numpy (target/pyenv), for tests/api/spark.rs.

    make_fixtures.py OUT

Writes OUT/spectra/*.fits: 24 1-D spectra (float32 images with a linear wavelength axis that
differs from file to file; header CLASS = STAR, GALAXY or QSO, two without CLASS; a few NaN
pixels), and broken.fits (a header that declares more data than the file has).
Writes OUT/sst/*.nc: 3 daily files of 2 time steps each, analysed_sst(time, lat, lon) packed as
int16 with scale_factor/add_offset and _FillValue gaps, on a 0..360 longitude grid.
Writes OUT/reference.json: per-class counts and mean spectra on the common grid, and the
cos(lat)-weighted area means of the box used by the test — computed here independently.
"""
import json
import os
import sys

import netCDF4
import numpy as np
from astropy.io import fits

RNG = np.random.default_rng(11)
CLASSES = ["STAR", "GALAXY", "QSO"]
BOX = (-5.0, 5.0, 350.0, 20.0)  # south, north, west, east: crosses the prime meridian


def write_spectra(out):
    os.makedirs(f"{out}/spectra/more", exist_ok=True)
    spectra = []
    for i in range(24):
        label = CLASSES[i % 3] if i not in (5, 17) else None
        start = 4000.0 + RNG.uniform(0, 50)
        step = 2.0 + RNG.uniform(-0.2, 0.2)
        n = int(RNG.integers(480, 520))
        wavelength = start + step * np.arange(n)
        flux = (1.0 + (i % 3) + 0.1 * np.sin(wavelength / 50.0) + RNG.normal(0, 0.01, n)).astype(np.float32)
        if i == 3:
            flux[100:103] = np.nan
        hdu = fits.PrimaryHDU(flux)
        hdu.header.update(CRVAL1=start, CDELT1=step, CRPIX1=1.0, CTYPE1="WAVE", CUNIT1="Angstrom")
        if label:
            hdu.header["CLASS"] = label
        folder = "spectra/more" if i % 4 == 0 else "spectra"
        hdu.writeto(f"{out}/{folder}/spec{i:02d}.fits")
        spectra.append((label or "unclassified", wavelength, flux.astype(np.float64)))
    broken = fits.PrimaryHDU(np.zeros(1000, np.float32))
    broken.header["CLASS"] = "STAR"
    with open(f"{out}/spectra/broken.fits", "wb") as f:
        f.write(broken.header.tostring().encode("ascii") + b"\0" * 100)
    return spectra


def class_means(spectra):
    low = max(w[0] for _, w, _ in spectra)
    high = min(w[-1] for _, w, _ in spectra)
    grid = np.linspace(low, high, min(w.size for _, w, _ in spectra))
    out = {}
    for label in sorted({s[0] for s in spectra}):
        fluxes = np.array([np.interp(grid, w, f) for lab, w, f in spectra if lab == label])
        out[label] = {"count": len(fluxes), "mean": np.nanmean(fluxes, axis=0).tolist()}
    return {"grid": grid.tolist(), "classes": out}


def write_sst(out):
    os.makedirs(f"{out}/sst", exist_ok=True)
    lat = np.arange(-10.0, 10.5, 1.0)
    lon = np.arange(0.0, 360.0, 2.5)
    series = []
    for day in range(3):
        path = f"{out}/sst/sst_2024010{day + 1}.nc"
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", None)
            ds.createDimension("lat", lat.size)
            ds.createDimension("lon", lon.size)
            t = ds.createVariable("time", "f8", ("time",))
            t.units, t.calendar, t.standard_name = "hours since 2024-01-01 00:00:00", "gregorian", "time"
            ds.createVariable("lat", "f4", ("lat",))[:] = lat
            ds.createVariable("lon", "f4", ("lon",))[:] = lon
            ds["lat"].standard_name, ds["lon"].standard_name = "latitude", "longitude"
            sst = ds.createVariable("analysed_sst", "i2", ("time", "lat", "lon"), fill_value=-32768)
            sst.scale_factor, sst.add_offset, sst.units = 0.01, 290.0, "kelvin"
            for step in range(2):
                field = 290.0 + 5 * np.cos(np.radians(lat))[:, None] + RNG.normal(0, 0.5, (lat.size, lon.size))
                gaps = RNG.random(field.shape) < 0.1
                t[step] = day * 24 + step * 12
                sst[step] = np.ma.masked_array(field, gaps)
                # The reference reads back what was stored (packed to 0.01 K).
                stored = np.round((field - 290.0) / 0.01) * 0.01 + 290.0
                series.append(area_mean(stored, gaps, lat, lon))
    return series


def area_mean(field, gaps, lat, lon):
    south, north, west, east = BOX
    rows = (lat >= south) & (lat <= north)
    cols = (lon >= west) | (lon <= east)
    values = field[rows][:, cols]
    valid = ~gaps[rows][:, cols]
    weights = np.cos(np.radians(lat[rows]))[:, None] * np.ones(cols.sum())
    return {"mean": float((values * weights)[valid].sum() / weights[valid].sum()), "count": int(valid.sum())}


def main():
    out = sys.argv[1]
    reference = class_means(write_spectra(out))
    reference["box"] = BOX
    reference["timeseries"] = write_sst(out)
    with open(f"{out}/reference.json", "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
