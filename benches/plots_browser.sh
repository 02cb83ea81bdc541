#!/usr/bin/env bash
# Input → settled-frame latency in headless Chromium against a RELEASE server: 1,000 spectra ×
# 4,000 points (the benchmark's data), the same page test as tests/api/browser.rs
# (tests/browser/plot.cjs). Needs `./x setup --test` (Chromium, playwright-core) and the data of
# `cargo bench --bench plots` in target/plot-bench/ (for the CSV) plus target/bench-venv (numpy).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin vocloud 2>/dev/null
WORK=$(mktemp -d)
PORT=${PORT:-18431}
PASS=bench-password
VOCLOUD_ADMIN_PASSWORD=$PASS VOCLOUD_LOG__FILTER=warn target/release/vocloud serve \
    --bind 127.0.0.1:$PORT --data-dir "$WORK/data" --local-workers 0 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
target/bench-venv/bin/python - "$WORK/spectra.csv" <<'PY'
import sys, numpy as np
grid = np.fromfile("target/plot-bench/grid.f64", dtype="<f8")
y = np.fromfile("target/plot-bench/spectra-1000.f32", dtype="<f4").reshape(1000, len(grid))
with open(sys.argv[1], "w") as f:
    f.write("name," + ",".join(f"{w:.4f}" for w in grid) + "\n")
    for k, row in enumerate(y):
        f.write(f"s{k}," + ",".join(f"{v:.5g}" for v in row) + "\n")
PY
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/vosi/availability" >/dev/null && break; sleep 0.2; done
curl -sf -u admin:$PASS -T "$WORK/spectra.csv" "http://127.0.0.1:$PORT/api/files/bench/spectra.csv" >/dev/null
PAGE=$(curl -s -o /dev/null -w '%{redirect_url}' -u admin:$PASS "http://127.0.0.1:$PORT/plots/new?path=bench/spectra.csv")
mkdir -p target/browser-shots-release
NODE_PATH=target/node/node_modules PLOT_URL=$PAGE PLOT_USER=admin PLOT_PASSWORD=$PASS \
    OUT_DIR=target/browser-shots-release node tests/browser/plot.cjs
