#!/usr/bin/env bash
# `vocloud samp` with the real TOPCAT (Debian's topcat, on a virtual X display, Xvfb) and the hub
# TOPCAT itself runs, inside a private network namespace:
#
#   unshare --net bash tests/samp/topcat.sh VOCLOUD_BINARY PYTHON
#
# TOPCAT runs in tests/samp/TopcatDriver.java, which starts it as `topcat -samp -hub TABLE` and
# runs its own "Send Table to -> vocloud" action on command. Checked: TOPCAT's tables arrive in
# vocloud storage equal to the original, twice without overwriting; vocloud sends TOPCAT a
# VOTable (labelled with its name, accents dropped, not percent-encoded), a FITS table and a
# vocloud `?row=` link, TOPCAT answers samp.ok and holds the same data; a spectrum with only
# TOPCAT on the hub is refused with the alternative; TOPCAT's hub keeps web pages away from the
# listener; quitting TOPCAT (which stops its hub) does not end the listener. Prints PASS lines.
set -euo pipefail
VOCLOUD=$1 PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
UNTIL_OK_TENTHS=600

# shellcheck source=tests/samp/harness.sh
source "$HERE/harness.sh"
start_server
D=$WORK/data
mkdir -p "$D"
"$PY" "$HERE/data.py" table "$D/t1.vot" 1000 1
"$PY" "$HERE/data.py" table "$D/my cat é#1.vot" 200 2
"$PY" "$HERE/data.py" table "$D/cat.fits" 500 3
"$PY" "$HERE/data.py" spectra "$D/som60.fits" 40 64

# A virtual display, started here (not with xvfb-run) so that the cleanup ends it and TOPCAT by
# their own pids; Xvfb picks a free display number and writes it to fd 3.
Xvfb -displayfd 3 -nolisten tcp -screen 0 1280x1024x24 3> "$WORK/display" > "$WORK/xvfb.log" 2>&1 &
PIDS+=($!)
until_ok "virtual display" test -s "$WORK/display"
# TOPCAT, driven through a FIFO; it starts its own hub (with the Web Profile, as on a desktop).
mkfifo "$WORK/topcat.in"
exec 7<>"$WORK/topcat.in"
DISPLAY=:$(cat "$WORK/display") java -cp /usr/share/java/starlink-topcat.jar:/usr/share/java/jsamp.jar \
    "$HERE/TopcatDriver.java" -samp -hub "$D/t1.vot" <&7 > "$WORK/topcat.log" 2>&1 &
PIDS+=($!)
topcat() { echo "$*" >&7; }
python3 "$HERE/wait_hub.py" --timeout 120 --wait-subscribed table.load.votable > /dev/null || fail "TOPCAT did not start"
grep -q "hub.impl=org.astrogrid.samp" "$WORK/samp.lock" || fail "not TOPCAT's JSAMP hub: $(cat "$WORK/samp.lock")"
# TOPCAT loads its table in the background: ask until it lists it.
until_ok "TOPCAT loaded t1.vot" bash -c "echo labels >&7; sleep 0.5; grep -q '^label: t1.vot' '$WORK/topcat.log'"

VOCLOUD_TOKEN=$TOKEN "$VOCLOUD" samp listen --master http://127.0.0.1:18080 --folder inbox > "$WORK/listen.out" 2>&1 &
LISTEN=$!
PIDS+=($LISTEN)
until_ok "listener registered" grep -q "listening as" "$WORK/listen.out"

# ------------------------------------------------------------------ TOPCAT -> vocloud
topcat send vocloud t1.vot
until_ok "the first table stored" grep -q "received table.load.votable from topcat .* -> inbox/t1.vot" "$WORK/listen.out"
topcat send vocloud t1.vot
until_ok "the second table stored" grep -q "received table.load.votable from topcat .* -> inbox/t1-2.vot" "$WORK/listen.out"
for name in t1.vot t1-2.vot; do
    stored "inbox/$name" > "$WORK/got-$name"
    "$PY" "$HERE/data.py" equal "$D/t1.vot" "$WORK/got-$name" > /dev/null || fail "inbox/$name is not the table TOPCAT sent"
done
pass "TOPCAT's 'Send Table to -> vocloud', twice: inbox/t1.vot and inbox/t1-2.vot, each equal to the original (1000 rows)"

