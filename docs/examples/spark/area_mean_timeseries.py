"""Area-mean time series over netCDF files, with PySpark.

As a vocloud `spark` job (see docs/kinds/spark.md):

    program=area_mean_timeseries.py  inputs=["sst"]
    args=["{results}", "{inputs}", "--var", "analysed_sst", "--box", "-5", "5", "190", "240"]

By hand:

    spark-submit area_mean_timeseries.py RESULTS INPUT... [--var NAME] [--box SOUTH NORTH WEST EAST]

Each INPUT is a netCDF file or a folder searched for *.nc / *.nc4. For every time step of the
variable (default: the first one with time, latitude and longitude dimensions) the mean over the
box is weighted by cos(latitude), leaving out missing values (netCDF4 masks _FillValue and values
outside valid_min/valid_max, and unpacks scale_factor/add_offset). Box edges are inclusive on the
pixel centres; longitudes may be -180..180 or 0..360, and WEST > EAST crosses the antimeridian.
The default box is the whole grid. Files are spread over the cluster, one task each.

Writes RESULTS/timeseries.csv: time (ISO 8601), mean, count (valid pixels), min, max, file.
"""
import argparse
import csv
import os

import numpy as np
from pyspark.sql import SparkSession

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def netcdf_files(inputs):
    files = []
    for path in inputs:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                files += [os.path.join(root, n) for n in names if n.lower().endswith(NETCDF_SUFFIXES)]
        else:
            files.append(path)
    return sorted(files)


def coordinate(ds, names, standard_name):
    for name, var in ds.variables.items():
        if name.lower() in names or getattr(var, "standard_name", None) == standard_name:
            return name
    raise ValueError(f"no {standard_name} coordinate")


def in_range(lon, west, east):
    lon, west, east = lon % 360.0, west % 360.0, east % 360.0
    return (lon >= west) & (lon <= east) if west <= east else (lon >= west) | (lon <= east)


def file_series(path, var_name, box):
    """(time, weighted sum, weight, count, min, max, file) for each time step of one file."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        lat_name = coordinate(ds, ("lat", "latitude"), "latitude")
        lon_name = coordinate(ds, ("lon", "longitude"), "longitude")
        time_name = coordinate(ds, ("time",), "time")
        if var_name is None:
            var_name = next(
                n
                for n, v in ds.variables.items()
                if set(v.dimensions) >= {time_name, lat_name, lon_name} and len(v.dimensions) == 3
            )
        var = ds.variables[var_name]
        if var.dimensions != (time_name, lat_name, lon_name):
            raise ValueError(f"{var_name} has dimensions {var.dimensions}, expected (time, lat, lon)")
        lat = ds.variables[lat_name][:].filled(np.nan)
        lon = ds.variables[lon_name][:].filled(np.nan)
        time = ds.variables[time_name]
        dates = netCDF4.num2date(time[:], time.units, getattr(time, "calendar", "standard"))
        rows = np.ones(lat.size, bool)
        cols = np.ones(lon.size, bool)
        if box is not None:
            south, north, west, east = box
            rows = (lat >= south) & (lat <= north)
            cols = in_range(lon, west, east)
        weights = np.cos(np.radians(lat[rows]))[:, None] * np.ones(cols.sum())[None, :]
        out = []
        for t, date in enumerate(dates):
            field = np.ma.masked_invalid(var[t][rows][:, cols].astype(np.float64))
            valid = ~np.ma.getmaskarray(field)
            values = field.filled(0.0)
            count = int(valid.sum())
            out.append(
                (
                    date.isoformat(),
                    float((values * weights)[valid].sum()),
                    float(weights[valid].sum()),
                    count,
                    float(values[valid].min()) if count else float("nan"),
                    float(values[valid].max()) if count else float("nan"),
                    os.path.basename(path),
                )
            )
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--var")
    parser.add_argument("--box", nargs=4, type=float, metavar=("SOUTH", "NORTH", "WEST", "EAST"))
    args = parser.parse_args()
    files = netcdf_files(args.inputs)
    if not files:
        raise SystemExit(f"no netCDF files in {args.inputs}")

    spark = SparkSession.builder.appName("area mean time series").getOrCreate()
    var_name, box = args.var, args.box
    steps = (
        spark.sparkContext.parallelize(files, len(files))
        .flatMap(lambda path: file_series(path, var_name, box))
        .collect()
    )
    spark.stop()

    with open(os.path.join(args.results, "timeseries.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["time", "mean", "count", "min", "max", "file"])
        for time, total, weight, count, low, high, name in sorted(steps):
            mean = total / weight if count else float("nan")
            out.writerow([time, repr(mean), count, repr(low), repr(high), name])
    print(f"{len(steps)} time steps from {len(files)} files")


if __name__ == "__main__":
    main()
