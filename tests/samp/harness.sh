# Shared by the SAMP test scripts (sourced, after they set their arguments): a private loopback,
# a scratch HOME with its own SAMP lockfile, and the helpers the checks use.
# UNTIL_OK_TENTHS (default 200) is how long until_ok waits, in tenths of a second.

ip link set lo up
WORK=$(mktemp -d)
export HOME=$WORK/home SAMP_HUB=std-lockurl:file://$WORK/samp.lock
mkdir -p "$HOME"
JSAMP="java -Djava.awt.headless=true -cp /usr/share/java/jsamp.jar org.astrogrid.samp.JSamp"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    # The astropy hub sometimes hangs in its SIGTERM handler under load: give up after 5 s.
    for _ in $(seq 50); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
    if ((FAILED)); then exit 1; fi
}
trap cleanup EXIT
# KEEP_GOING=1 reports every failed check and goes on (to see which checks an old build fails);
# otherwise the first failure ends the script with the logs.
STEP_FAILED=0 FAILED=0
fail() {
    echo "FAIL: $*"
    if [[ ${KEEP_GOING:-0} == 1 ]]; then
        STEP_FAILED=1 FAILED=1
        return 0
    fi
    for f in "$WORK"/*.log "$WORK"/*.out; do [[ -f $f ]] && { echo "--- $f"; tail -30 "$f"; }; done
    exit 1
}
pass() {
    ((STEP_FAILED)) || echo "PASS: $*"
    STEP_FAILED=0
}
# Polls a condition (a command) every 100 ms for up to UNTIL_OK_TENTHS tenths of a second.
until_ok() {
    local what=$1; shift
    for _ in $(seq "${UNTIL_OK_TENTHS:-200}"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "timed out waiting for: $what"
}

# Starts a hub in the background and waits until it answers; HUB is its pid.
#   start_hub jsamp|astropy std|web       (web: the Web Profile too, accepting every page)
start_hub() {
    local kind=$1 profiles=$2 log=$WORK/hub-$SECONDS-$RANDOM.log
    case $kind/$profiles in
        jsamp/std) $JSAMP hub -mode no-gui -profiles std > "$log" 2>&1 & ;;
        jsamp/web) $JSAMP hub -mode no-gui -profiles std,web -web:auth true > "$log" 2>&1 & ;;
        astropy/std) "$PY" "$HERE/astropy_hub.py" --no-web > "$log" 2>&1 & ;;
        astropy/web) "$PY" "$HERE/astropy_hub.py" > "$log" 2>&1 & ;;
        *) fail "unknown hub $kind/$profiles" ;;
    esac
    HUB=$!
    PIDS+=("$HUB")
    python3 "$HERE/wait_hub.py" --timeout 60 >/dev/null || fail "the $kind hub did not start"
}

# A vocloud server on 127.0.0.1:18080 with the user alice; TOKEN is her API token.
start_server() {
    "$VOCLOUD" --data-dir "$WORK/server" user add alice --password-stdin <<<"alice-password" > /dev/null
    TOKEN=$("$VOCLOUD" --data-dir "$WORK/server" token create alice)
    VOCLOUD_LOG__FILTER=warn "$VOCLOUD" --data-dir "$WORK/server" serve --bind 127.0.0.1:18080 \
        --local-workers "${LOCAL_WORKERS:-0}" > "$WORK/server.log" 2>&1 &
    PIDS+=($!)
    until_ok "vocloud server" curl -sf http://127.0.0.1:18080/health
}

# A file of alice's storage (GET /api/files/PATH) to stdout.
stored() { curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18080/api/files/$1"; }

# Serves $WORK/data over HTTP on 127.0.0.1:18081 (the desktop side's files).
serve_data() {
    mkdir -p "$WORK/data"
    (cd "$WORK/data" && exec "$PY" -m http.server 18081 --bind 127.0.0.1 > "$WORK/http.log" 2>&1) &
    PIDS+=($!)
    until_ok "http server" curl -sf -o /dev/null http://127.0.0.1:18081/
}
