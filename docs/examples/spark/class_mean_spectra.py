"""Per-class mean spectra and counts over FITS spectra, with PySpark.

As a vocloud `spark` job (see docs/kinds/spark.md), with the default arguments:

    program=class_mean_spectra.py  inputs=["spectra"]

By hand:

    spark-submit class_mean_spectra.py RESULTS INPUT... [--class-key CLASS] [--bins N]
                                                        [--reader auto|astropy|builtin]

Each INPUT is a FITS file or a folder searched for *.fits / *.fit / *.fts. A spectrum is the
primary HDU's 1-D image with a linear wavelength axis (CRVAL1, CDELT1 or CD1_1, CRPIX1); its
class is the header keyword CLASS (--class-key); spectra without it count as "unclassified".
Every spectrum is interpolated (linearly) onto one grid: the wavelength range all spectra cover,
in --bins steps (default: the fewest pixels any spectrum has). Missing fluxes (NaN, BLANK) are
left out of the mean pixel by pixel.

Writes into RESULTS:
- class_counts.csv: class, spectra
- class_means.csv: wavelength, then the mean flux of each class (one column per class)
- skipped.csv: files that could not be read, and why

Files are read with astropy.io.fits when the Spark Python has astropy (--reader auto), else
with the small reader below (1-D images, BITPIX 8/16/32/64/-32/-64, BSCALE/BZERO/BLANK), which
is all a cluster with only numpy needs.
"""
import argparse
import csv
import os
import sys

import numpy as np
from pyspark.sql import SparkSession

FITS_SUFFIXES = (".fits", ".fit", ".fts")
BLOCK = 2880
UNCLASSIFIED = "unclassified"


def fits_files(inputs):
    files = []
    for path in inputs:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                files += [os.path.join(root, n) for n in names if n.lower().endswith(FITS_SUFFIXES)]
        else:
            files.append(path)
    return sorted(files)


def card_value(text):
    """The value of a header card (the part after '= '), without its comment."""
    text = text.strip()
    if text.startswith("'"):
        end, value = 1, ""
        while end < len(text):
            if text[end] == "'":
                if text[end + 1 : end + 2] == "'":
                    value, end = value + "'", end + 2
                    continue
                break
            value, end = value + text[end], end + 1
        return value.rstrip()
    token = text.split("/", 1)[0].strip()
    if token in ("T", "F"):
        return token == "T"
    for kind in (int, float):
        try:
            return kind(token.replace("D", "E")) if kind is float else kind(token)
        except ValueError:
            pass
    return token


def read_builtin(path):
    """(header, flux) of the primary 1-D image, checking sizes against the file first."""
    size = os.path.getsize(path)
    header = {}
    with open(path, "rb") as f:
        while "END" not in header:
            block = f.read(BLOCK)
            if len(block) < BLOCK:
                raise ValueError("the header ends before its END card")
            for i in range(0, BLOCK, 80):
                card = block[i : i + 80].decode("ascii", "replace")
                key = card[:8].strip()
                if key == "END":
                    header["END"] = True
                    break
                if card[8:10] == "= ":
                    header[key] = card_value(card[10:])
        dtypes = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
        bitpix = header.get("BITPIX")
        if bitpix not in dtypes:
            raise ValueError(f"BITPIX {bitpix!r} is not a FITS data type")
        axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, int(header.get("NAXIS", 0)) + 1)]
        if len(axes) == 0 or any(n < 1 for n in axes) or sorted(axes)[:-1] != [1] * (len(axes) - 1):
            raise ValueError(f"the primary HDU is not a 1-D spectrum (axes {axes})")
        count = max(axes)
        nbytes = count * abs(bitpix) // 8
        if f.tell() + nbytes > size:
            raise ValueError(f"the header declares {nbytes} bytes of data, the file has {size - f.tell()}")
        raw = np.frombuffer(f.read(nbytes), dtypes[bitpix])
    flux = raw.astype(np.float64)
    if bitpix > 0 and "BLANK" in header:
        flux[raw == header["BLANK"]] = np.nan
    flux = flux * float(header.get("BSCALE", 1.0)) + float(header.get("BZERO", 0.0))
    return header, flux


