#!/usr/bin/env python3
"""vocloud SOM vs somoclu 1.7.6 on the same seeded synthetic H-alpha spectra, same machine, same run.

For each size (N spectra x D bins) and map (rows x cols): generate the five-class spectra of
docs/refs/som.md (seeded), draw the shared initial codebook W0 (M rows of X without replacement,
numpy PCG64 seed 12345, index order), train 10 batch epochs with somoclu's defaults (Gaussian,
compact support, radius min(rows,cols)/2 -> 1 linear) in vocloud (examples/som_bench.rs, release)
and in somoclu, then compute QE, TE8, TE4 and purity of both final codebooks with the same float64
code. Also measures the machine's float32 GEMM rate (NumPy/OpenBLAS sgemm on the BMU shape) and
the lower bound of one epoch: 2NMD (distances) + min(2M^2 D, 2NMD) (update), at that rate.

Usage (somoclu goes into its own venv, never into CI):
  python3 -m venv target/som-bench-venv
  target/som-bench-venv/bin/pip install numpy setuptools wheel
  target/som-bench-venv/bin/pip install --no-build-isolation somoclu==1.7.6
  target/som-bench-venv/bin/python benches/som/compare.py --sizes 2000x1000,20000x2000 --maps 30x30,50x50
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "workers", "tests"))
import ml_reference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def spectra(n, d, seed):
    """Five classes: Gaussian/Lorentzian absorption, emission, double-peaked emission, P-Cygni
    (workers/tests/ml_reference.py, the seeded set the ML tests and benchmarks use too)."""
    x, cls, _ = ml_reference.spectra(n, d, seed)
    return x, cls.astype(np.int64)


def initial_codebook(x, m, seed=12345):
    rng = np.random.Generator(np.random.PCG64(seed))
    # With more nodes than spectra (small x 50x50) rows must repeat.
    idx = np.sort(rng.choice(x.shape[0], size=m, replace=m > x.shape[0]))
    return np.ascontiguousarray(x[idx])


def quality(x, w, labels, rows, cols):
    """QE, TE8, TE4, purity in float64 (som.md definitions; ties to the lowest node)."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    wn = (w64 * w64).sum(1)
    best = np.empty(len(x), dtype=np.int64)
    second = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), 4096):
        xb = x64[s:s + 4096]
        d2 = (xb * xb).sum(1)[:, None] - 2 * xb @ w64.T + wn[None, :]
        b = d2.argmin(1)
        d2[np.arange(len(xb)), b] = np.inf
        best[s:s + 4096], second[s:s + 4096] = b, d2.argmin(1)
    qe = np.sqrt(((x64 - w64[best]) ** 2).sum(1)).mean()
    rb, cb, rs, cs = best // cols, best % cols, second // cols, second % cols
    te8 = np.mean(np.maximum(abs(rb - rs), abs(cb - cs)) > 1)
    te4 = np.mean(abs(rb - rs) + abs(cb - cs) > 1)
    counts = np.zeros((rows * cols, 5))
    np.add.at(counts, (best, labels), 1)
    return dict(qe=float(qe), te8=float(te8), te4=float(te4), purity=float(counts.max(1).sum() / len(x)))


def sgemm_rate(x, w):
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        x @ w.T
        best = min(best, time.perf_counter() - t)
    return 2.0 * x.shape[0] * w.shape[0] * x.shape[1] / best / 1e9


def run_vocloud(binary, x, w0, rows, cols, epochs, tmp):
    data, init, out = (os.path.join(tmp, f) for f in ("x.f32", "w0.f32", "w.f32"))
    x.astype("<f4").tofile(data)
    w0.astype("<f4").tofile(init)
    args = [binary, data, str(len(x)), str(x.shape[1]), str(rows), str(cols), str(epochs), init, out]
    result = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    return result, np.fromfile(out, dtype="<f4").reshape(w0.shape)


