"""Hostile netCDF files for the ocean kinds: headers and chunk indexes that lie.

    hostile.py ATTACK FILE     writes the file of one attack (names below)

Every file is small on disk. The header attacks declare sizes that would make a reader allocate
terabytes (netCDF-4 allocates no chunk until it is written, so a declared 10^6 x 10^6 grid costs
nothing on disk); the chunk attacks write an ordinary compressed file with netCDF4 and then
corrupt the chunk index (the version 1 B-tree netCDF-4 writes) or the layout message in place.
"""
import struct
import sys
import zlib

import netCDF4
import numpy as np

LAT = np.arange(10.0, -10.5, -1.0)  # 21 rows
LON = np.arange(0.0, 360.0, 2.0)  # 180 columns
CHUNK = (1, 21, 90)  # two chunks per time step


def axes(f, ny, nx, lat=None, lon=None, time=(0.0,), time_units="days since 2024-01-01"):
    f.createDimension("time", len(time) if not isinstance(time, int) else time)
    f.createDimension("lat", ny)
    f.createDimension("lon", nx)
    t = f.createVariable("time", "f8", ("time",))
    t.units = time_units
    t.calendar = "standard"
    if not isinstance(time, int):
        t[:] = np.asarray(time, dtype="f8")
    for name, values, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
        v = f.createVariable(name, "f4", (name,))
        v.units = units
        if values is not None:
            v[:] = values


def sst(f, dims=("time", "lat", "lon"), chunks=CHUNK, data=None):
    v = f.createVariable("sst", "i2", dims, zlib=True, chunksizes=chunks, fill_value=np.int16(-32768))
    v.units = "kelvin"
    v.scale_factor = 0.001
    v.add_offset = 290.0
    if data is not None:
        v[:] = data


def ordinary(path, time=(0.0, 1.0)):
    """A valid file: two steps of a 21 x 180 int16 grid in four zlib chunks."""
    with netCDF4.Dataset(path, "w") as f:
        axes(f, LAT.size, LON.size, LAT, LON, time=time)
        sst(f, data=np.random.default_rng(3).integers(-9000, 9000, (len(time), LAT.size, LON.size)))


def grid_declared_1e6_by_1e6(path):
    """lat and lon of a million values each (8 MB of coordinates), no data written."""
    with netCDF4.Dataset(path, "w") as f:
        n = 1_000_000
        axes(f, n, n, np.linspace(-90, 90, n), np.linspace(-180, 180, n))
        sst(f, chunks=(1, 1000, 1000))


def curvilinear_declared_1e5_by_1e5(path):
    """2-D latitude and longitude of 10^10 values each, none written."""
    with netCDF4.Dataset(path, "w") as f:
        n = 100_000
        f.createDimension("time", 1)
        f.createDimension("y", n)
        f.createDimension("x", n)
        t = f.createVariable("time", "f8", ("time",))
        t.units = "days since 2024-01-01"
        t[:] = [0.0]
        for name, standard in (("lat", "latitude"), ("lon", "longitude")):
            v = f.createVariable(name, "f4", ("y", "x"), chunksizes=(1000, 1000))
            v.standard_name = standard
        sst(f, dims=("time", "y", "x"), chunks=(1, 1000, 1000))
        f["sst"].coordinates = "lon lat"


def time_axis_declared_2e9_steps(path):
    """A time dimension of two billion steps (16 GB of time values), none written."""
    with netCDF4.Dataset(path, "w") as f:
        axes(f, LAT.size, LON.size, LAT, LON, time=2_000_000_000)
        f["time"].set_auto_mask(False)
        sst(f)


def time_values_beyond_any_calendar(path):
    ordinary(path, time=(0.0, 1e300))


def time_value_missing(path):
    ordinary(path, time=(0.0, np.nan))


# ---------------------------------------------------------------- chunk index surgery