def read_astropy(path):
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdus:
        data = hdus[0].data
        if data is None or data.squeeze().ndim != 1:
            raise ValueError("the primary HDU is not a 1-D spectrum")
        return dict(hdus[0].header), np.asarray(data.squeeze(), dtype=np.float64)


def spectrum(path, reader, class_key):
    """("ok", class, wavelengths, flux) or ("skipped", path, reason)."""
    try:
        header, flux = reader(path)
        step = header.get("CDELT1", header.get("CD1_1"))
        if "CRVAL1" not in header or not step:
            raise ValueError("no linear wavelength axis (CRVAL1 with CDELT1 or CD1_1)")
        pixels = np.arange(flux.size, dtype=np.float64) + 1.0 - float(header.get("CRPIX1", 1.0))
        wavelength = float(header["CRVAL1"]) + pixels * float(step)
        if step < 0:
            wavelength, flux = wavelength[::-1], flux[::-1]
        label = str(header.get(class_key, "")).strip() or UNCLASSIFIED
        return ("ok", label, wavelength, flux)
    except Exception as e:  # a bad file is reported, not fatal
        return ("skipped", path, f"{type(e).__name__}: {e}")


def add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--class-key", default="CLASS")
    parser.add_argument("--bins", type=int)
    parser.add_argument("--reader", choices=["auto", "astropy", "builtin"], default="auto")
    args = parser.parse_args()

    reader = read_builtin
    if args.reader != "builtin":
        try:
            import astropy.io.fits  # noqa: F401

            reader = read_astropy
        except ImportError:
            if args.reader == "astropy":
                raise
    files = fits_files(args.inputs)
    if not files:
        sys.exit(f"no FITS files in {args.inputs}")

    spark = SparkSession.builder.appName("class mean spectra").getOrCreate()
    sc = spark.sparkContext
    class_key = args.class_key
    read = sc.parallelize(files, min(len(files), 4 * sc.defaultParallelism)).map(
        lambda p: spectrum(p, reader, class_key)
    )
    read.cache()
    good = read.filter(lambda s: s[0] == "ok")
    if good.isEmpty():
        sys.exit("no readable spectra")
    low = good.map(lambda s: s[2][0]).max()
    high = good.map(lambda s: s[2][-1]).min()
    if not low < high:
        sys.exit(f"the spectra share no wavelength range (from {low} to {high})")
    bins = args.bins or good.map(lambda s: s[2].size).min()
    grid = sc.broadcast(np.linspace(low, high, bins))

    def on_grid(s):
        flux = np.interp(grid.value, s[2], s[3])
        finite = np.isfinite(flux)
        return (s[1], (np.where(finite, flux, 0.0), finite.astype(np.int64), 1))

    totals = good.map(on_grid).reduceByKey(add).collectAsMap()
    skipped = read.filter(lambda s: s[0] == "skipped").map(lambda s: (s[1], s[2])).collect()
    spark.stop()

    classes = sorted(totals)
    with open(os.path.join(args.results, "class_counts.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["class", "spectra"])
        out.writerows([c, totals[c][2]] for c in classes)
    with open(os.path.join(args.results, "class_means.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["wavelength"] + classes)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = [totals[c][0] / totals[c][1] for c in classes]
        for i, w in enumerate(grid.value):
            out.writerow([repr(float(w))] + [repr(float(m[i])) for m in means])
    with open(os.path.join(args.results, "skipped.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "reason"])
        out.writerows(sorted(skipped))
    print(f"{sum(totals[c][2] for c in classes)} spectra in {len(classes)} classes, {len(skipped)} skipped")


if __name__ == "__main__":
    main()
