#!/usr/bin/env bash
# Every SAMP exchange of `vocloud samp` against a real hub and real third-party clients, run
# inside a private network namespace (JSAMP binds all interfaces; see docs/refs/samp).
#
#   unshare --net bash tests/samp/exchange.sh jsamp|astropy VOCLOUD_BINARY PYTHON
#
# Sending: vocloud -> hub -> JSAMP snooper and astropy receiver: the MType from the file's content
# (a VOTable served as .fits goes as a VOTable), labels as names (transliterated, never
# percent-encoded), each recipient's answer, --no-wait, a client that never answers, files that
# fit no MType. Listening: JSAMP messagesender and astropy call/notify -> hub -> `vocloud samp
# listen` -> files API of a `vocloud serve` started here: names from labels, never overwriting,
# only the kinds the MType names, a vocloud `?row=` link stored so the plotter opens it.
# Prints PASS lines; exits 1 at the first FAIL.
set -euo pipefail
HUB_KIND=$1 VOCLOUD=$2 PY=$3
HERE=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=tests/samp/harness.sh
source "$HERE/harness.sh"
start_server
serve_data
D=$WORK/data

# A listener started before any hub waits for one, says so once, and registers when one starts.
VOCLOUD_TOKEN=$TOKEN "$VOCLOUD" samp listen --master http://127.0.0.1:18080 --folder inbox > "$WORK/listen.out" 2>&1 &
LISTEN=$!
PIDS+=($LISTEN)
until_ok "listener waiting for a hub" grep -q "waiting for a SAMP hub" "$WORK/listen.out"
sleep 3.5
[[ $(grep -c "waiting for a SAMP hub" "$WORK/listen.out") == 1 ]] || fail "the waiting line repeats: $(cat "$WORK/listen.out")"
start_hub "$HUB_KIND" std
until_ok "listener registered" grep -q "listening as" "$WORK/listen.out"
pass "listen waits for a hub (saying so once), then registers when one starts"

# ------------------------------------------------------------------ sending
$JSAMP snooper -clientname snooper -mtype table.load.votable -mtype table.load.fits \
    -mtype spectrum.load.ssa-generic > "$WORK/snoop.out" 2>&1 &
PIDS+=($!)
"$PY" "$HERE/samp_peer.py" receive "$WORK/astropy.out" table.load.votable spectrum.load.ssa-generic \
    > "$WORK/receiver.log" 2>&1 &
PIDS+=($!)
# (The listener takes tables too: wait for the snooper by name.)
until_ok "snooper subscribed" "$PY" "$HERE/samp_peer.py" subscribed snooper table.load.fits
until_ok "astropy receiver" grep -q ready "$WORK/receiver.log"

printf '<VOTABLE/>\n' > "$D/Ondřejov spectra.vot"
out=$("$VOCLOUD" samp send "$D/Ondřejov spectra.vot" --to snooper --name "Ondřejov 2m") || fail "send to snooper: $out"
[[ $out == "sent table.load.votable file://"*"Ond%C5%99ejov%20spectra.vot to snooper"* ]] || fail "send output: $out"
until_ok "snooper got the table" grep -q 'Ond%C5%99ejov%20spectra.vot' "$WORK/snoop.out"
grep -q '"name": "Ondrejov 2m"' "$WORK/snoop.out" || fail "name not transliterated"
grep -q '"table-id": "vocloud-' "$WORK/snoop.out" || fail "no table-id"
# The snooper answers calls with samp.warning "Message logged, not acted on".
[[ $out == *"snooper ("*"): samp.warning: Message logged"* ]] || fail "snooper's answer not printed: $out"
pass "send table.load.votable (file: URL, non-ASCII) to the JSAMP snooper and print its samp.warning"

printf '<VOTABLE/>\n' > "$D/my cat é#1.vot"
out=$("$VOCLOUD" samp send "$D/my cat é#1.vot" --to snooper) || fail "send my cat: $out"
until_ok "snooper got my cat" grep -q 'my%20cat%20%C3%A9%231.vot' "$WORK/snoop.out"
grep -q '"name": "my cat e#1.vot"' "$WORK/snoop.out" || fail "label of 'my cat é#1.vot': $(grep '"name"' "$WORK/snoop.out")"
pass "a file named 'my cat é#1.vot' is labelled 'my cat e#1.vot', not percent-encoded"

