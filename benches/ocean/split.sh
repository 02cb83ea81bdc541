#!/usr/bin/env bash
# Split-and-merge on the ocean bench files (benches/ocean/bench.py generates them in
# target/ocean-bench/data: one year of daily 0.25° global int16 files): one job over the year
# vs the same request as three 4-month parts (partial=...) and ocean-merge, run one after the
# other on this machine with workers/examples/ocean_run.rs. It measures what splitting costs
# (part files, merge time) and checks the merged results against the single job; the gain of
# splitting is running the parts on different machines, which one machine cannot show.
#
#   cargo build --release -p vocloud-workers --example ocean_run
#   flock /work/bench.lock benches/ocean/split.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=target/release/examples/ocean_run
DATA=target/ocean-bench/data
PY=${VOCLOUD_TEST_PYTHON:-target/pyenv/bin/python}
OUT=$(mktemp -d)
SPLIT="split-bench-$$"
trap 'rm -rf "$OUT" "$DATA/$SPLIT"' EXIT
SLICES=("2023-01-01T00:00:00Z 2023-04-30T23:59:59Z" "2023-05-01T00:00:00Z 2023-08-31T23:59:59Z" "2023-09-01T00:00:00Z 2023-12-31T23:59:59Z")

results() { sed -n 's/.* in \(.*\)$/\1/p' <<<"$1"; }
secs() { cut -d' ' -f1 <<<"$1"; }

bench() {
    local name=$1 kind=$2 file=$3; shift 3
    local one parts=0 line merge
    line=$($RUN "$DATA" "$kind" "$@" start=2023-01-01T00:00:00Z end=2023-12-31T23:59:59Z)
    one=$(secs "$line"); cp "$(results "$line")/$file" "$OUT/$name.single"
    for slice in "${SLICES[@]}"; do
        line=$($RUN "$DATA" "$kind" "$@" start="${slice% *}" end="${slice#* }" partial="$SPLIT/$name")
        parts=$(awk -v a="$parts" -v b="$(secs "$line")" 'BEGIN { print a + b }')
    done
    local size; size=$(du -cb "$DATA/$SPLIT/$name"/*.ocpart | tail -1 | cut -f1)
    line=$($RUN "$DATA" ocean-merge parts="$SPLIT/$name")
    merge=$(secs "$line"); cp "$(results "$line")/$file" "$OUT/$name.merged"
    printf '%-16s single %7.3f s | 3 parts %7.3f s in total (%.3f s each on 3 machines) + merge %.3f s | parts %s bytes\n' \
        "$name" "$one" "$parts" "$(awk -v p="$parts" 'BEGIN { print p / 3 }')" "$merge" "$size"
}

echo "split vs single on $(nproc) cores, $(date -u +%FT%TZ) (shared machine)"
bench nino34_series ocean-timeseries timeseries.json dataset=sst variable=analysed_sst bbox=-170,-5,-120,5
bench global_timeavg ocean-timeavg timeavg.nc dataset=sst variable=analysed_sst bbox=-180,-90,180,90
bench nino34_dda ocean-dda timeseries.json dataset=sst variable=analysed_sst bbox=-170,-5,-120,5 climatology=clim
"$PY" - "$OUT" <<'PY'
import json, sys
import numpy as np, xarray as xr
out = sys.argv[1]
for name in ["nino34_series", "nino34_dda"]:
    a, b = (json.load(open(f"{out}/{name}.{w}")) for w in ("merged", "single"))
    ra, rb = ([r[0] for r in d["data"]] for d in (a, b))
    assert [(r["time"], r["cnt"], r["min"], r["max"]) for r in ra] == [(r["time"], r["cnt"], r["min"], r["max"]) for r in rb]
    diff = max(abs(x[f] - y[f]) for x, y in zip(ra, rb) for f in x if isinstance(x[f], float))
    print(f"{name}: {len(ra)} steps, cnt/min/max identical, max |diff| of the other fields {diff:.3g}")
a, b = (xr.open_dataset(f"{out}/global_timeavg.{w}") for w in ("merged", "single"))
assert np.array_equal(a["count"].values, b["count"].values)
d = np.abs(a["mean"].values - b["mean"].values)
print(f"global_timeavg: counts identical, max |mean diff| {np.nanmax(d):.3g} K, "
      f"{np.count_nonzero(d)} of {d.size} pixels not bit-identical")
PY
