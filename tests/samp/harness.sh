# Shared by exchange.sh and web.sh (sourced, after they set their arguments): a private
# loopback, a scratch HOME with its own SAMP lockfile, and the helpers the checks use.
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
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$WORK"/*.log "$WORK"/*.out; do [[ -f $f ]] && { echo "--- $f"; tail -30 "$f"; }; done
    exit 1
}
pass() { echo "PASS: $*"; }
# Polls a condition (a command) every 100 ms for up to UNTIL_OK_TENTHS tenths of a second.
until_ok() {
    local what=$1; shift
    for _ in $(seq "${UNTIL_OK_TENTHS:-200}"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "timed out waiting for: $what"
}
