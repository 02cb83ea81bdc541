"""Reference timings for benches/plots.rs: matplotlib (Agg, what VO-CLOUD's WebAgg plotter
used) and datashader (line aggregation + log shade) on exactly the same spectra, written by the
Rust bench to target/plot-bench/. Same frame size (1000x600), same full view and 1 % pan,
render and PNG encode timed separately (PNG via Pillow at zlib level 1, as fast as ours).

Run by benches/plots.sh; prints a Markdown table.
"""

import io
import os
import statistics
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import datashader as ds  # noqa: E402
import datashader.transfer_functions as tf  # noqa: E402
from PIL import Image  # noqa: E402

DIR = sys.argv[1] if len(sys.argv) > 1 else "target/plot-bench"
KS = [int(k) for k in os.environ.get("PLOT_BENCH_K", "4,100,1000,10000").split(",")]
W, H = 1000, 600


def png(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def timed(fn, reps):
    times, out = [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), out


def matplotlib_run(grid, y, views, reps):
    fig = plt.figure(figsize=(W / 100, H / 100), dpi=100)
    ax = fig.add_subplot()
    ax.plot(grid, y.T, linewidth=0.5, alpha=0.3 if len(y) > 64 else 1.0)
    ax.set_xlabel("wavelength")
    ax.set_ylabel("flux")
    rows = []
    for name, (x0, x1, y0, y1) in views:
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)

        def render():
            fig.canvas.draw()
            return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()

        r, rgb = timed(render, reps)
        e, data = timed(lambda: png(rgb), reps)
        rows.append((name, r, e, len(data)))
    plt.close(fig)
    return rows


def datashader_run(grid, y, views, reps):
    # The usual datashader layout for many lines: one long x/y frame, spectra separated by a
    # NaN row (the wide axis=1 form recompiled on every call here: ~2.4 s even for K = 4).
    k, n = y.shape
    xs = np.empty((k, n + 1))
    xs[:, :n] = grid
    xs[:, n] = np.nan
    ys = np.empty((k, n + 1), dtype=np.float32)
    ys[:, :n] = y
    ys[:, n] = np.nan
    df = pd.DataFrame({"x": xs.ravel(), "y": ys.ravel()})
    rows = []
    for name, (x0, x1, y0, y1) in views:
        cvs = ds.Canvas(plot_width=W, plot_height=H, x_range=(x0, x1), y_range=(y0, y1))

        def render():
            agg = cvs.line(df, "x", "y", agg=ds.count())
            img = tf.shade(agg, how="log")
            return np.asarray(img.to_pil().convert("RGB"))

        render()  # numba JIT warm-up, not timed
        r, rgb = timed(render, reps)
        e, data = timed(lambda: png(rgb), reps)
        rows.append((name, r, e, len(data)))
    return rows


def main():
    grid = np.fromfile(os.path.join(DIR, "grid.f64"), dtype="<f8")
    print(f"matplotlib {matplotlib.__version__}, datashader {ds.__version__}, numpy {np.__version__}")
    print("| K | tool | frame | render ms | encode ms | PNG KiB |")
    print("|---|---|---|---|---|---|")
    for k in KS:
        y = np.fromfile(os.path.join(DIR, f"spectra-{k}.f32"), dtype="<f4").reshape(k, len(grid))
        lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
        pad = (hi - lo) * 0.05
        x0, x1 = float(grid[0]), float(grid[-1])
        shift = (x1 - x0) * 0.01
        views = [("full", (x0, x1, lo - pad, hi + pad)), ("pan 1%", (x0 + shift, x1 + shift, lo - pad, hi + pad))]
        mpl_reps = 1 if k >= 1000 else 5
        for tool, fn, reps in [("matplotlib", matplotlib_run, mpl_reps), ("datashader", datashader_run, 3 if k >= 10000 else 7)]:
            for name, r, e, size in fn(grid, y, views, reps):
                print(f"| {k} | {tool} | {name} | {r:.1f} | {e:.1f} | {size // 1024} |", flush=True)


if __name__ == "__main__":
    main()
