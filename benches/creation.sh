#!/usr/bin/env bash
# Job-creation throughput with wrk: PENDING `diag` jobs POSTed to /uws/diag by 64 connections
# on 2 client threads, against a release `vocloud serve` (SQLite in a temp folder), and — when
# a URL is given — against another UWS service in the same run (DaCHS's TAP async endpoint).
#
#   bash benches/creation.sh [VOCLOUD_BINARY ...] [-- DACHS_ASYNC_URL]
#
# Each binary is measured in turn, the order reversed every other round, ROUNDS times (default 3); figures are
# requests/s of 303 answers (wrk counts other statuses as errors and they are printed).
# Needs wrk (apt-get install wrk). DURATION (s, default 20), CONNECTIONS (64), ROUNDS.
set -euo pipefail

DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
PASSWORD=bench-password

binaries=()
dachs=""
while (($#)); do
    case "$1" in
        --) dachs=${2:-}; shift $#; break ;;
        *) binaries+=("$1"); shift ;;
    esac
done
((${#binaries[@]})) || binaries=(target/release/vocloud)
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }

work=$(mktemp -d)
server=""
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

auth=$(printf 'admin:%s' "$PASSWORD" | base64 -w0)
cat >"$work/vocloud.lua" <<EOF
wrk.method = "POST"
wrk.body = "duration=0"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $auth"
EOF
cat >"$work/dachs.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "LANG=ADQL&QUERY=SELECT%20TOP%201%20*%20FROM%20tap_schema.tables"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wrk's requests/s, and its error lines if any.
measure() {
    local url=$1 script=$2 out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$script" "$url")
    grep -E "Non-2xx|Socket errors" <<<"$out" >&2 || true
    awk '/Requests\/sec/ {print $2}' <<<"$out"
}

run_vocloud() {
    local binary=$1 port data
    port=$(free_port)
    data="$work/data-$RANDOM"
    VOCLOUD_ADMIN_PASSWORD=$PASSWORD RUST_LOG=warn "$binary" --data-dir "$data" serve \
        --local-workers 0 --bind "127.0.0.1:$port" >/dev/null 2>"$work/serve.log" &
    server=$!
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
        sleep 0.1
    done
    # One authenticated request first: argon2 runs once, then the credentials are cached.
    curl -sf -u "admin:$PASSWORD" "http://127.0.0.1:$port/uws/diag?LAST=1" >/dev/null
    measure "http://127.0.0.1:$port/uws/diag" "$work/vocloud.lua"
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=""
}

echo "job creation, wrk -t2 -c$CONNECTIONS -d${DURATION}s, $(nproc) cores shared by client and server"
for round in $(seq "$ROUNDS"); do
    # Alternate the order each round, so neither binary always runs on a warmer machine.
    order=("${binaries[@]}")
    if ((round % 2 == 0)); then
        order=()
        for ((i = ${#binaries[@]} - 1; i >= 0; i--)); do order+=("${binaries[i]}"); done
    fi
    for binary in "${order[@]}"; do
        printf 'round %s  %-50s %10s jobs/s\n' "$round" "$binary" "$(run_vocloud "$binary")"
    done
    if [[ -n $dachs ]]; then
        printf 'round %s  %-50s %10s jobs/s\n' "$round" "DaCHS $dachs" "$(measure "$dachs" "$work/dachs.lua")"
    fi
done
