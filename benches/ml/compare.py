#!/usr/bin/env python3
"""vocloud's ML algorithms vs scikit-learn on the same seeded spectra, same machine, same run.

For each algorithm: run vocloud's (workers/examples/ml_bench.rs, release build) on the raw float32
matrix, then scikit-learn (2 threads, threadpoolctl) on the same matrix, and compare quality
(the same tolerances as workers/tests/ml_sklearn.rs) and compute time (both exclude reading the
file). The spectra come from workers/tests/ml_reference.py: five H-alpha profile classes, with
1% planted outliers (a spurious strong line).

Usage (needs numpy, scipy, scikit-learn, threadpoolctl in the Python used):
  cargo build --release -p vocloud-workers --example ml_bench
  target/pyenv/bin/python benches/ml/compare.py --size 20000x2000 [--only kmeans,pca,...] [--out FILE]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "workers", "tests"))
import ml_reference  # noqa: E402

BENCH = os.path.join(ROOT, "target", "release", "examples", "ml_bench")


def ours(folder, n, d, algo, *opts):
    out = subprocess.run([BENCH, os.path.join(folder, "x.f32"), str(n), str(d), folder, algo, *opts],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="20000x2000")
    ap.add_argument("--only", default="kmeans,pca,lof,iforest,forest")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--out")
    args = ap.parse_args()
    n, d = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        x, y, planted = ml_reference.spectra(n, d, 11, outliers=n // 100)
        x.tofile(os.path.join(folder, "x.f32"))
        y.tofile(os.path.join(folder, "y.u8"))
        planted.astype("int64").tofile(os.path.join(folder, "planted.i64"))
        del x
        report = {"size": args.size, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                  "load": os.getloadavg(), "algorithms": {}}
        rows = []
        for algo in args.only.split(","):
            if algo == "kmeans":
                a = ours(folder, n, d, "kmeans", f"k={args.k}", "n_init=3", "seed=1")
                b = ml_reference.run(folder, n, d, "kmeans", {"k": args.k, "n_init": 3, "seed": 1})
                quality = f"inertia {a['inertia'] / b['inertia']:.4f}x scikit-learn's"
                rows.append((f"k-means k={args.k}, 3 restarts", a["seconds"], b["seconds"], quality))
            elif algo == "pca":
                a = ours(folder, n, d, "pca", "components=10")
                b = ml_reference.run(folder, n, d, "pca", {"components": 10})
                rel = max(abs(p - q) / q for p, q in zip(a["explained_variance"], b["explained_variance"]))
                quality = f"explained variance max rel. diff {rel:.1e} vs svd_solver=full"
                rows.append(("PCA 10 components (vs default solver, f32)", a["seconds"], b["default_f32_seconds"], quality))
                rows.append(("PCA 10 components (vs svd_solver=full, f64)", a["seconds"], b["full_f64_seconds"], ""))
            elif algo == "lof":
                a = ours(folder, n, d, "lof", "neighbors=20")
                b = ml_reference.run(folder, n, d, "lof", {"neighbors": 20})
                quality = f"Spearman {b['spearman']:.6f}, max rel. diff {b['max_relative_difference']:.1e}"
                rows.append(("LOF 20 neighbours", a["seconds"], b["seconds"], quality))
            elif algo == "iforest":
                a = ours(folder, n, d, "iforest", "trees=100", "seed=1")
                b = ml_reference.run(folder, n, d, "iforest", {"trees": 100, "seed": 1})
                quality = (f"planted outliers in the top {len(planted)}: ours {b['planted_in_top_ours']:.2f}, "
                           f"scikit-learn {b['planted_in_top_theirs']:.2f}; Spearman {b['spearman']:.3f}")
                rows.append(("isolation forest 100 trees (fit + score)", a["seconds"], b["seconds"], quality))
            elif algo == "forest":
                y.tofile(os.path.join(folder, "y.u8"))
                a = ours(folder, n, d, "forest", f"labels={os.path.join(folder, 'y.u8')}", f"trees={args.trees}", "seed=1")
                b = ml_reference.run(folder, n, d, "forest", {"trees": args.trees})
                quality = f"5-fold CV accuracy ours {a['cv_accuracy']:.4f}, scikit-learn {b['cv_accuracy']:.4f} (same folds)"
                rows.append((f"random forest {args.trees} trees, fit", a["fit_seconds"], b["fit_seconds"], quality))
                rows.append((f"random forest {args.trees} trees, 5-fold CV", a["cv_seconds"], b["cv_seconds"], ""))
            report["algorithms"][algo] = {"vocloud": a, "sklearn": b}
            print(f"{algo} done: {rows[-1] if algo != 'forest' else rows[-2:]}", file=sys.stderr)
            if args.out:  # after every algorithm, so a long run that is stopped keeps what it measured
                with open(args.out, "w") as f:
                    json.dump(report, f, indent=1)
    report["load_after"] = os.getloadavg()
    report["table"] = [{"algorithm": r[0], "vocloud_s": r[1], "sklearn_s": r[2], "quality": r[3]} for r in rows]
    print(f"\n{n} x {d}, load {report['load'][0]:.1f} -> {report['load_after'][0]:.1f}\n")
    print(f"| algorithm | vocloud s | scikit-learn s | speed-up | quality |\n|---|---|---|---|---|")
    for name, ta, tb, quality in rows:
        print(f"| {name} | {ta:.2f} | {tb:.2f} | {tb / ta:.1f}x | {quality} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