# ------------------------------------------------------------------ vocloud -> TOPCAT
saved() { # saved FILE LABEL: TOPCAT writes its table LABEL to FILE
    topcat save "$1" "$2"
    until_ok "TOPCAT saved $2" grep -q "^saved $1" "$WORK/topcat.log"
}
out=$("$VOCLOUD" samp send "$D/my cat é#1.vot" --to topcat) || fail "send to TOPCAT: $out"
[[ $out == *"topcat ("*"): samp.ok"* ]] || fail "TOPCAT's answer: $out"
saved "$WORK/back1.vot" "my cat e#1.vot"
"$PY" "$HERE/data.py" equal "$D/my cat é#1.vot" "$WORK/back1.vot" > /dev/null || fail "TOPCAT holds other data"
pass "vocloud sends TOPCAT a VOTable: samp.ok, labelled 'my cat e#1.vot', the same 200 rows"

out=$("$VOCLOUD" samp send "$D/cat.fits" --to topcat) || fail "send FITS to TOPCAT: $out"
[[ $out == "sent table.load.fits "* && $out == *"topcat ("*"): samp.ok"* ]] || fail "TOPCAT's answer: $out"
saved "$WORK/back2.vot" cat.fits
"$PY" "$HERE/data.py" equal "$D/cat.fits" "$WORK/back2.vot" > /dev/null || fail "TOPCAT holds other data"
pass "vocloud sends TOPCAT a FITS table: samp.ok, the same 500 rows"

curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @"$D/som60.fits" \
    http://127.0.0.1:18080/api/files/survey/som60.fits > /dev/null || fail "upload som60.fits"
link=$(curl -sf -H "Authorization: Bearer $TOKEN" -d path=survey/som60.fits -d row=31 http://127.0.0.1:18080/api/links)
url=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["url"])' "$link")
out=$("$VOCLOUD" samp send "$url" --to topcat) || fail "send a row link to TOPCAT: $out"
[[ $out == "sent table.load.votable "* && $out == *"topcat ("*"): samp.ok"* ]] || fail "TOPCAT's answer to a row link: $out"
pass "vocloud sends TOPCAT a ?row= link (path .fits, serving a VOTable) as a VOTable: samp.ok"

status=0; out=$("$VOCLOUD" samp send "$D/t1.vot" --to topcat --mtype spectrum.load.ssa-generic 2>&1) || status=$?
[[ $status == 1 && $out == *"no client named topcat takes spectra (spectrum.load.ssa-generic); topcat ("*") takes tables — send it as a table with --mtype table.load.votable"* ]] \
    || fail "a spectrum to TOPCAT: $status $out"
pass "a spectrum for TOPCAT (which takes tables, not spectra): refused with the alternative"

# ------------------------------------------------------------------ TOPCAT's hub and web pages
until_ok "TOPCAT's Web Profile" bash -c 'exec 3<>/dev/tcp/127.0.0.1/21012'
# TOPCAT's hub asks the user before a web page may register: the driver clicks "Yes".
topcat consent
page=$(timeout 60 python3 "$HERE/web_peer.py" call vocloud table.load.votable "url=file://$D/t1.vot" name=secret 2>&1) || true
grep -q "^consented" "$WORK/topcat.log" || fail "no registration dialog: $(grep -v INFO "$WORK/topcat.log" | tail -5)"
[[ $page == "fault: "*"blocked"* ]] || fail "TOPCAT's hub passed a web page's file: URL on: $page"
pass "TOPCAT's hub keeps web pages away from the listener (samp.mostly-harmless=0)"

# ------------------------------------------------------------------ quitting TOPCAT
topcat quit
until_ok "the listener noticed TOPCAT's hub stop" grep -q "the SAMP hub went away" "$WORK/listen.out"
sleep 2
kill -0 "$LISTEN" 2>/dev/null || fail "quitting TOPCAT ended the listener: $(cat "$WORK/listen.out")"
kill -TERM "$LISTEN"
status=0; wait "$LISTEN" || status=$?
[[ $status == 0 ]] || fail "listener exit status $status"
pass "quitting TOPCAT stops its hub; the listener says so and waits for the next hub (ended by SIGTERM, status 0)"
