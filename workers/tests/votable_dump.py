"""Reads VOTables with astropy and prints them as JSON, so Rust tests can compare values.

usage: votable_dump.py FILE...        -> one JSON document per line:
  {"version": ..., "fields": [{name, datatype, arraysize, unit, ucd, utype}], "params": {name: value},
   "rows": [[cell, ...], ...]}   masked cells are null, NaN is "NaN", +-inf are "Inf"/"-Inf",
   complex numbers are [re, im], arrays are lists.
usage: votable_dump.py --write DIR    -> writes astropy-made tables (tabledata, binary, binary2)
"""
import json
import math
import sys
import warnings

import numpy as np
from astropy.io.votable import parse
from astropy.io.votable.exceptions import VOWarning

warnings.simplefilter("error", VOWarning)  # any spec complaint from astropy fails the test


def plain(x):
    if x is np.ma.masked or x is None:
        return None
    if isinstance(x, np.ma.MaskedArray):
        return [plain(v) for v in x.tolist()] if x.ndim else plain(x.item())
    if isinstance(x, np.ndarray):
        return [plain(v) for v in x.tolist()]
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    if isinstance(x, complex):
        return [plain(x.real), plain(x.imag)]
    if isinstance(x, float):
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Inf" if x > 0 else "-Inf"
    return x


def dump(path):
    vot = parse(path, verify="exception")
    t = vot.get_first_table()
    fields = [
        dict(name=f.name, datatype=f.datatype, arraysize=f.arraysize, unit=str(f.unit) if f.unit else None,
             ucd=f.ucd, utype=f.utype)
        for f in t.fields
    ]
    params = {p.name: plain(p.value) for p in t.params}
    # Column by column: numpy's masked records trip over fixed-size array fields when indexed.
    columns = []
    for f in t.fields:
        col = t.array[f.ID or f.name]
        cells = []
        for i in range(len(col)):
            value, mask = col.data[i], np.ma.getmaskarray(col)[i]
            scalar = not isinstance(value, np.ndarray) or value.dtype == object
            cells.append(None if scalar and np.all(mask) else plain(value))
        columns.append(cells)
    rows = [list(r) for r in zip(*columns)] if columns else []
    return dict(version=vot.version, fields=fields, params=params, rows=rows)


def write(folder):
    from astropy.io.votable.tree import VOTableFile, Resource, TableElement, Field
    def arr(xs):  # astropy wants variable-length cells as masked arrays with a full mask
        return np.ma.array(xs, dtype="f4", mask=[False] * len(xs))

    for fmt in ("tabledata", "binary", "binary2"):
        vot = VOTableFile(version="1.4")
        res = Resource()
        vot.resources.append(res)
        t = TableElement(vot, name="astropy")
        res.tables.append(t)
        t.fields.extend([
            Field(vot, name="url", datatype="char", arraysize="*", ucd="meta.ref.url"),
            Field(vot, name="n", datatype="int"),
            Field(vot, name="x", datatype="double", unit="nm"),
            Field(vot, name="flux", datatype="float", arraysize="*"),
            Field(vot, name="ok", datatype="boolean"),
        ])
        t.create_arrays(3)
        t.array[0] = ("http://h/a.fits", 1, 1.5, arr([1.0, 2.0]), True)
        t.array[1] = ("http://h/b.fits", 2, -0.25, arr([]), False)
        t.array[2] = ("", 3, 3.0, arr([4.5]), True)
        t.array.mask[2] = (True, False, True, False, True)
        t.format = fmt
        vot.to_xml(f"{folder}/astropy-{fmt}.vot")


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        write(sys.argv[2])
    else:
        for p in sys.argv[1:]:
            print(json.dumps(dump(p)))
