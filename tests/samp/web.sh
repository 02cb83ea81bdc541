#!/usr/bin/env bash
# static/samp-web.js in a real headless Chromium against a real hub's Web Profile, and what web
# pages may make `vocloud samp listen` do, inside a private network namespace (the Web Profile
# port 21012 is fixed; JSAMP binds all interfaces).
#
#   unshare --net bash tests/samp/web.sh jsamp|astropy VOCLOUD_BINARY PYTHON
#
# The page (static/samp-test.html?auto=1) registers, lists clients, calls table.load.votable on
# the JSAMP snooper (non-ASCII label) and spectrum.load.ssa-generic on every subscriber and
# reports each answer, and receives a table.load.votable that JSAMP's messagesender sends it
# (answering samp.ok). Then a Web Profile client (what a web page is to the hub) asks the
# listener to read a file: URL: the JSAMP hub blocks it (the listener's subscriptions say
# samp.mostly-harmless=0), the astropy hub passes it and the listener refuses it, while an http
# URL from the page is stored.
set -euo pipefail
HUB_KIND=$1 VOCLOUD=$2 PY=$3
HERE=$(cd "$(dirname "$0")" && pwd)
STATIC=$(cd "$HERE/../../static" && pwd)

UNTIL_OK_TENTHS=300
# shellcheck source=tests/samp/harness.sh
source "$HERE/harness.sh"

start_hub "$HUB_KIND" web
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
grep -q "^error" "$WORK/report.out" && fail "page error: $(cat "$WORK/report.out")"
grep -q "^clients .*snooper" "$WORK/report.out" || fail "client list"
pass "page registered over the Web Profile and listed the subscribers"

until_ok "snooper got the table" grep -q '"url": "http://localhost:18080/shared/1/abc/u/alice/result%20table.vot"' "$WORK/snoop.out"
grep -q '"name": "Ondrejov table"' "$WORK/snoop.out" || fail "label not transliterated"
until_ok "snooper got the spectrum" grep -q spectrum.load.ssa-generic "$WORK/snoop.out"
grep -q '"Access.Format": "application/x-votable+xml"' "$WORK/snoop.out" || fail "spectrum meta"
# The snooper answers calls with samp.warning; the page reports each recipient's answer.
grep -q "^table snooper: warning: Message logged" "$WORK/report.out" || fail "table report: $(cat "$WORK/report.out")"
grep -q "^spectrum snooper: warning: Message logged" "$WORK/report.out" || fail "spectrum report: $(cat "$WORK/report.out")"
pass "page called table.load.votable on the snooper and spectrum.load.ssa-generic on every subscriber, and reports their answers"

resp=$($JSAMP messagesender -mtype table.load.votable -mode sync -timeout 20 -targetname vocloud-web \
    -param url http://127.0.0.1:9/desk.vot 2>&1) || fail "messagesender to the page: $resp"
[[ $resp == *samp.ok* ]] || fail "page answer: $resp"
until_ok "page received" grep -q "^received table.load.votable http://127.0.0.1:9/desk.vot" "$WORK/report.out"
pass "page received a call from messagesender, answered samp.ok (URL translator: $(grep -o 'translated [^ ]*' "$WORK/report.out" | head -1 | cut -c1-60)...)"

# ------------------------------------------------------------------ what web pages may make the listener read
start_server
serve_data
"$PY" "$HERE/data.py" table "$WORK/data/t.vot" 10
VOCLOUD_TOKEN=$TOKEN "$VOCLOUD" samp listen --master http://127.0.0.1:18080 --folder inbox > "$WORK/listen.out" 2>&1 &
PIDS+=($!)
until_ok "listener registered" grep -q "listening as" "$WORK/listen.out"
page=$(python3 "$HERE/web_peer.py" call vocloud table.load.votable "url=file://$WORK/data/t.vot" name=secret) || fail "$page"
desk=$("$PY" "$HERE/samp_peer.py" call vocloud table.load.votable "url=file://$WORK/data/t.vot" name=desk) || fail "$desk"
http=$(python3 "$HERE/web_peer.py" call vocloud table.load.votable url=http://127.0.0.1:18081/t.vot name=web) || fail "$http"
stored inbox/secret.vot > /dev/null && fail "a web page made the listener read a local file"
case $HUB_KIND in
    jsamp)
        # The hub keeps web pages away from subscriptions marked samp.mostly-harmless=0.
        [[ $page == "fault: "*"blocked"* ]] || fail "JSAMP passed a web page's file: URL on: $page"
        [[ $desk == *samp.ok* && $desk == *inbox/desk.vot* ]] || fail "a desktop client's file: URL: $desk"
        [[ $http == "fault: "*"blocked"* ]] || fail "JSAMP passed a web page's message on: $http"
        pass "JSAMP hub: web pages cannot reach the listener (blocked by the hub); desktop clients' file: URLs are read"
        ;;
    astropy)
        # The hub passes everything on and does not say who is a web page: no file: URLs at all.
        [[ $page == *samp.error* && $page == *"file: URLs are refused on this hub"* ]] || fail "a web page's file: URL: $page"
        [[ $desk == *samp.error* && $desk == *"file: URLs are refused on this hub"* ]] || fail "a desktop file: URL: $desk"
        [[ $http == *samp.ok* && $http == *inbox/web.vot* ]] || fail "a web page's http: URL: $http"
        pass "astropy hub with the Web Profile: file: URLs refused with samp.error (the hub cannot say who sent them); http: URLs stored"
        ;;
esac