# What a file is comes from its bytes: a VOTable served as spec.fits goes as a VOTable; a real
# FITS file goes as FITS, and as a spectrum with Access.Format application/fits.
"$PY" "$HERE/data.py" table "$D/cat.vot" 20
cp "$D/cat.vot" "$D/spec.fits"
"$PY" "$HERE/data.py" spectra "$D/s1.fits" 3 50
out=$("$VOCLOUD" samp send http://127.0.0.1:18081/spec.fits --to snooper) || fail "send spec.fits: $out"
[[ $out == "sent table.load.votable http://127.0.0.1:18081/spec.fits to snooper"* ]] || fail "a VOTable named .fits: $out"
out=$("$VOCLOUD" samp send http://127.0.0.1:18081/s1.fits --mtype spectrum.load.ssa-generic --name "HD 123") || fail "broadcast: $out"
[[ $out == *snooper* && $out == *astropy-receiver* ]] || fail "broadcast did not reach both: $out"
[[ $out == *"astropy-receiver ("*"): samp.ok"* && $out == *"snooper ("*"): samp.warning"* ]] || fail "answers: $out"
until_ok "astropy got the spectrum" grep -q spectrum.load.ssa-generic "$WORK/astropy.out"
"$PY" - "$WORK/astropy.out" <<'EOF' || fail "astropy receiver saw wrong params"
import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if "spectrum" in l][0]
p = m["params"]
assert p["url"] == "http://127.0.0.1:18081/s1.fits" and p["name"] == "HD 123", p
assert p["meta"] == {"Access.Format": "application/fits", "Target.Name": "HD 123"}, p
EOF
status=0; out=$("$VOCLOUD" samp send "$D/cat.vot" --mtype table.load.fits 2>&1) || status=$?
[[ $status == 1 && $out == *"is a VOTable, which table.load.fits does not carry; send it with --mtype table.load.votable"* ]] \
    || fail "a VOTable as table.load.fits: $status $out"
printf '<!DOCTYPE html>\n<html><body>log in</body></html>\n' > "$D/login.vot"
status=0; out=$("$VOCLOUD" samp send http://127.0.0.1:18081/login.vot 2>&1) || status=$?
[[ $status == 1 && $out == *"is an HTML page: vocloud sends VOTables and FITS tables"* ]] || fail "an HTML page: $status $out"
pass "the MType and Access.Format come from the content (VOTable named .fits, FITS spectrum, HTML refused)"

out=$("$VOCLOUD" samp send http://127.0.0.1:18081/cat.vot --to snooper --no-wait) || fail "no-wait: $out"
[[ $out == "sent table.load.votable http://127.0.0.1:18081/cat.vot to snooper"*"not waiting"* ]] || fail "no-wait output: $out"
until_ok "snooper got the notification" grep -q '"samp.mtype": "table.load.votable"' "$WORK/snoop.out"
status=0; out=$("$VOCLOUD" samp send "$D/cat.vot" --no-wait --timeout 5 2>&1) || status=$?
[[ $status == 2 && $out == *"'--no-wait' cannot be used with '--timeout"* ]] || fail "--no-wait --timeout 5: $status $out"
pass "send --no-wait notifies without waiting; --no-wait with --timeout is refused"

"$PY" "$HERE/samp_peer.py" mute mute table.load.votable > "$WORK/mute.log" 2>&1 &
MUTE=$!
PIDS+=($MUTE)
until_ok "mute client" grep -q ready "$WORK/mute.log"
started=$SECONDS
status=0; out=$("$VOCLOUD" samp send "$D/cat.vot" --to mute --timeout 2 2>&1) || status=$?
[[ $status != 0 && $out == *"mute ("*"): no answer within 2 s"* && $out == *"no recipient answered within 2 s"* ]] \
    || fail "a client that never answers: status $status, $out"
(( SECONDS - started < 15 )) || fail "--timeout 2 took $((SECONDS - started)) s"
kill -TERM "$MUTE"; wait "$MUTE" || true
pass "send to a client that never answers fails after --timeout and says so"

out=$("$VOCLOUD" samp send "$D/cat.vot" --to nobody 2>&1) && fail "send to a missing client succeeded"
[[ $out == *"no client named nobody takes table.load.votable"*"astropy-receiver"* ]] || fail "missing-client message: $out"
pass "send to an unknown client fails and names the subscribers"

# The listener is the one vocloud left on the hub.
clients=$("$PY" "$HERE/samp_peer.py" clients)
[[ $(grep -cx vocloud <<<"$clients") == 1 ]] || fail "a sender is still registered: $clients"
pass "send unregisters (clients now: $(echo $clients))"

# ------------------------------------------------------------------ listening
"$PY" "$HERE/data.py" table "$D/t1.vot" 30
resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud \
    -param url "file://$D/t1.vot" -param name "my table" 2>&1) || fail "messagesender: $resp"
[[ $resp == *samp.ok* && $resp == *inbox/my_table.vot* ]] || fail "call table.load.votable: $resp"
stored inbox/my_table.vot > "$WORK/got.vot" && "$PY" "$HERE/data.py" equal "$D/t1.vot" "$WORK/got.vot" > /dev/null \
    || fail "inbox/my_table.vot is not t1.vot"
pass "JSAMP messagesender sync call table.load.votable (file: URL) -> stored under its label, inbox/my_table.vot"

resp=$($JSAMP messagesender -mtype samp.app.ping -mode sync -timeout 10 -targetname vocloud 2>&1) || fail "ping: $resp"
[[ $resp == *samp.ok* ]] || fail "ping answer: $resp"
pass "samp.app.ping answered samp.ok"

resp=$("$PY" "$HERE/samp_peer.py" call vocloud spectrum.load.ssa-generic url=http://127.0.0.1:18081/s1.fits \
    'meta={"Access.Format": "application/fits"}') || fail "astropy call: $resp"
[[ $resp == *'"samp.status": "samp.ok"'* && $resp == *inbox/s1.fits* ]] || fail "astropy call answer: $resp"
cmp <(stored inbox/s1.fits) "$D/s1.fits" || fail "inbox/s1.fits differs"
"$PY" "$HERE/samp_peer.py" notify vocloud table.load.fits url=http://127.0.0.1:18081/s1.fits name=again
until_ok "notified file logged" grep -q "received table.load.fits from .*http://127.0.0.1:18081/s1.fits -> inbox/again.fits" "$WORK/listen.out"
pass "astropy call (spectrum.load.ssa-generic, http: URL) and notify (table.load.fits, name=again) -> stored"

# Two different tables whose URLs end alike (TOPCAT's t1.vot, t2.vot restart with each session):
# two files, the second with a numbered suffix; the path written is printed.
mkdir -p "$D/a" "$D/b"
"$PY" "$HERE/data.py" table "$D/a/t.vot" 10 1
"$PY" "$HERE/data.py" table "$D/b/t.vot" 10 2
for dir in a b; do
    resp=$("$PY" "$HERE/samp_peer.py" call vocloud table.load.votable url=http://127.0.0.1:18081/$dir/t.vot) || fail "$resp"
    [[ $resp == *samp.ok* ]] || fail "table $dir: $resp"
done
stored inbox/t.vot > "$WORK/t1.vot" && "$PY" "$HERE/data.py" equal "$D/a/t.vot" "$WORK/t1.vot" > /dev/null \
    || fail "inbox/t.vot is not a/t.vot"
stored inbox/t-2.vot > "$WORK/t2.vot" && "$PY" "$HERE/data.py" equal "$D/b/t.vot" "$WORK/t2.vot" > /dev/null \
    || fail "inbox/t-2.vot is not b/t.vot"
grep -q "http://127.0.0.1:18081/b/t.vot -> inbox/t-2.vot" "$WORK/listen.out" || fail "the path written is not printed"
pass "two tables with the same name -> inbox/t.vot and inbox/t-2.vot, nothing overwritten"

# Only the kinds the MType names, with a clear samp.error; nothing stored.
resp=$("$PY" "$HERE/samp_peer.py" call vocloud table.load.fits url=http://127.0.0.1:18081/cat.vot) || fail "$resp"
[[ $resp == *samp.error* && $resp == *"table.load.fits carries FITS, but this is a VOTable"* ]] || fail "VOTable as FITS: $resp"
resp=$("$PY" "$HERE/samp_peer.py" call vocloud table.load.votable url=http://127.0.0.1:18081/login.vot name=login) || fail "$resp"
[[ $resp == *samp.error* && $resp == *"carries a VOTable, but this is an HTML page"* ]] || fail "HTML as VOTable: $resp"
resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud \
    -param url "file:///etc/passwd" 2>&1) || true
[[ $resp == *samp.error* && $resp == *"carries a VOTable, but this is"* && $resp != *root:* ]] || fail "/etc/passwd: $resp"
resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud \
    -param url "file://$D/missing.vot" 2>&1) || true
[[ $resp == *samp.error* && $resp == *missing.vot* ]] || fail "missing file should be samp.error: $resp"
stored inbox/login.vot > /dev/null && fail "an HTML page was stored"
pass "files that are not what the MType names (VOTable as FITS, HTML, /etc/passwd) and missing files -> samp.error"

# A vocloud signed `?row=` link to one spectrum of a 2-D FITS file ends in .fits and serves a
# VOTable: stored as .vot (so the plotter opens it) and sent on as a VOTable.
"$PY" "$HERE/data.py" spectra "$D/som60.fits" 40 64
curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @"$D/som60.fits" \
    http://127.0.0.1:18080/api/files/survey/som60.fits > /dev/null || fail "upload som60.fits"
link=$(curl -sf -H "Authorization: Bearer $TOKEN" -d path=survey/som60.fits -d row=31 http://127.0.0.1:18080/api/links) \
    || fail "signing a row link"
[[ $link == *'"type":"application/x-votable+xml"'* ]] || fail "the link does not say it serves a VOTable: $link"
url=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["url"])' "$link")
resp=$("$PY" "$HERE/samp_peer.py" call vocloud spectrum.load.ssa-generic "url=$url" 'name=som60.fits[31]') || fail "$resp"
[[ $resp == *samp.ok* && $resp == *inbox/som60.fits_31.vot* ]] || fail "row link stored as: $resp"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    "http://127.0.0.1:18080/plots/new?path=inbox/som60.fits_31.vot")
[[ $code == 303 ]] || fail "the plotter refuses the stored row: HTTP $code"
out=$("$VOCLOUD" samp send "$url" --to snooper) || fail "send the row link: $out"
[[ $out == "sent table.load.votable $url to snooper"* ]] || fail "row link sent as: $out"
pass "a ?row= link (path .fits, a VOTable) is stored as .vot, opens in the plotter, and is sent as a VOTable"

# vocloud to vocloud through the hub: send waits for listen's answer.
out=$("$VOCLOUD" samp send "$D/t1.vot" --to vocloud --timeout 20 2>&1) || fail "send to listen: $out"
[[ $out == *"vocloud ("*"): samp.ok: vocloud.path=inbox/t1.vot"* ]] || fail "send to listen answer: $out"
# A URL that serves its table once: send reads it, then the listener gets a 404.
"$PY" - 18082 "$D/t1.vot" > "$WORK/once.log" 2>&1 <<'EOF' &
import http.server, sys
port, path, served = int(sys.argv[1]), sys.argv[2], []
class Once(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if served:
            return self.send_error(404)
        served.append(self.path)
        body = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", port), Once).serve_forever()
EOF
PIDS+=($!)
until_ok "one-shot server" bash -c 'exec 3<>/dev/tcp/127.0.0.1/18082'
status=0; out=$("$VOCLOUD" samp send http://127.0.0.1:18082/once.vot --to vocloud --timeout 20 2>&1) || status=$?
[[ $status != 0 && $out == *"samp.error"*"once.vot"*"404"* && $out == *"1 of 1 recipients answered samp.error"* ]] \
    || fail "samp.error from listen: status $status, $out"
pass "send waits for listen: samp.ok with the storage path, samp.error exits non-zero"

kill -TERM "$LISTEN"
status=0; wait "$LISTEN" || status=$?
[[ $status == 0 ]] || fail "listener exit status $status after SIGTERM"
grep -q "SIGTERM: unregistered" "$WORK/listen.out" || fail "no unregister message"
clients=$("$PY" "$HERE/samp_peer.py" clients)
grep -qx vocloud <<<"$clients" && fail "vocloud still registered after SIGTERM: $clients"
pass "SIGTERM unregisters and exits 0"
