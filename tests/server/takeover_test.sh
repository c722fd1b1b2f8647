#!/usr/bin/env bash
# takeover_test.sh — a new sluice-server generation takes over from the running one (--takeover) on the
# socket datapath under continuous load, and no request fails.
#
#   tests/server/takeover_test.sh BUILD_DIR
#
# In a topology of its own. The first generation runs with a pid file, a cleartext and a TLS port.
# h2load keeps long-lived HTTP/2 connections busy (cleartext and TLS) while a client opens a new
# connection per request (curl, HTTP/1.1 and HTTP/2 in turn) and another one connects as fast as it
# can (a tight loop of kernel TCP connects, to catch connections queued on the listeners when the
# first generation lets go of them). A third of the way in, a second generation starts with
# --takeover: it takes the first one's listening sockets, writes the pid file and signals the first,
# which takes no new connection from then on and serves its open ones until their clients close
# them. Checked: 0 failed, errored or timed-out requests in both h2loads, every curl and connect
# succeeded, new connections are served by the new generation (its request counter, from a fresh
# start), the old generation exits 0 by itself once h2load's connections close, the pid file names
# the new one. Then the refusals: --takeover without a pid file, with a pid file naming no process
# or one that offers no sockets, on the xdp datapath. Needs root.
set -u

