#!/usr/bin/env python3
"""scikit-learn side of the ML quality tests (workers/tests/ml_sklearn.rs) and benchmark
(benches/ml/compare.py): seeded synthetic spectra, and scikit-learn run on a raw float32 matrix.

  ml_reference.py generate DIR N D SEED [OUTLIERS]   -> DIR/x.f32 (N x D, row-major), DIR/y.u8
  ml_reference.py sklearn DIR N D ALGO [KEY=VALUE ...] -> JSON on stdout, arrays in DIR

Spectra: five classes of H-alpha profiles (Gaussian and Lorentzian absorption, emission,
double-peaked emission, P-Cygni) with random depth, width, centre and noise, the set
benches/som/ uses too; OUTLIERS of them get a strong spurious line somewhere else.
scikit-learn runs on 2 threads (threadpoolctl), as vocloud does on this machine.
"""

import json
import os
import sys
import time

import numpy as np


def spectra(n, d, seed, outliers=0):
    rng = np.random.default_rng(seed)
    wave = np.linspace(6250.0, 6770.0, d)
    cls = np.arange(n) % 5
    depth = 0.3 + 0.5 * rng.random(n)
    width = 2.0 + 4.0 * rng.random(n)
    centre = 6562.8 + 3.0 * rng.standard_normal(n)
    noise = 0.01 + 0.02 * rng.random(n)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 2000):
        s = slice(start, min(n, start + 2000))
        u = (wave[None, :] - centre[s, None]) / width[s, None]
        g = lambda shift: np.exp(-0.5 * (u - shift) ** 2)
        dep = depth[s, None]
        lines = np.select(
            [cls[s, None] == 0, cls[s, None] == 1, cls[s, None] == 2, cls[s, None] == 3],
            [-dep * g(0), -dep / (1 + u * u), 1.5 * dep * g(0), dep * (g(-1.5) + g(1.5))],
            dep * (g(0.8) - 0.6 * g(-1.2)),
        )
        x[s] = (1.0 + lines + noise[s, None] * rng.standard_normal(u.shape)).astype(np.float32)
    odd = rng.choice(n, size=outliers, replace=False)
    for i in odd:
        at = rng.uniform(6300.0, 6720.0)
        x[i] += (2.0 * np.exp(-0.5 * ((wave - at) / 3.0) ** 2)).astype(np.float32)
    return x, cls.astype(np.uint8), np.sort(odd)


def load(folder, n, d):
    return np.fromfile(os.path.join(folder, "x.f32"), dtype=np.float32).reshape(n, d)


def run(folder, n, d, algo, opts):
    x = load(folder, n, d)
    out = {}
    # Here, not at the top: the SOM benchmarks import this module for `spectra` alone, from a
    # Python that may have no scikit-learn.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(2):
        if algo == "kmeans":
            from sklearn.cluster import KMeans
            t = time.perf_counter()
            m = KMeans(int(opts["k"]), n_init=int(opts.get("n_init", 3)), random_state=int(opts.get("seed", 0))).fit(x)
            out = {"seconds": time.perf_counter() - t, "inertia": float(m.inertia_), "iterations": int(m.n_iter_)}
            if "silhouette" in opts:
                from sklearn.metrics import silhouette_score
                labels = np.fromfile(os.path.join(folder, "labels.f64")).astype(int)
                out["silhouette_of_ours"] = float(silhouette_score(x, labels))
        elif algo == "pca":
            from sklearn.decomposition import PCA
            k = int(opts["components"])
            t = time.perf_counter()
            PCA(k).fit(x)
            out["default_f32_seconds"] = time.perf_counter() - t
            x64 = x.astype(np.float64)
            t = time.perf_counter()
            p = PCA(k, svd_solver="full").fit(x64)
            out["full_f64_seconds"] = time.perf_counter() - t
            out["explained_variance"] = p.explained_variance_.tolist()
            out["explained_variance_ratio"] = p.explained_variance_ratio_.tolist()
            p.components_.astype(np.float64).tofile(os.path.join(folder, "sk_components.f64"))
        elif algo == "lof":
            from scipy.stats import spearmanr
            from sklearn.neighbors import LocalOutlierFactor
            t = time.perf_counter()
            m = LocalOutlierFactor(int(opts.get("neighbors", 20)), n_jobs=2).fit(x)
            out["seconds"] = time.perf_counter() - t
            ours = np.fromfile(os.path.join(folder, "lof.f64"))
            theirs = -m.negative_outlier_factor_
            out["spearman"] = float(spearmanr(theirs, ours).statistic)
            out["max_relative_difference"] = float(np.max(np.abs(theirs - ours) / theirs))
        elif algo == "iforest":
            from scipy.stats import spearmanr
            from sklearn.ensemble import IsolationForest
            t = time.perf_counter()
            m = IsolationForest(n_estimators=int(opts.get("trees", 100)), random_state=int(opts.get("seed", 0)), n_jobs=2).fit(x)
            theirs = -m.score_samples(x)
            out["seconds"] = time.perf_counter() - t
            ours = np.fromfile(os.path.join(folder, "iforest.f64"))
            out["spearman"] = float(spearmanr(theirs, ours).statistic)
            planted = np.fromfile(os.path.join(folder, "planted.i64"), dtype=np.int64) if os.path.exists(os.path.join(folder, "planted.i64")) else np.array([], dtype=np.int64)
            if len(planted):
                top = lambda s: set(np.argsort(-s)[: len(planted)].tolist())
                out["planted_in_top_theirs"] = len(top(theirs) & set(planted.tolist())) / len(planted)
                out["planted_in_top_ours"] = len(top(ours) & set(planted.tolist())) / len(planted)
        elif algo == "forest":
            from sklearn.ensemble import RandomForestClassifier
            from sklearn.model_selection import PredefinedSplit, cross_val_score
            y = np.fromfile(os.path.join(folder, "y.u8"), dtype=np.uint8)
            folds = np.fromfile(os.path.join(folder, "folds.f64")).astype(int)
            trees = int(opts.get("trees", 100))
            t = time.perf_counter()
            RandomForestClassifier(trees, n_jobs=2, random_state=0).fit(x, y)
            out["fit_seconds"] = time.perf_counter() - t
            t = time.perf_counter()
            scores = cross_val_score(RandomForestClassifier(trees, n_jobs=2, random_state=0), x, y, cv=PredefinedSplit(folds))
            out["cv_seconds"] = time.perf_counter() - t
            out["cv_accuracy"] = float(scores.mean())
            out["fold_accuracy"] = scores.tolist()
        else:
            raise SystemExit(f"unknown algorithm {algo}")
    return out


def main():
    if sys.argv[1] == "generate":
        folder, n, d, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        outliers = int(sys.argv[6]) if len(sys.argv) > 6 else 0
        x, y, odd = spectra(n, d, seed, outliers)
        x.tofile(os.path.join(folder, "x.f32"))
        y.tofile(os.path.join(folder, "y.u8"))
        odd.astype(np.int64).tofile(os.path.join(folder, "planted.i64"))
    elif sys.argv[1] == "sklearn":
        folder, n, d, algo = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        opts = dict(a.split("=", 1) for a in sys.argv[6:])
        print(json.dumps(run(folder, n, d, algo, opts)))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
