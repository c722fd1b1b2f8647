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
# or one that offers nothing, from a server of the other datapath.
#
# Then AF_XDP, in a second topology (two device queues) with the steering program loaded: under
# h2load and a curl per request, a second generation takes over (it shares the first one's UMEM
# and both queues' rings, on worker slots 32 up) and a third one from it (slots 0 up again).
# Checked for each: 0 failed requests, no reset sent by either server (their tcp_rst_* counters),
# new connections land on the new generation (its /metrics: sluice_afxdp_worker_slot_base), the
# agent's `workers` lists both generations, the old one exits 0 by itself once its connections
# close; a takeover into the half a still-draining generation holds, with more than 32 workers or
# with other UMEM settings is refused in one line; the last generation's stop finds every frame of
# the shared UMEM accounted for. Needs root.
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
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
XTOPO=xtko
GEN1="" GEN2="" GEN3="" LOADS=()
TOPO_CLI_TIMEOUT=120

reset_state() {
    for pid in "${LOADS[@]}" $GEN3 $GEN2 $GEN1; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    GEN1="" GEN2="" GEN3="" LOADS=()
    topo_down stko
    topo_down $XTOPO
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
expect "--takeover from a process that offers nothing is refused" 6 "offers nothing to take over" \
    timeout 10 nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --datapath socket --http 8081 --takeover --pid-file "$WORK/not-a-server.pid"
start "$WORK/gen-other.log" --takeover --datapath xdp --dev $TOPO-s
wait "$STARTED"
status=$?
check "--takeover from a server of the other datapath is refused in one line (exit $status)" \
    test "$status" = 2 -a "$(grep -c 'runs the socket datapath, this one xdp' "$WORK/gen-other.log")" = 1

stop_pid "$GEN2" 30
GEN2=""
check "the new generation stopped cleanly and removed its pid file" test "$STOP_STATUS" = 0 -a ! -e "$PIDFILE"

# ---- AF_XDP: two takeovers in a row over one shared UMEM ----
topo_down $TOPO
TOPO=$XTOPO
DEV=$TOPO-s
TOPO_QUEUES=2 topo_up $TOPO >/dev/null # two queues: each one's rings are handed over
agent load --dev $DEV >"$WORK/agent.log" 2>&1 || not_ok "agent load on $DEV" "$(tail -2 "$WORK/agent.log" | tr '\n' '|')"
agent service add --dev $DEV --addr $SRV4 --port $PORT >/dev/null

# xstart LOG ARGS...: an AF_XDP generation; its PID in STARTED
xstart() {
    local log=$1
    shift
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4 nsenter --net=/run/netns/$TOPO-srv -- \
        "$SERVER" --dev $DEV --http $PORT --workers 2 --pid-file "$PIDFILE" --drain-ms 60000 "$@" >"$log" 2>&1 &
    STARTED=$!
}
# xload SECONDS TAG: h2load's long-lived connections and a curl per request, in the background
xload() {
    cli h2load -D "$1" -c 8 -m 4 --rps 100 "$URL/bytes/1000" >"$WORK/h2load-$2.log" 2>&1 &
    LOADS+=($!)
    cli bash -c "end=\$((SECONDS + $1)); while [ \$SECONDS -lt \$end ]; do
            curl -sS --fail --max-time 10 --http2-prior-knowledge -o /dev/null $URL/bytes/100; echo \$?
            curl -sS --fail --max-time 10 --http1.1 -o /dev/null $URL/healthz; echo \$?
        done" >"$WORK/curl-$2.log" 2>"$WORK/curl-$2.err" &
    LOADS+=($!)
}
# xload_checked TAG: the load's clients are done, and nothing failed
xload_checked() {
    local curls failed
    for pid in "${LOADS[@]}"; do wait "$pid"; done
    LOADS=()
    echo "# h2load ($1): $(grep '^requests:' "$WORK/h2load-$1.log")"
    expect "$1: h2load across the takeover: 0 failed, 0 errored, 0 timeout" 0 " [1-9][0-9]* succeeded, 0 failed, 0 errored, 0 timeout" \
        cat "$WORK/h2load-$1.log"
    curls=$(wc -l <"$WORK/curl-$1.log")
    failed=$(grep -vc '^0$' "$WORK/curl-$1.log")
    if [ "$curls" -gt 0 ] && [ "$failed" = 0 ]; then ok "$1: curl across the takeover: $curls new connections, none failed"; else
        not_ok "$1: curl across the takeover: none failed" "$failed of $curls: $(head -c 200 "$WORK/curl-$1.err")"
    fi
}
# new_conns_on BASE TAG: three new connections each reach a generation whose slots start at BASE
new_conns_on() {
    local bases
    bases=$(for _ in 1 2 3; do cli curl -sS -m 5 "$URL/metrics" | awk '$1 == "sluice_afxdp_worker_slot_base" { print $2 }'; done | tr '\n' ' ')
    check "$2: new connections land on the new generation (slot base of each: $bases)" test "$bases" = "$1 $1 $1 "
}
# left_by_itself PID LOG TAG: the generation taken over exits 0 once its connections are closed, no reset sent
left_by_itself() {
    if timeout 30 tail --pid="$1" -f /dev/null; then
        wait "$1"
        check "$3: the old generation exited 0 by itself once its connections closed" \
            test "$?" = 0 -a -n "$(grep 'hand-over: every connection closed' "$2")"
    else
        not_ok "$3: the old generation exited by itself" "still running; $(tail -2 "$2" | tr '\n' '|')"
    fi
    check "$3: the old generation sent no reset (no tcp_rst_* counter in its report)" test -z "$(grep -E 'tcp_rst_(sent|no_conn)' "$2")"
}

xstart "$WORK/x1.log"
GEN1=$STARTED
if topo_server_ready "$GEN1" "$WORK/x1.log"; then ok "xdp: first generation started"; else not_ok "xdp: first generation started" "$(head -3 "$WORK/x1.log" | tr '\n' '|')"; fi
xload "$LOAD_S" x1
sleep $((LOAD_S / 3))
xstart "$WORK/x2.log" --takeover
GEN2=$STARTED
if topo_server_ready "$GEN2" "$WORK/x2.log"; then ok "xdp: second generation started with --takeover"; else not_ok "xdp: second generation started with --takeover" "$(head -3 "$WORK/x2.log" | tr '\n' '|')"; fi
check "xdp: it shares the first one's UMEM" grep -q "shared with the generation taken over" "$WORK/x2.log"
for _ in $(seq 50); do grep -q "handed over" "$WORK/x1.log" && break; sleep 0.1; done
check "xdp: the first generation took the hand-over" grep -q "SIGUSR2: handed over" "$WORK/x1.log"
# each worker of the first generation publishes its overload once its loop has seen the hand-over
# (it sleeps up to 100 ms)
BOTH_GENERATIONS="^(0|1) +yes +0-1 +yes +$GEN1 |^(32|33) +yes +0-1 +no +$GEN2 "
for _ in $(seq 20); do
    WORKERS=$(agent workers --dev $DEV)
    [ "$(grep -Ec "$BOTH_GENERATIONS" <<<"$WORKERS")" = 4 ] && break
    sleep 0.1
done
check "xdp: the agent's workers shows both generations (slots 0-1: pid $GEN1, overloaded; 32-33: pid $GEN2): $(tr -s ' \n' ' |' <<<"$WORKERS")" \
    test "$(grep -Ec "$BOTH_GENERATIONS" <<<"$WORKERS")" = 4
new_conns_on 32 xdp
# the first generation still drains h2load's connections on slots 0-31: a third one cannot have them
xstart "$WORK/x-refused.log" --takeover
wait "$STARTED"
status=$?
check "xdp: a takeover into the slots of a generation still draining is refused in one line (exit $status)" \
    test "$status" = 6 -a "$(grep -c "worker slots 0-31 are still held by pid $GEN1" "$WORK/x-refused.log")" = 1 \
    -a "$(wc -l <"$WORK/x-refused.log")" = 1
check "xdp: the refused one left the pid file to the second generation" test "$(cat "$PIDFILE" 2>/dev/null)" = "$GEN2"
xload_checked x1
left_by_itself "$GEN1" "$WORK/x1.log" "xdp"
RX=$(cli curl -sS -m 5 "$URL/metrics" | awk '$1 ~ /^sluice_afxdp_queue_rx_packets_total\{/ { split($1, l, "queue=\""); q[substr(l[2], 1, 1)] += $2 } END { printf "%d %d", q[0], q[1] }')
check "xdp: the second generation received on both queues (frames on queue 0, 1: $RX)" test "${RX% *}" -gt 0 -a "${RX#* }" -gt 0
# a write racing the server's (the agent's read-change-write of `meta`) sends new connections to slots
# 0-31 again: the generation alone on the UMEM sets its own half back within a publication or two
META=/sys/fs/bpf/sluice/$DEV/meta
new_flow_workers() { bpftool -j map lookup pinned $META key hex 00 00 00 00 | python3 -c 'import json, sys; print(json.load(sys.stdin)["formatted"]["value"]["new_flow_workers"])'; }
HIGH=$(new_flow_workers)
bpftool map update pinned $META key hex 00 00 00 00 value hex $(bpftool -j map lookup pinned $META key hex 00 00 00 00 |
    python3 -c 'import json, sys; print(" ".join(b[2:] for b in json.load(sys.stdin)["value"][:32]), "ff ff ff ff 00 00 00 00")')
LOW=$(new_flow_workers)
for _ in $(seq 20); do [ "$(new_flow_workers)" = "$HIGH" ] && break; sleep 0.1; done
RESTORED=$(cli curl -sS -m 5 "$URL/metrics" | awk '$1 ~ /^sluice_afxdp_new_flow_mask_restored_total/ { s += $2 } END { print s + 0 }')
check "xdp: new_flow_workers changed behind the server's back ($HIGH -> $LOW) is set back ($(new_flow_workers)), and counted ($RESTORED)" \
    test "$HIGH" = 18446744069414584320 -a "$LOW" = 4294967295 -a "$(new_flow_workers)" = "$HIGH" -a "$RESTORED" = 1
GEN1=""

# the second generation is taken over in its turn: slots 0 up again
xload 4 x2
sleep 1
xstart "$WORK/x3.log" --takeover
GEN3=$STARTED
if topo_server_ready "$GEN3" "$WORK/x3.log"; then ok "xdp: third generation started with --takeover"; else not_ok "xdp: third generation started with --takeover" "$(head -3 "$WORK/x3.log" | tr '\n' '|')"; fi
check "xdp: it says whom it took over from" grep -q "took over from pid $GEN2" "$WORK/x3.log"
new_conns_on 0 "xdp, again"
xload_checked x2
left_by_itself "$GEN2" "$WORK/x2.log" "xdp, again"
GEN2=""
check "xdp: the third generation serves on" cli curl -sS --fail -m 5 -o /dev/null "$URL/healthz"
# refused in one line, the running generation untouched: too many workers for a slot half, another UMEM
xstart "$WORK/x-many.log" --takeover --workers 33
wait "$STARTED"
status=$?
check "xdp: a takeover with 33 workers is refused in one line (exit $status)" \
    test "$status" = 2 -a "$(grep -c 'has at most 32' "$WORK/x-many.log")" = 1 -a "$(wc -l <"$WORK/x-many.log")" = 1
xstart "$WORK/x-umem.log" --takeover --frames 16384
wait "$STARTED"
status=$?
check "xdp: a takeover with other UMEM settings is refused in one line (exit $status)" \
    test "$status" = 2 -a "$(grep -c 'shares the UMEM, so they must match' "$WORK/x-umem.log")" = 1 -a "$(wc -l <"$WORK/x-umem.log")" = 1
check "xdp: the third generation still serves new connections" cli curl -sS --fail -m 5 -o /dev/null "$URL/healthz"
stop_pid "$GEN3" 30
GEN3=""
check "xdp: the last generation stopped with every frame of the shared UMEM accounted for" \
    test "$STOP_STATUS" = 0 -a -n "$(grep 'stopped, every frame returned' "$WORK/x3.log")"
check "xdp: the last generation sent no reset" test -z "$(grep -E 'tcp_rst_(sent|no_conn)' "$WORK/x3.log")"
agent unload --dev $DEV >/dev/null
