#!/usr/bin/env bash
# static/samp-web.js in a real headless Chromium against a real hub's Web Profile, inside a
# private network namespace (the Web Profile port 21012 is fixed; JSAMP binds all interfaces).
#
#   unshare --net bash tests/samp/web.sh jsamp|astropy PYTHON
#
# The page (static/samp-test.html?auto=1) registers, lists clients, sends table.load.votable to
# the JSAMP snooper (non-ASCII label) and spectrum.load.ssa-generic to every subscriber, and
# receives a table.load.votable that JSAMP's messagesender sends it (answering samp.ok).
set -euo pipefail
HUB_KIND=$1 PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
STATIC=$(cd "$HERE/../../static" && pwd)

UNTIL_OK_TENTHS=300
# shellcheck source=tests/samp/harness.sh
source "$HERE/harness.sh"

case $HUB_KIND in
    jsamp) $JSAMP hub -mode no-gui -profiles std,web -web:auth true > "$WORK/hub.log" 2>&1 & ;;
    astropy) "$PY" "$HERE/astropy_hub.py" > "$WORK/hub.log" 2>&1 & ;;
    *) fail "unknown hub $HUB_KIND" ;;
esac
PIDS+=($!)
python3 "$HERE/wait_hub.py" --timeout 60 >/dev/null || fail "hub did not start"
until_ok "web profile port" bash -c 'exec 3<>/dev/tcp/127.0.0.1/21012'
$JSAMP snooper -clientname snooper -mtype table.load.votable -mtype spectrum.load.ssa-generic \
    > "$WORK/snoop.out" 2>&1 &
PIDS+=($!)
python3 "$HERE/wait_hub.py" --wait-subscribed spectrum.load.ssa-generic >/dev/null || fail "snooper"

"$PY" "$HERE/web_server.py" 18090 "$STATIC" "$WORK/report.out" > "$WORK/web.log" 2>&1 &
PIDS+=($!)
until_ok "web server" curl -sf http://localhost:18090/samp-web.js

SIGNED='http://localhost:18080/shared/1/abc/u/alice/result%20table.vot'
PAGE="http://localhost:18090/samp-test.html?auto=1&stay=1&report=/report&url=$(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=""))' "$SIGNED")"
chromium --headless=new --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/chrome" "$PAGE" \
    > "$WORK/chrome.log" 2>&1 &
PIDS+=($!)

until_ok "page connected" grep -q "^connected as" "$WORK/report.out"
until_ok "page sent" grep -q "^sent" "$WORK/report.out"
grep -q "^error" "$WORK/report.out" && fail "page error"
grep -q "^clients .*snooper" "$WORK/report.out" || fail "client list"
pass "page registered over the Web Profile and listed the subscribers"

until_ok "snooper got the table" grep -q '"url": "http://localhost:18080/shared/1/abc/u/alice/result%20table.vot"' "$WORK/snoop.out"
grep -q '"name": "Ondrejov table"' "$WORK/snoop.out" || fail "label not transliterated"
until_ok "snooper got the spectrum" grep -q spectrum.load.ssa-generic "$WORK/snoop.out"
grep -q '"Access.Format": "application/x-votable+xml"' "$WORK/snoop.out" || fail "spectrum meta"
pass "page sent table.load.votable to the snooper and spectrum.load.ssa-generic to every subscriber"

resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud-web \
    -param url http://127.0.0.1:9/desk.vot 2>&1) || fail "messagesender to the page: $resp"
[[ $resp == *samp.ok* ]] || fail "page answer: $resp"
until_ok "page received" grep -q "^received table.load.votable http://127.0.0.1:9/desk.vot" "$WORK/report.out"
pass "page received a call from messagesender, answered samp.ok (URL translator: $(grep -o 'translated [^ ]*' "$WORK/report.out" | head -1 | cut -c1-60)...)"