BUILD=${1:?usage: takeover_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=stko
SRV4=10.77.0.1
PORT=8080
TPORT=8443
URL=http://$SRV4:$PORT
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
WORK=$(mktemp -d)
PIDFILE=$WORK/sluice.pid
LOAD_S=${TAKEOVER_LOAD_S:-9}
GEN1="" GEN2="" LOADS=()
TOPO_CLI_TIMEOUT=120

reset_state() {
    for pid in "${LOADS[@]}" $GEN2 $GEN1; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    GEN1="" GEN2="" LOADS=()
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# start LOG ARGS...: a server generation in the server namespace; its PID in STARTED
start() {
    local log=$1
    shift
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4 nsenter --net=/run/netns/$TOPO-srv -- \
        "$SERVER" --datapath socket --http $PORT --https $TPORT --cert "$WORK/cert.pem" --key "$WORK/key.pem" \
        --workers 2 --pid-file "$PIDFILE" "$@" >"$log" 2>&1 &
    STARTED=$!
}
requests() { awk '$1 ~ /^sluice_http_requests_total/ { s += $NF } END { print s + 0 }' <<<"$1"; }

reset_state
topo_up $TOPO >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=takeover.test \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
    not_ok "a self-signed certificate" "$(tail -2 "$WORK/openssl.log" | tr '\n' '|')"

# ---- the first generation, under load ----
start "$WORK/gen1.log" --drain-ms 60000
GEN1=$STARTED
if topo_server_ready "$GEN1" "$WORK/gen1.log"; then ok "first generation started"; else not_ok "first generation started" "$(head -3 "$WORK/gen1.log" | tr '\n' '|')"; fi
check "its pid file names it" test "$(cat "$PIDFILE" 2>/dev/null)" = "$GEN1"

cli h2load -D "$LOAD_S" -c 8 -m 4 --rps 100 "$URL/bytes/1000" >"$WORK/h2load.log" 2>&1 &
LOADS+=($!)
cli h2load -D "$LOAD_S" -c 4 -m 4 --rps 50 "https://$SRV4:$TPORT/bytes/1000" >"$WORK/h2load-tls.log" 2>&1 &
LOADS+=($!)
cli bash -c "end=\$((SECONDS + $LOAD_S)); while [ \$SECONDS -lt \$end ]; do
        curl -sS --fail --max-time 10 --http2-prior-knowledge -o /dev/null $URL/bytes/100; echo \$?
        curl -sS --fail --max-time 10 --http1.1 -o /dev/null $URL/healthz; echo \$?
    done" >"$WORK/curl.log" 2>"$WORK/curl.err" &
LOADS+=($!)
# bare connects as fast as bash can make them: a refused or reset one prints its error
cli bash -c "end=\$((SECONDS + $LOAD_S)); n=0; while [ \$SECONDS -lt \$end ]; do
        if exec 3<>/dev/tcp/$SRV4/$PORT; then exec 3>&-; n=\$((n + 1)); else echo failed; fi
    done; echo connects \$n" >"$WORK/connect.log" 2>&1 &
LOADS+=($!)

sleep $((LOAD_S / 3))
M1=$(cli curl -sS -m 5 "$URL/metrics")
start "$WORK/gen2.log" --takeover
GEN2=$STARTED
if topo_server_ready "$GEN2" "$WORK/gen2.log"; then ok "second generation started with --takeover"; else not_ok "second generation started with --takeover" "$(head -3 "$WORK/gen2.log" | tr '\n' '|')"; fi
check "it says whom it took over from" grep -q "took over from pid $GEN1" "$WORK/gen2.log"
check "the pid file names the new generation" test "$(cat "$PIDFILE" 2>/dev/null)" = "$GEN2"
for _ in $(seq 50); do grep -q "handed over" "$WORK/gen1.log" && break; sleep 0.1; done
check "the first generation took the hand-over" grep -q "SIGUSR2: handed over" "$WORK/gen1.log"
sleep 1
G1=$(requests "$M1")
M2=$(cli curl -sS -m 5 "$URL/metrics")
sleep 1
M3=$(cli curl -sS -m 5 "$URL/metrics")
check "new connections reach the new generation (its requests $(requests "$M2") -> $(requests "$M3"), from a fresh start)" \
    test "$(requests "$M3")" -gt "$(requests "$M2")" -a "$(requests "$M2")" -lt "$G1"

for pid in "${LOADS[@]}"; do wait "$pid"; done
LOADS=()

# ---- nothing failed ----
SUMMARY=$(grep '^requests:' "$WORK/h2load.log")
echo "# h2load: $SUMMARY"
expect "h2load across the takeover: 0 failed, 0 errored, 0 timeout" 0 " 0 failed, 0 errored, 0 timeout" cat "$WORK/h2load.log"
echo "# h2load over TLS: $(grep '^requests:' "$WORK/h2load-tls.log")"
expect "h2load over TLS across the takeover: 0 failed, 0 errored, 0 timeout" 0 " [1-9][0-9]* succeeded, 0 failed, 0 errored, 0 timeout" \
    cat "$WORK/h2load-tls.log"
CURLS=$(wc -l <"$WORK/curl.log")
CURL_FAILED=$(grep -vc '^0$' "$WORK/curl.log")
if [ "$CURLS" -gt 0 ] && [ "$CURL_FAILED" = 0 ]; then ok "curl across the takeover: $CURLS new connections, none failed"; else
    not_ok "curl across the takeover: none failed" "$CURL_FAILED of $CURLS: $(head -c 200 "$WORK/curl.err")"
fi
CONNECTS=$(sed -n 's/^connects //p' "$WORK/connect.log")
if [ "${CONNECTS:-0}" -gt 0 ] && ! grep -q failed "$WORK/connect.log"; then ok "$CONNECTS bare connects across the takeover, none refused or reset"; else
    not_ok "bare connects across the takeover, none refused or reset" "$(grep -v '^connects' "$WORK/connect.log" | head -3 | tr '\n' '|')"
fi

# ---- the old generation leaves by itself ----
if timeout 20 tail --pid="$GEN1" -f /dev/null; then
    wait "$GEN1"
    status=$?
    GEN1=""
    check "the first generation exited 0 once its connections closed ($(sed -n 's/.*hand-over: \(every.*\)/\1/p' "$WORK/gen1.log"))" \
        test "$status" = 0 -a -n "$(grep 'hand-over: every connection closed' "$WORK/gen1.log")"
else
    not_ok "the first generation exited once its connections closed" "still running 20 s after the load; $(tail -2 "$WORK/gen1.log" | tr '\n' '|')"
fi
check "the pid file still names the new generation" test "$(cat "$PIDFILE" 2>/dev/null)" = "$GEN2"
check "the new generation serves on" cli curl -sS --fail -m 5 -o /dev/null "$URL/healthz"

# ---- refusals ----
expect "--takeover without --pid-file is refused" 2 "needs --pid-file" timeout 10 "$SERVER" --datapath socket --http 8081 --takeover
echo 999999999 >"$WORK/stale.pid"
expect "--takeover from a pid file naming no process is refused" 6 "is not running" \
    timeout 10 nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --datapath socket --http 8081 --takeover --pid-file "$WORK/stale.pid"
echo $$ >"$WORK/not-a-server.pid"
expect "--takeover from a process that offers no listening sockets is refused" 6 "offers no listening sockets" \
    timeout 10 nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --datapath socket --http 8081 --takeover --pid-file "$WORK/not-a-server.pid"
expect "--takeover on the xdp datapath is refused" 2 "socket datapath only" \
    timeout 10 "$SERVER" --dev $TOPO-s --http 8081 --takeover --pid-file "$PIDFILE"

stop_pid "$GEN2" 30
GEN2=""
check "the new generation stopped cleanly and removed its pid file" test "$STOP_STATUS" = 0 -a ! -e "$PIDFILE"
