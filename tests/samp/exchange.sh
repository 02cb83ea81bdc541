#!/usr/bin/env bash
# Every SAMP exchange of `vocloud samp` against a real hub and real third-party clients, run
# inside a private network namespace (JSAMP binds all interfaces; see docs/refs/samp).
#
#   unshare --net bash tests/samp/exchange.sh jsamp|astropy VOCLOUD_BINARY PYTHON
#
# Sending: vocloud -> hub -> JSAMP snooper and astropy receiver (params checked, non-ASCII name
# transliterated, each recipient's answer printed, --no-wait notifies, a mute client times out,
# vocloud unregistered afterwards); vocloud send -> vocloud listen answers samp.ok / samp.error. Listening: JSAMP messagesender and astropy
# call/notify -> hub -> `vocloud samp listen` -> files API of a `vocloud serve` started here
# (file: and http: URLs, ping, SIGTERM unregisters). Prints PASS lines; exits 1 at the first FAIL.
set -euo pipefail
HUB_KIND=$1 VOCLOUD=$2 PY=$3
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=tests/samp/harness.sh
source "$HERE/harness.sh"

# The vocloud server the listener uploads into.
"$VOCLOUD" --data-dir "$WORK/server" user add alice --password-stdin <<<"alice-password" > /dev/null
TOKEN=$("$VOCLOUD" --data-dir "$WORK/server" token create alice)
VOCLOUD_LOG__FILTER=warn "$VOCLOUD" --data-dir "$WORK/server" serve --bind 127.0.0.1:18080 --local-workers 0 \
    > "$WORK/server.log" 2>&1 &
PIDS+=($!)
until_ok "vocloud server" curl -sf http://127.0.0.1:18080/health

# A listener started before any hub waits for one, then registers when it appears.
VOCLOUD_TOKEN=$TOKEN "$VOCLOUD" samp listen --master http://127.0.0.1:18080 --folder early > "$WORK/early.out" 2>&1 &
EARLY=$!
PIDS+=($EARLY)
until_ok "listener waiting for a hub" grep -q "waiting for a SAMP hub" "$WORK/early.out"

case $HUB_KIND in
    jsamp) $JSAMP hub -mode no-gui -profiles std > "$WORK/hub.log" 2>&1 & ;;
    astropy) "$PY" "$HERE/astropy_hub.py" --no-web > "$WORK/hub.log" 2>&1 & ;;
    *) fail "unknown hub $HUB_KIND" ;;
esac
PIDS+=($!)
python3 "$HERE/wait_hub.py" --timeout 60 >/dev/null || fail "hub did not start"

until_ok "early listener registered" grep -q "listening as" "$WORK/early.out"
kill -TERM "$EARLY"
status=0; wait "$EARLY" || status=$?
[[ $status == 0 ]] || fail "early listener exit status $status"
pass "listen waits for a hub, registers when one starts, and stops on SIGTERM"

# ------------------------------------------------------------------ sending
$JSAMP snooper -clientname snooper -mtype table.load.votable -mtype table.load.fits \
    -mtype spectrum.load.ssa-generic > "$WORK/snoop.out" 2>&1 &
PIDS+=($!)
"$PY" "$HERE/samp_peer.py" receive "$WORK/astropy.out" table.load.votable spectrum.load.ssa-generic \
    > "$WORK/receiver.log" 2>&1 &
PIDS+=($!)
python3 "$HERE/wait_hub.py" --wait-subscribed table.load.fits >/dev/null || fail "snooper did not subscribe"
until_ok "astropy receiver" grep -q ready "$WORK/receiver.log"

