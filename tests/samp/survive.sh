#!/usr/bin/env bash
# `vocloud samp` when hubs come and go, inside a private network namespace:
#
#   unshare --net bash tests/samp/survive.sh jsamp|astropy VOCLOUD_BINARY PYTHON
#
# The listener notices a killed hub (kill -9: no goodbye, a stale lockfile), says so once, joins
# the next hub within 10 s and receives again; a hub that shuts down properly does not end it;
# with --once it ends with status 1 for a vanished hub and 0 for a shutdown. `send` says what
# happened: no hub, a dead hub behind a stale lockfile, a hub that crashes while it waits for an
# answer, and no client taking spectra while one takes tables. Prints PASS lines; exits 1 at the
# first FAIL.
set -euo pipefail
HUB_KIND=$1 VOCLOUD=$2 PY=$3
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=tests/samp/harness.sh
source "$HERE/harness.sh"
start_server
D=$WORK/data
mkdir -p "$D"
"$PY" "$HERE/data.py" table "$D/t.vot" 10

listen() { # listen NAME [--once]: a listener into folder NAME, its output in $WORK/NAME.out
    VOCLOUD_TOKEN=$TOKEN "$VOCLOUD" samp listen --master http://127.0.0.1:18080 --folder "$1" "${@:2}" \
        > "$WORK/$1.out" 2>&1 &
    PIDS+=($!)
}
count() { grep -c "$1" "$WORK/$2.out" || true; }
# Sends t.vot to the listener (through the hub, from an astropy client); prints the answer.
deliver() { "$PY" "$HERE/samp_peer.py" call vocloud table.load.votable "url=file://$D/t.vot" "name=$1"; }

start_hub "$HUB_KIND" std
listen inbox
LISTEN=$!
listen vanished --once
ONCE=$!
until_ok "listeners registered" bash -c "grep -q 'listening as' '$WORK/inbox.out' && grep -q 'listening as' '$WORK/vanished.out'"

# ------------------------------------------------------------------ a killed hub
kill -9 "$HUB"
until_ok "the listener noticed" grep -q "the SAMP hub went away" "$WORK/inbox.out"
status=0; wait "$ONCE" || status=$?
[[ $status == 1 ]] || fail "listen --once after a killed hub: exit status $status, want 1: $(cat "$WORK/vanished.out")"
start_hub "$HUB_KIND" std
ready=$SECONDS
until_ok "the listener joined the next hub" bash -c "(( \$(grep -c 'listening as' '$WORK/inbox.out') == 2 ))"
(( SECONDS - ready <= 10 )) || fail "joining the next hub took $((SECONDS - ready)) s"
[[ $(count "went away" inbox) == 1 && $(count "waiting for the next SAMP hub" inbox) == 1 ]] \
    || fail "the loss is not said exactly once: $(cat "$WORK/inbox.out")"
resp=$(deliver after-kill) || fail "$resp"
[[ $resp == *samp.ok* && $resp == *inbox/after-kill.vot* ]] || fail "after the new hub: $resp"
pass "kill -9 the hub: said once, rejoined the next hub in $((SECONDS - ready)) s and receives; --once exits 1"

# ------------------------------------------------------------------ a hub that shuts down
listen shutdown --once
ONCE=$!
until_ok "the --once listener registered" grep -q "listening as" "$WORK/shutdown.out"
kill -TERM "$HUB"
status=0; wait "$ONCE" || status=$?
[[ $status == 0 ]] || fail "listen --once after a shutdown: exit status $status, want 0: $(cat "$WORK/shutdown.out")"
until_ok "the listener noticed the shutdown" bash -c "(( \$(grep -c 'went away' '$WORK/inbox.out') == 2 ))"
sleep 2
kill -0 "$LISTEN" 2>/dev/null || fail "a hub shutdown ended the listener: $(cat "$WORK/inbox.out")"
grep -q "went away (it shut down" "$WORK/inbox.out" || fail "the shutdown is not named: $(cat "$WORK/inbox.out")"
pass "a hub that shuts down does not end the listener (still running 2 s later); --once exits 0"

status=0; out=$("$VOCLOUD" samp send "$D/t.vot" 2>&1) || status=$?
[[ $status == 1 && $out == *"no SAMP hub is running (no lockfile at"* ]] || fail "send without a hub: $status $out"
start_hub "$HUB_KIND" std
until_ok "the listener joined the third hub" bash -c "(( \$(grep -c 'listening as' '$WORK/inbox.out') == 3 ))"
resp=$(deliver after-shutdown) || fail "$resp"
[[ $resp == *samp.ok* && $resp == *inbox/after-shutdown.vot* ]] || fail "after the shutdown: $resp"
pass "send without a hub says so; the listener joined the next hub and receives"

# ------------------------------------------------------------------ send and a dying hub
"$PY" "$HERE/samp_peer.py" mute mute table.load.votable > "$WORK/mute.log" 2>&1 &
PIDS+=($!)
until_ok "mute client" grep -q ready "$WORK/mute.log"
"$VOCLOUD" samp send "$D/t.vot" --to mute --timeout 60 > "$WORK/send.out" 2>&1 &
SEND=$!
until_ok "the call reached the mute client" grep -q "got table.load.votable" "$WORK/mute.log"
started=$SECONDS
kill -9 "$HUB"
status=0; wait "$SEND" || status=$?
out=$(cat "$WORK/send.out")
(( SECONDS - started < 10 )) || fail "send took $((SECONDS - started)) s to notice the hub died"
[[ $status == 1 && $out == *"the SAMP hub stopped answering while we waited"* && $out != *"within 60 s"* ]] \
    || fail "send when the hub dies mid-call: status $status: $out"
status=0; out=$("$VOCLOUD" samp send "$D/t.vot" 2>&1) || status=$?
[[ $status == 1 && $out == *"no hub answers there (connection refused)"* ]] || fail "send with a stale lockfile: $status $out"
pass "send says the hub died while it waited (in $((SECONDS - started)) s, not after --timeout), and when a stale lockfile points nowhere"

# ------------------------------------------------------------------ nobody takes spectra
start_hub "$HUB_KIND" std
$JSAMP snooper -clientname tables -mtype table.load.votable -mtype table.load.fits > "$WORK/snoop.out" 2>&1 &
PIDS+=($!)
# (The listener takes tables too: wait for this client by name.)
until_ok "table client" "$PY" "$HERE/samp_peer.py" subscribed tables table.load.fits
# (The listener takes spectra too: ask for the table client by name.)
status=0; out=$("$VOCLOUD" samp send "$D/t.vot" --to tables --mtype spectrum.load.ssa-generic 2>&1) || status=$?
[[ $status == 1 && $out == *"no client named tables takes spectra (spectrum.load.ssa-generic); tables ("*") takes tables — send it as a table with --mtype table.load.votable"* ]] \
    || fail "a spectrum with only a table client: $status $out"
pass "a spectrum with only a table client on the hub: nobody took it, and who takes tables"

until_ok "the listener joined the fourth hub" bash -c "(( \$(grep -c 'listening as' '$WORK/inbox.out') == 4 ))"
kill -TERM "$LISTEN"
status=0; wait "$LISTEN" || status=$?
[[ $status == 0 ]] && grep -q "SIGTERM: unregistered" "$WORK/inbox.out" || fail "SIGTERM: status $status"
pass "the listener ends on SIGTERM only: four hubs joined, status 0"
