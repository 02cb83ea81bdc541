#!/usr/bin/env python3
"""Test files for the SAMP scripts, written with astropy (so they are what VO tools write).

  data.py table FILE.vot|FILE.fits ROWS [SEED]   a catalogue table (VOTable or FITS binary table)
  data.py spectra FILE.fits ROWS POINTS           a 2-D FITS image, one spectrum per row, with a
                                                  linear wavelength WCS on axis 1
  data.py csv FILE ROWS POINTS                   spectra as CSV, one per row (name,label,<wavelengths>),
                                                  as the som kind reads them
  data.py equal A B                               exit 0 when two tables (any format astropy
                                                  reads) hold the same columns and values
"""
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
from astropy.io import fits  # noqa: E402
from astropy.table import Table  # noqa: E402


def table(path, rows, seed=1):
    rng = np.random.default_rng(seed)
    t = Table()
    votable = path.endswith((".vot", ".xml"))
    # FITS strings are ASCII; a VOTable carries the rest of Unicode too.
    t["name"] = [f"star {i} é" if i % 7 == 0 and votable else f"star {i}" for i in range(rows)]
    t["ra"] = rng.uniform(0, 360, rows)
    t["dec"] = rng.uniform(-90, 90, rows)
    t["mag"] = rng.normal(15, 2, rows).astype(np.float32)
    t["n"] = np.arange(rows, dtype=np.int32)
    t.write(path, format="votable" if votable else "fits", overwrite=True)


def spectra(path, rows, points):
    wave = np.arange(points)
    flux = np.array([1.0 + 0.01 * k + 0.3 * np.exp(-(((wave - points / 2) / (3 + k % 5)) ** 2)) for k in range(rows)])
    hdu = fits.PrimaryHDU(flux.astype(np.float32))
    hdu.header["CRVAL1"] = 6400.0
    hdu.header["CDELT1"] = 1.0
    hdu.header["CRPIX1"] = 1.0
    hdu.writeto(path, overwrite=True)


def csv(path, rows, points):
    with open(path, "w") as f:
        f.write("name,label," + ",".join(str(6400 + j) for j in range(points)) + "\n")
        for k in range(rows):
            line = 0.5 * np.exp(-(((np.arange(points) - points / 2) / (2 + k % 3)) ** 2))
            flux = 1.0 + 0.002 * k + (line if k % 2 else -line)
            f.write(f"star{k},{'emission' if k % 2 else 'absorption'}," + ",".join(f"{v:.5f}" for v in flux) + "\n")


def equal(a, b):
    ta, tb = Table.read(a), Table.read(b)
    if ta.colnames != tb.colnames or len(ta) != len(tb):
        sys.exit(f"{a}: {ta.colnames} x {len(ta)} rows; {b}: {tb.colnames} x {len(tb)} rows")
    for c in ta.colnames:
        # FITS strings come back as bytes, VOTable ones as str.
        x, y = (np.char.decode(v) if v.dtype.kind == "S" else v for v in (np.asarray(ta[c]), np.asarray(tb[c])))
        same = np.array_equal(x, y) if x.dtype.kind in "USO" else np.allclose(x, y, rtol=0, atol=0, equal_nan=True)
        if not same:
            sys.exit(f"column {c} differs: {x[:3]} ... vs {y[:3]} ...")
    print(f"equal: {len(ta)} rows x {len(ta.colnames)} columns")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "table":
        table(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 1)
    elif cmd == "spectra":
        spectra(args[0], int(args[1]), int(args[2]))
    elif cmd == "csv":
        csv(args[0], int(args[1]), int(args[2]))
    elif cmd == "equal":
        equal(args[0], args[1])
    else:
        sys.exit(__doc__)