mkdir -p "$WORK/data"
printf '<VOTABLE/>\n' > "$WORK/data/Ondřejov spectra.vot"
out=$("$VOCLOUD" samp send "$WORK/data/Ondřejov spectra.vot" --to snooper --name "Ondřejov 2m") || fail "send to snooper: $out"
[[ $out == "sent table.load.votable file://"*"Ond%C5%99ejov%20spectra.vot to snooper"* ]] || fail "send output: $out"
until_ok "snooper got the table" grep -q 'Ond%C5%99ejov%20spectra.vot' "$WORK/snoop.out"
grep -q '"name": "Ondrejov 2m"' "$WORK/snoop.out" || fail "name not transliterated"
grep -q '"table-id": "vocloud-' "$WORK/snoop.out" || fail "no table-id"
# The snooper answers calls with samp.warning "Message logged, not acted on".
[[ $out == *"snooper ("*"): samp.warning: Message logged"* ]] || fail "snooper's answer not printed: $out"
pass "send table.load.votable (file: URL, non-ASCII) to the JSAMP snooper and print its samp.warning"

out=$("$VOCLOUD" samp send http://127.0.0.1:9/spec.fits --mtype spectrum.load.ssa-generic --name "HD 123") || fail "broadcast: $out"
[[ $out == *snooper* && $out == *astropy-receiver* ]] || fail "broadcast did not reach both: $out"
[[ $out == *"astropy-receiver ("*"): samp.ok"* && $out == *"snooper ("*"): samp.warning"* ]] || fail "answers: $out"
until_ok "astropy got the spectrum" grep -q spectrum.load.ssa-generic "$WORK/astropy.out"
"$PY" - "$WORK/astropy.out" <<'EOF' || fail "astropy receiver saw wrong params"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if "spectrum" in l][0]
p = m["params"]
assert p["url"] == "http://127.0.0.1:9/spec.fits" and p["name"] == "HD 123", p
assert p["meta"] == {"Access.Format": "application/fits", "Target.Name": "HD 123"}, p
EOF
until_ok "snooper got the spectrum" grep -q spectrum.load.ssa-generic "$WORK/snoop.out"
pass "send spectrum.load.ssa-generic with meta to every subscriber (JSAMP snooper + astropy client)"

