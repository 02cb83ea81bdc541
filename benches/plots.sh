#!/usr/bin/env bash
# Plot rendering benchmark, vocloud next to matplotlib and datashader on the same data in the
# same run (not part of CI). Creates a Python venv in target/bench-venv on first use.
#
#   bash benches/plots.sh              # K = 4, 100, 1000, 10000 (matplotlib at 10,000: ~minutes)
#   PLOT_BENCH_K=4,100 bash benches/plots.sh
#   BENCH_LOCK=/work/bench.lock bash benches/plots.sh   # build first, then measure under flock
#
# The bench binary is built before measuring so that a shared-machine lock (BENCH_LOCK) is only
# held while measuring, never while compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/bench-venv
if ! "$VENV/bin/python" -c 'import matplotlib, datashader, pandas, PIL' >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check numpy pandas matplotlib datashader pillow
fi
BIN=$(cargo bench --bench plots --no-run --message-format=json 2>/dev/null |
    "$VENV/bin/python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "plots" and m.get("executable"):
        print(m["executable"])')
measure() {
    echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
    echo "== vocloud ($BIN)"
    "$BIN"
    echo
    echo "== reference (benches/plots_reference.py)"
    "$VENV/bin/python" benches/plots_reference.py target/plot-bench
}
if [ -n "${BENCH_LOCK:-}" ]; then
    export BIN VENV
    export -f measure
    flock "$BENCH_LOCK" bash -c measure
else
    measure
fi
