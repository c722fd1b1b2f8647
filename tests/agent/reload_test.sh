#!/usr/bin/env bash
# reload_test.sh — `sluice-agent reload` under load: the XDP program is swapped through the pinned
# link while a two-worker sluice-server on AF_XDP serves h2load's long-lived HTTP/2 connections and
# a client opening a new connection per curl request, and nothing fails.
#
#   tests/agent/reload_test.sh BUILD_DIR
#
# In a topology of its own. Routes send /bytes to worker 1 and the rest to worker 0, so about half
# of the connections are handed off from the worker their SYN hashed to: only the flows map says
# where they live now, and a reload that lost it would send their packets to the wrong worker (a
# reset). Two reloads in the middle of the load; then: h2load's summary has 0 failed, errored or
# timed-out requests, every curl exited 0, the server's workers sent no reset and saw no segment
# without a connection, the program id changed at each reload (agent and bpftool agree) while the
# link and every map stayed (ids, routes, counters that kept counting), new connections are still
# steered by the new program, and the server stops with every UMEM frame returned. Needs root.
set -u

BUILD=${1:?usage: reload_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=srld
DEV=$TOPO-s
SRV4=10.77.0.1
PORT=80
URL=http://$SRV4:$PORT
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
WORK=$(mktemp -d)
LOAD_S=${RELOAD_LOAD_S:-12} # seconds of load; reloads at a third and two thirds of it
SERVER_PID="" H2LOAD_PID="" CURL_PID=""

TOPO_CLI_TIMEOUT=120 # cli (tests/lib/topo.sh): a client still running after 120 s is stopped

reset_state() {
    for pid in $H2LOAD_PID $CURL_PID $SERVER_PID; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    SERVER_PID="" H2LOAD_PID="" CURL_PID=""
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# metric_sum NAME: the server's counter NAME summed over its workers
metric_sum() {
    cli curl -sS --http2-prior-knowledge "$URL/metrics" | awk -v m="$1" 'index($0, m "{") == 1 { s += $2 } END { print s + 0 }'
}
# requests WORKER: HTTP requests that worker served so far
requests() {
    cli curl -sS --http2-prior-knowledge "$URL/metrics" | sed -n "s/^sluice_http_requests_total{worker=\"$1\"} //p"
}
status_field() { agent status --dev "$DEV" --json | jq -r ".devices[0].$1"; }
xdp_counter() { agent stats --dev "$DEV" --json | jq -r ".counters.$1"; }

reset_state
topo_up $TOPO >/dev/null

# ---- set-up: the program with a steering service and routes, a two-worker server ----
check "agent loaded the program" agent load --dev "$DEV"
check "service with steering registered" agent service add --dev "$DEV" --addr $SRV4 --port $PORT --steer
check "route /bytes -> worker 1" agent route add --dev "$DEV" --prefix /bytes --worker 1
check "route / -> worker 0" agent route add --dev "$DEV" --prefix / --worker 0
nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --dev "$DEV" --workers 2 --http $PORT >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
if topo_server_ready "$SERVER_PID" "$WORK/server.log"; then ok "server started with two workers"; else
    not_ok "server started with two workers" "$(head -3 "$WORK/server.log" | tr '\n' '|')"
fi
check "a request is served before the load" cli curl -sS --fail --http2-prior-knowledge -o /dev/null "$URL/healthz"

PROG0=$(status_field program.id)
LINK0=$(status_field program.link_id)
MAPS0=$(agent status --dev "$DEV" --json | jq -c '.devices[0].maps | map_values(.id)')
ROUTES0=$(bpftool map dump pinned "/sys/fs/bpf/sluice/$DEV/routes")
RST0=$(metric_sum sluice_tcp_rst_sent_total)
NOCONN0=$(metric_sum sluice_tcp_rst_no_conn_total)
HANDOFFS0=$(xdp_counter prefix_handoffs)

# ---- the load: long-lived HTTP/2 connections, and a new connection per request ----
cli h2load -D "$LOAD_S" -c 8 -m 4 "$URL/bytes/100" >"$WORK/h2load.log" 2>&1 &
H2LOAD_PID=$!
# each curl on a new connection, alternating HTTP/2 and HTTP/1.1, /bytes (moved to worker 1) and
# /healthz (worker 0); one line per request: its exit status
cli bash -c "end=\$((SECONDS + $LOAD_S)); while [ \$SECONDS -lt \$end ]; do
        curl -sS --fail --max-time 10 --http2-prior-knowledge -o /dev/null $URL/bytes/100; echo \$?
        curl -sS --fail --max-time 10 --http1.1 -o /dev/null $URL/healthz; echo \$?
    done" >"$WORK/curl.log" 2>"$WORK/curl.err" &
CURL_PID=$!

sleep $((LOAD_S / 3))
expect "reload under load" 0 "program id $PROG0 -> [0-9]+ .*every map kept" agent reload --dev "$DEV"
PROG1=$(printf '%s' "$OUT" | sed -n 's/.* -> \([0-9]*\) .*/\1/p')
sleep $((LOAD_S / 3))
expect "second reload under load" 0 "program id ${PROG1:-x} -> [0-9]+ .*every map kept" agent reload --dev "$DEV"
PROG2=$(printf '%s' "$OUT" | sed -n 's/.* -> \([0-9]*\) .*/\1/p')

wait "$H2LOAD_PID"
H2LOAD_STATUS=$?
H2LOAD_PID=""
wait "$CURL_PID"
CURL_PID=""

# ---- nothing failed ----
SUMMARY=$(grep '^requests:' "$WORK/h2load.log")
echo "# h2load: $SUMMARY"
check "h2load exited 0" test "$H2LOAD_STATUS" = 0
expect "h2load across two reloads: 0 failed, 0 errored, 0 timeout" 0 " 0 failed, 0 errored, 0 timeout" \
    cat "$WORK/h2load.log"
SUCCEEDED=$(printf '%s' "$SUMMARY" | sed -n 's/.* \([0-9]*\) succeeded.*/\1/p')
check "h2load's requests succeeded (${SUCCEEDED:-0})" test "${SUCCEEDED:-0}" -gt 0
CURLS=$(wc -l <"$WORK/curl.log")
CURL_FAILED=$(grep -vc '^0$' "$WORK/curl.log")
echo "# curl: $CURLS requests on new connections, $CURL_FAILED failed"
if [ "$CURLS" -gt 0 ] && [ "$CURL_FAILED" = 0 ]; then ok "curl across two reloads: $CURLS new connections, none failed"; else
    not_ok "curl across two reloads: $CURLS new connections, none failed" "$CURL_FAILED failed: $(head -c 200 "$WORK/curl.err")"
fi
check "the server sent no reset during the reloads" test "$(metric_sum sluice_tcp_rst_sent_total)" = "$RST0"
check "no segment reached a worker without its connection" test "$(metric_sum sluice_tcp_rst_no_conn_total)" = "$NOCONN0"

# ---- a new program, the same link and maps ----
check "the first reload changed the program id ($PROG0 -> ${PROG1:-none})" test -n "$PROG1" -a "$PROG1" != "$PROG0"
check "the second reload changed it again (${PROG1:-none} -> ${PROG2:-none})" test -n "$PROG2" -a "$PROG2" != "$PROG1"
check "status shows the new program on the same link" test "$(status_field program.id) $(status_field program.link_id)" = "$PROG2 $LINK0"
expect "bpftool link shows the new program" 0 "prog ${PROG2:-x}( |$)" bpftool link show id "$LINK0"
check "every map kept its id" test "$(agent status --dev "$DEV" --json | jq -c '.devices[0].maps | map_values(.id)')" = "$MAPS0"
check "the routes are unchanged" test "$(bpftool map dump pinned "/sys/fs/bpf/sluice/$DEV/routes")" = "$ROUTES0"
HANDOFFS=$(xdp_counter prefix_handoffs)
check "the counters kept counting across the reloads (hand-offs $HANDOFFS0 -> $HANDOFFS)" test "$HANDOFFS" -gt "$HANDOFFS0"

# ---- the new program steers new connections ----
before=$(requests 1)
cli bash -c "for i in \$(seq 10); do curl -sS --fail --http2-prior-knowledge -o /dev/null $URL/bytes/100 || exit 1; done"
after=$(requests 1)
check "after the reloads, 10 new connections to /bytes land on worker 1 ($((after - before)))" test $((after - before)) -eq 10

# ---- stop: every frame back ----
stop_pid "$SERVER_PID" 30
status=$STOP_STATUS
SERVER_PID=""
if [ "$status" = 0 ] && grep -q "every frame returned" "$WORK/server.log"; then
    ok "server stopped with every frame accounted for"
else
    not_ok "server stopped with every frame accounted for" "exit $status: $(grep -i -E 'error|leak' "$WORK/server.log" | head -3 | tr '\n' '|')"
fi
check "unload after the reloads" agent unload --dev "$DEV"