out=$("$VOCLOUD" samp send http://127.0.0.1:9/n.vot --to snooper --no-wait) || fail "no-wait: $out"
[[ $out == "sent table.load.votable http://127.0.0.1:9/n.vot to snooper"* && $out != *samp.warning* ]] || fail "no-wait output: $out"
until_ok "snooper got the notification" grep -q 'n.vot' "$WORK/snoop.out"
pass "send --no-wait notifies without waiting for an answer"

"$PY" "$HERE/samp_peer.py" mute mute table.load.votable > "$WORK/mute.log" 2>&1 &
MUTE=$!
PIDS+=($MUTE)
until_ok "mute client" grep -q ready "$WORK/mute.log"
started=$SECONDS
status=0; out=$("$VOCLOUD" samp send http://127.0.0.1:9/m.vot --to mute --timeout 2 2>&1) || status=$?
[[ $status != 0 && $out == *"mute ("*"): no answer"* && $out == *"no recipient answered within 2 s"* ]] \
    || fail "a client that never answers: status $status, $out"
(( SECONDS - started < 15 )) || fail "--timeout 2 took $((SECONDS - started)) s"
kill -TERM "$MUTE"; wait "$MUTE" || true
pass "send to a client that never answers fails after --timeout"

out=$("$VOCLOUD" samp send http://127.0.0.1:9/x.vot --to nobody 2>&1) && fail "send to a missing client succeeded"
[[ $out == *"no client named nobody"*"astropy-receiver"* ]] || fail "missing-client message: $out"
pass "send to an unknown client fails and names the subscribers"

clients=$("$PY" "$HERE/samp_peer.py" clients)
grep -qx vocloud <<<"$clients" && fail "vocloud still registered after send: $clients"
pass "send unregisters (clients now: $(echo $clients))"

# ------------------------------------------------------------------ listening
VOCLOUD_TOKEN=$TOKEN "$VOCLOUD" samp listen --master http://127.0.0.1:18080 --folder inbox > "$WORK/listen.out" 2>&1 &
LISTEN=$!
PIDS+=($LISTEN)
# It prints this line once its subscriptions are declared.
until_ok "listener subscribed" grep -q "listening as" "$WORK/listen.out"
pass "listen registers and subscribes"

files() { curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18080/api/files/inbox/$1"; }

printf '<VOTABLE version="1.4"/>\n' > "$WORK/data/t1.vot"
resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud \
    -param url "file://$WORK/data/t1.vot" -param name "my table" 2>&1) || fail "messagesender: $resp"
[[ $resp == *samp.ok* && $resp == *inbox/t1.vot* ]] || fail "call table.load.votable: $resp"
[[ $(files t1.vot) == '<VOTABLE version="1.4"/>' ]] || fail "t1.vot not uploaded"
pass "JSAMP messagesender sync call table.load.votable (file: URL) -> uploaded to inbox/t1.vot"

resp=$($JSAMP messagesender -mtype samp.app.ping -mode sync -timeout 10 -targetname vocloud 2>&1) || fail "ping: $resp"
[[ $resp == *samp.ok* ]] || fail "ping answer: $resp"
pass "samp.app.ping answered samp.ok"

# An http URL served on the desktop side, sent by the astropy client, call and notify.
printf 'SIMPLE  = T\n' > "$WORK/data/s1.fits"
(cd "$WORK/data" && exec "$PY" -m http.server 18081 --bind 127.0.0.1 > "$WORK/http.log" 2>&1) &
PIDS+=($!)
until_ok "http server" curl -sf http://127.0.0.1:18081/s1.fits
resp=$("$PY" "$HERE/samp_peer.py" call vocloud spectrum.load.ssa-generic url=http://127.0.0.1:18081/s1.fits \
    'meta={"Access.Format": "application/fits"}') || fail "astropy call: $resp"
[[ $resp == *'"samp.status": "samp.ok"'* && $resp == *inbox/s1.fits* ]] || fail "astropy call answer: $resp"
[[ $(files s1.fits) == 'SIMPLE  = T' ]] || fail "s1.fits not uploaded"
"$PY" "$HERE/samp_peer.py" notify vocloud table.load.fits url=http://127.0.0.1:18081/s1.fits name=again
until_ok "notified file logged" grep -q "table.load.fits http://127.0.0.1:18081/s1.fits -> inbox/s1.fits" "$WORK/listen.out"
pass "astropy call (spectrum.load.ssa-generic, http: URL) and notify (table.load.fits) -> uploaded"

resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud \
    -param url "file://$WORK/data/missing.vot" 2>&1) || true
[[ $resp == *samp.error* && $resp == *missing.vot* ]] || fail "missing file should be samp.error: $resp"
pass "a URL that cannot be read is answered with samp.error"

# vocloud to vocloud through the hub: send waits for listen's answer.
printf '<VOTABLE version="1.4"/>\n' > "$WORK/data/t2.vot"
out=$("$VOCLOUD" samp send "$WORK/data/t2.vot" --to vocloud --timeout 20 2>&1) || fail "send to listen: $out"
[[ $out == *"vocloud ("*"): samp.ok: vocloud.path=inbox/t2.vot"* ]] || fail "send to listen answer: $out"
status=0; out=$("$VOCLOUD" samp send "file://$WORK/data/gone.vot" --to vocloud --timeout 20 2>&1) || status=$?
[[ $status != 0 && $out == *"samp.error"*"gone.vot"* && $out == *"1 of 1 recipients answered samp.error"* ]] \
    || fail "samp.error from listen: status $status, $out"
pass "send waits for listen: samp.ok with the storage path, samp.error exits non-zero"

grep -q "table.load.votable file://$WORK/data/t1.vot -> inbox/t1.vot" "$WORK/listen.out" || fail "listen output"
kill -TERM "$LISTEN"
status=0; wait "$LISTEN" || status=$?
[[ $status == 0 ]] || fail "listener exit status $status after SIGTERM"
grep -q "SIGTERM: unregistered" "$WORK/listen.out" || fail "no unregister message"
clients=$("$PY" "$HERE/samp_peer.py" clients)
grep -qx vocloud <<<"$clients" && fail "vocloud still registered after SIGTERM: $clients"
pass "SIGTERM unregisters and exits 0"
