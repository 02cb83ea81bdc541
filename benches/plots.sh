#!/usr/bin/env bash
# Plot rendering benchmark, vocloud next to matplotlib and datashader on the same data in the
# same run (not part of CI). Creates a Python venv in target/bench-venv on first use.
#
#   bash benches/plots.sh              # K = 4, 100, 1000, 10000 (matplotlib at 10,000: ~minutes)
#   PLOT_BENCH_K=4,100 bash benches/plots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/bench-venv
if ! "$VENV/bin/python" -c 'import matplotlib, datashader, pandas, PIL' >/dev/null 2>&1; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check numpy pandas matplotlib datashader pillow
fi
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo "== vocloud (cargo bench --bench plots)"
cargo bench --bench plots 2>/dev/null
echo
echo "== reference (benches/plots_reference.py)"
"$VENV/bin/python" benches/plots_reference.py target/plot-bench