def chunk_index(data, rank=3):
    """[(offset of the key in the file, chunk size, chunk coordinates, chunk address)] of every
    version 1 B-tree node of raw data chunks: "TREE", type 1, then keys of (size u32, filter
    mask u32, rank + 1 coordinates u64) alternating with child addresses (u64)."""
    found, at = [], data.find(b"TREE")
    while at >= 0:
        if data[at + 4] == 1 and data[at + 5] == 0:  # a leaf of a chunk index
            used = struct.unpack_from("<H", data, at + 6)[0]
            key = at + 24
            for _ in range(used):
                size = struct.unpack_from("<I", data, key)[0]
                coords = struct.unpack_from(f"<{rank + 1}Q", data, key + 8)
                address = struct.unpack_from("<Q", data, key + 8 + 8 * (rank + 1))[0]
                found.append((key, size, coords[:rank], address))
                key += 8 + 8 * (rank + 1) + 8
        at = data.find(b"TREE", at + 1)
    assert found, "no chunk index found"
    return found


def corrupt(path, change):
    ordinary(path)
    data = bytearray(open(path, "rb").read())
    change(data, chunk_index(bytes(data)))
    open(path, "wb").write(bytes(data))


def chunk_size_beyond_file_end(path):
    """The first chunk claims 4 GB of compressed bytes."""
    corrupt(path, lambda data, index: struct.pack_into("<I", data, index[0][0], 0xFFFF_FF00))


def chunk_address_beyond_file_end(path):
    """The first chunk lies at 2^62, far past the end of the file."""
    def change(data, index):
        key = index[0][0]
        struct.pack_into("<Q", data, key + 8 + 8 * 4, 1 << 62)
    corrupt(path, change)


def chunk_inflating_beyond_its_shape(path):
    """The first chunk's bytes replaced by a zlib stream of 64 times the chunk's size in zeros
    (a zip bomb in miniature: it fits in the chunk's place)."""
    def change(data, index):
        key, size, _, address = index[0]
        bomb = zlib.compress(bytes(CHUNK[1] * CHUNK[2] * 2 * 64), 9)
        assert len(bomb) <= size, (len(bomb), size)
        data[address:address + len(bomb)] = bomb
        struct.pack_into("<I", data, key, len(bomb))
    corrupt(path, change)


def layout_chunk_shape(path, shape):
    """Replaces the chunk dimensions of the layout message (version 3, chunked: version, class 2,
    rank + 1, the index address, then rank + 1 u32 dimensions, the last the element size)."""
    ordinary(path)
    data = bytearray(open(path, "rb").read())
    pattern = struct.pack("<4I", *CHUNK, 2)
    at = data.find(pattern)
    assert at > 11 and data[at - 11:at - 8] == bytes([3, 2, 4]) and data.find(pattern, at + 1) < 0
    struct.pack_into("<4I", data, at, *shape, 2)
    open(path, "wb").write(bytes(data))


def chunk_shape_declared_huge(path):
    """Chunks declared 1 x 65535 x 65535 int16 (8.6 GB each) over the same 21 x 180 grid."""
    layout_chunk_shape(path, (1, 65535, 65535))


def chunk_shape_declared_zero(path):
    layout_chunk_shape(path, (1, 0, 90))


def truncated(path):
    """The file cut in the middle of its chunks."""
    ordinary(path)
    data = open(path, "rb").read()
    address = chunk_index(data)[-1][3]
    open(path, "wb").write(data[:address + 10])


ATTACKS = {f.__name__: f for f in [
    grid_declared_1e6_by_1e6, curvilinear_declared_1e5_by_1e5, time_axis_declared_2e9_steps,
    time_values_beyond_any_calendar, time_value_missing, chunk_size_beyond_file_end,
    chunk_address_beyond_file_end, chunk_inflating_beyond_its_shape, chunk_shape_declared_huge,
    chunk_shape_declared_zero, truncated, ordinary,
]}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ATTACKS:
        sys.exit(__doc__ + "\nattacks: " + ", ".join(ATTACKS))
    ATTACKS[sys.argv[1]](sys.argv[2])