def run_somoclu(x, w0, rows, cols, epochs):
    import somoclu

    som = somoclu.Somoclu(cols, rows, initialcodebook=w0.copy(), compactsupport=True, neighborhood="gaussian")
    t = time.perf_counter()
    cooling = "linear" if epochs > 1 else "exponential"
    som.train(x, epochs=epochs, radius0=0, radiusN=1, radiuscooling=cooling, scale0=0.1, scaleN=0.01,
              scalecooling=cooling)
    seconds = time.perf_counter() - t
    return seconds / epochs, som.codebook.reshape(rows * cols, -1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="2000x1000,20000x2000")
    p.add_argument("--maps", default="30x30,50x50")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-somoclu", action="store_true", help="only vocloud and the GEMM bound")
    p.add_argument("--somoclu-epochs", type=int, default=0,
                   help="train somoclu for only this many epochs (its per-epoch cost does not depend on the "
                        "radius); for sizes where 10 somoclu epochs take hours. 1 epoch uses exponential "
                        "radius and scale cooling, since somoclu's linear schedules divide by epochs-1. QE/TE of such "
                        "a short somoclu run are not comparable and are reported as such")
    p.add_argument("--out", default=os.path.join(ROOT, "target", "som-bench.json"))
    a = p.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "vocloud-workers", "--example", "som_bench"],
                   cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "examples", "som_bench")
    rows_out = []
    for size in a.sizes.split(","):
        n, d = map(int, size.split("x"))
        x, labels = spectra(n, d, a.seed)
        for shape in a.maps.split(","):
            r, c = map(int, shape.split("x"))
            m = r * c
            w0 = initial_codebook(x, m)
            rate = sgemm_rate(x, w0)
            bound = (2.0 * n * m * d + min(2.0 * m * m * d, 2.0 * n * m * d)) / (rate * 1e9)
            with tempfile.TemporaryDirectory() as tmp:
                v, wv = run_vocloud(binary, x, w0, r, c, a.epochs, tmp)
            row = dict(size=size, map=shape, openblas_sgemm_gflops=rate, gemm_bound_seconds=bound,
                       vocloud_seconds_per_epoch=v["seconds_per_epoch"], vocloud=quality(x, wv, labels, r, c),
                       vocloud_self_reported=dict(qe=v["qe"], te8=v["te8"], te4=v["te4"]),
                       vocloud_bmu_pass_gemm_seconds=v["bmu_pass_gemm_seconds"],
                       vocloud_bmu_pass_direct_seconds=v["bmu_pass_direct_seconds_extrapolated"],
                       direct_vs_gemm_bmu_agreement=v["direct_vs_gemm_bmu_agreement"],
                       vocloud_kernel=v["kernel"],
                       vocloud_bmu_pass_seconds_by_kernel=v["bmu_pass_seconds_by_kernel"],
                       vocloud_sgemm_gflops_by_kernel=v["sgemm_gflops_by_kernel"])
            if not a.no_somoclu:
                s_epochs = a.somoclu_epochs or a.epochs
                s_sec, ws = run_somoclu(x, w0, r, c, s_epochs)
                row.update(somoclu_seconds_per_epoch=s_sec, somoclu_epochs=s_epochs,
                           somoclu=quality(x, ws, labels, r, c), speedup=s_sec / v["seconds_per_epoch"])
                if s_epochs != a.epochs:
                    row["somoclu_note"] = f"somoclu ran {s_epochs} epoch(s), vocloud {a.epochs}: QE/TE not comparable"
            row["vs_bound"] = v["seconds_per_epoch"] / bound
            rows_out.append(row)
            print(json.dumps(row), flush=True)
    with open(a.out, "w") as f:
        json.dump(rows_out, f, indent=1)
    print("\n| size | map | vocloud s/epoch | somoclu s/epoch | speed-up | GEMM bound s | vocloud/bound | "
          "QE vocloud / somoclu | TE8 vocloud / somoclu | purity vocloud / somoclu |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows_out:
        s = row.get("somoclu", {})
        fmt = lambda k, p: f"{row['vocloud'][k]:.{p}f} / " + (f"{s[k]:.{p}f}" if s else "-")
        print(f"| {row['size']} | {row['map']} | {row['vocloud_seconds_per_epoch']:.3f} | "
              f"{row.get('somoclu_seconds_per_epoch', float('nan')):.2f} | {row.get('speedup', float('nan')):.0f}x | "
              f"{row['gemm_bound_seconds']:.3f} | {row['vs_bound']:.2f} | {fmt('qe', 4)} | {fmt('te8', 4)} | "
              f"{fmt('purity', 3)} |")


if __name__ == "__main__":
    sys.exit(main())
