"""Spectra files as third parties write them, for tests/api/plot_inputs.rs (astropy in target/pyenv).

    python write_inputs.py OUT_DIR

Writes:
- sdss.fits: an SDSS spec-lite layout: empty primary HDU, then a binary table COADD with one row
  per pixel and columns flux, loglam (log10 Å), ivar (float32), 1,000 pixels from 3800 Å.
- lamost.fits: a LAMOST DR5+ layout: empty primary HDU, then a binary table with ONE row of
  vector columns FLUX, IVAR, WAVELENGTH (float32[1200]) from 3700 Å in steps of 5 Å.
- binary.vot: a VOTable BINARY table with scalar columns wavelength, flux (300 rows, 5000 Å +).
- binary2.vot: a VOTable BINARY2 table, one spectrum per row: columns name, wavelength[200],
  flux[200] for 3 spectra, 6000 Å + i; one flux value is null (masked).
Prints a JSON summary of what the files hold, which the test compares with the plot.
"""

import json
import os
import sys

import numpy as np
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.table import Table, MaskedColumn

out = sys.argv[1]
summary = {}

# SDSS spec-lite: loglam on a constant log step of 1e-4.
loglam = (np.log10(3800.0) + 1e-4 * np.arange(1000)).astype(np.float32)
flux = (10 + np.sin(np.arange(1000) / 30.0)).astype(np.float32)
coadd = fits.BinTableHDU.from_columns(
    [
        fits.Column(name="flux", format="E", array=flux),
        fits.Column(name="loglam", format="E", array=loglam),
        fits.Column(name="ivar", format="E", array=np.ones(1000, np.float32)),
    ],
    name="COADD",
)
fits.HDUList([fits.PrimaryHDU(), coadd]).writeto(os.path.join(out, "sdss.fits"), overwrite=True)
summary["sdss"] = {
    "x0": float(10 ** loglam[0].astype(np.float64)),
    "x1": float(10 ** loglam[-1].astype(np.float64)),
    "ymin": float(flux.min()),
    "ymax": float(flux.max()),
}

# LAMOST: one row, vector columns.
n = 1200
wave = (3700.0 + 5.0 * np.arange(n)).astype(np.float32)
lflux = (100 + 20 * np.cos(np.arange(n) / 50.0)).astype(np.float32)
lamost = fits.BinTableHDU.from_columns(
    [
        fits.Column(name="FLUX", format=f"{n}E", array=lflux[None, :]),
        fits.Column(name="IVAR", format=f"{n}E", array=np.ones((1, n), np.float32)),
        fits.Column(name="WAVELENGTH", format=f"{n}E", array=wave[None, :]),
    ]
)
primary = fits.PrimaryHDU()
primary.header["OBJNAME"] = "J012345.67+012345.6"
fits.HDUList([primary, lamost]).writeto(os.path.join(out, "lamost.fits"), overwrite=True)
summary["lamost"] = {"x0": float(wave[0]), "x1": float(wave[-1]), "ymin": float(lflux.min()), "ymax": float(lflux.max())}

# VOTable BINARY, scalar columns.
w = 5000.0 + np.arange(300, dtype=np.float64)
f = 2 + np.sin(w / 20.0)
t = Table({"wavelength": w, "flux": f})
from_table(t).to_xml(os.path.join(out, "binary.vot"), tabledata_format="binary")
summary["binary"] = {"x0": w[0], "x1": w[-1], "ymin": float(f.min()), "ymax": float(f.max())}

# VOTable BINARY2, array cells: one spectrum per row, a null flux element.
w2 = np.tile(6000.0 + np.arange(200, dtype=np.float64), (3, 1))
f2 = np.array([k + 1 + 0.1 * np.cos(np.arange(200) / 10.0) for k in range(3)])
mask = np.zeros_like(f2, dtype=bool)
mask[1, 50] = True
t2 = Table()
t2["name"] = ["alpha", "beta", "gamma"]
t2["wavelength"] = w2
t2["flux"] = MaskedColumn(f2, mask=mask)
from_table(t2).to_xml(os.path.join(out, "binary2.vot"), tabledata_format="binary2")
summary["binary2"] = {
    "names": ["alpha", "beta", "gamma"],
    "x0": 6000.0,
    "x1": 6199.0,
    "ymin": float(f2.min()),
    "ymax": float(f2.max()),
}

print(json.dumps(summary))
