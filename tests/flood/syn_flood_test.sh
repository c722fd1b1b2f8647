#!/usr/bin/env bash
# syn_flood_test.sh — spoofed-source SYN floods answered in XDP with SYN cookies (issue 18), end to
# end: sluice-server over AF_XDP in a topology of its own, tools/flood/syn_flood in the client
# namespace, curl (the kernel's TCP) as the legitimate clients.
#
#   tests/flood/syn_flood_test.sh BUILD_DIR
#
# One worker with the default [tcp] max_half_open (4096). Each phase floods at FLOOD_RATE (10,000
# SYNs/s) for FLOOD_SECONDS (4 s): 40,000 SYNs, about 10 times the worker's half-open table, each of
# which it would hold for its SYN-ACK retries. Meanwhile FLOOD_CLIENTS curl requests, each on
# a new connection, must all get 200.
#   1. cookies off ([server] syncookie_half_open = 0): the flood reaches the worker, which evicts
#      half-open connections (sluice_tcp_half_open_evicted_total > 0): the cost the cookies remove;
#   2. past a threshold (syncookie_half_open = 64): once the worker publishes 64 half-open
#      connections XDP answers the SYNs (tx_syncookie): the worker evicts nothing and sees a fraction
#      of the SYNs (those before its next publication, up to 100 ms of the flood), and the clients
#      that came during the flood were let in by a validated cookie (sluice_tcp_conns_cookie_total;
#      redirect_cookie may count one more: the last scrape's own connection);
#   3. a service flagged --syncookie: every SYN is answered in XDP: the worker sees none of the
#      flood (redirect_syn does not move, its half-open gauge stays 0) and every client connection
#      is a cookie one; then a curl over IPv6 comes in through a cookie too.
# XDP_TX on veth: a frame the server's program sends back is queued on the client veth's ring, which
# the kernel serves at once only when the client's veth has a native XDP program (GRO turns NAPI on
# but nothing kicks it for XDP_TX frames: they wait for the next ordinary packet), so the suite
# attaches tests/flood/xdp_pass.bpf.c there.
# Needs root.
set -u

BUILD=${1:?usage: syn_flood_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=sflood
DEV=$TOPO-s
CLI_IF=$TOPO-c
SRV4=10.77.0.1
SRV6=fd00:77::1
PORT=80
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
FLOOD=$(realpath "$ROOT/$BUILD/tools/syn_flood")
PASS=$(realpath "$ROOT/$BUILD/bpf/xdp_pass.bpf.o")
FLOOD_RATE=${FLOOD_RATE:-10000}
FLOOD_SECONDS=${FLOOD_SECONDS:-4}
FLOOD_CLIENTS=10
WORK=$(mktemp -d)
SERVER_PID=""
FLOOD_PID=""
TOPO_CLI_TIMEOUT=60

reset_state() {
    [ -n "$FLOOD_PID" ] && { kill -KILL "$FLOOD_PID" 2>/dev/null; wait "$FLOOD_PID" 2>/dev/null; }
    FLOOD_PID=""
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; if [ -n "${FLOOD_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

# metric NAME: the server's NAME summed over workers
metric() {
    cli curl -sS -m 5 "http://$SRV4:$PORT/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d", s }'
}

# steer NAME: the steering program's counter NAME (sluice-agent stats)
steer() {
    agent stats --dev "$DEV" --json | grep -o "\"$1\":[0-9]*" | cut -d: -f2
}

# snapshot: the counters a phase compares, as "name=value" words
# (the server's first: each scrape is a connection, which the steering counters read after it include)
snapshot() {
    local s=""
    for c in sluice_tcp_half_open_evicted_total sluice_tcp_conns_cookie_total sluice_tcp_conns_accepted_total; do
        s="$s $c=$(metric $c)"
    done
    for c in tx_syncookie redirect_cookie redirect_syn drop_cookie_invalid syncookie_failed; do s="$s $c=$(steer $c)"; done
    echo "$s"
}

# delta NAME BEFORE AFTER: how much NAME moved between two snapshots
delta() {
    local b a
    b=$(tr ' ' '\n' <<<"$2" | awk -F= -v n="$1" '$1 == n { print $2 }')
    a=$(tr ' ' '\n' <<<"$3" | awk -F= -v n="$1" '$1 == n { print $2 }')
    echo $((${a:-0} - ${b:-0}))
}

# flood_phase LABEL: flood while FLOOD_CLIENTS curls connect one after another; sets GOT (200s),
# SENT (SYNs the generator sent), BEFORE and AFTER (snapshots)
flood_phase() {
    local label=$1 i code
    BEFORE=$(snapshot)
    nsenter --net=/run/netns/$TOPO-cli -- "$FLOOD" --dst $SRV4 --port $PORT --rate "$FLOOD_RATE" \
        --seconds "$FLOOD_SECONDS" --count $((FLOOD_RATE * FLOOD_SECONDS)) >"$WORK/flood-$label.out" 2>"$WORK/flood-$label.err" &
    FLOOD_PID=$!
    sleep 0.5 # the flood is on, and past any threshold, before the first client
    GOT=0
    for i in $(seq "$FLOOD_CLIENTS"); do
        code=$(cli curl -s -o /dev/null -w '%{http_code}' -m 5 "http://$SRV4:$PORT/healthz" 2>/dev/null)
        [ "$code" = 200 ] && GOT=$((GOT + 1))
        sleep 0.1
    done
    wait "$FLOOD_PID"
    FLOOD_PID=""
    SENT=$(sed -n 's/^sent \([0-9]*\) SYNs.*/\1/p' "$WORK/flood-$label.out")
    sleep 0.3 # the workers' last publication and counters
    AFTER=$(snapshot)
    echo "# $label: $(cat "$WORK/flood-$label.out")"
    echo "# $label: before$BEFORE"
    echo "# $label: after $AFTER"
    if [ "$GOT" = "$FLOOD_CLIENTS" ]; then
        ok "$label: $GOT of $FLOOD_CLIENTS clients got 200 during a flood of ${SENT:-?} spoofed SYNs"
    else
        not_ok "$label: every client got 200 during the flood" "$GOT of $FLOOD_CLIENTS"
    fi
}

# start LABEL SYNCOOKIE_HALF_OPEN [SERVICE FLAGS]: the topology, the program, the service and a server
start() {
    local label=$1 threshold=$2
    shift 2
    topo_down $TOPO
    topo_up $TOPO >/dev/null
    cli ip link set dev "$CLI_IF" xdpdrv obj "$PASS" sec xdp # XDP_TX frames reach the client at once
    agent load --dev "$DEV" >/dev/null
    agent service add --dev "$DEV" --addr $SRV4 --port $PORT "$@" >/dev/null
    agent service add --dev "$DEV" --addr $SRV6 --port $PORT "$@" >/dev/null
    topo_start_server "$label" 1 --dev "$DEV" --http $PORT --syncookie-half-open "$threshold"
    expect "$label: curl before the flood" 0 '^200$' cli curl -s -o /dev/null -w '%{http_code}' -m 5 "http://$SRV4:$PORT/healthz"
}

stop() {
    topo_stop_server "$1" "every frame returned"
    agent unload --dev "$DEV" >/dev/null
}

[ -x "$FLOOD" ] && [ -f "$PASS" ] || { not_ok "syn_flood and xdp_pass built" "missing under $BUILD (make tests)"; exit 1; }

# 1. cookies off: the worker pays for the flood
start off 0
flood_phase off
ev=$(delta sluice_tcp_half_open_evicted_total "$BEFORE" "$AFTER")
syn=$(delta redirect_syn "$BEFORE" "$AFTER")
tx=$(delta tx_syncookie "$BEFORE" "$AFTER")
if [ "$ev" -gt 0 ] && [ "$tx" = 0 ]; then
    ok "off: the worker saw $syn SYNs and evicted $ev half-open connections; no cookie sent"
else
    not_ok "off: the flood reached the worker" "evicted $ev, SYNs to the worker $syn, cookies $tx"
fi
stop off

# 2. past the threshold: XDP takes over
start threshold 64
flood_phase threshold
ev=$(delta sluice_tcp_half_open_evicted_total "$BEFORE" "$AFTER")
syn=$(delta redirect_syn "$BEFORE" "$AFTER")
tx=$(delta tx_syncookie "$BEFORE" "$AFTER")
rc=$(delta redirect_cookie "$BEFORE" "$AFTER")
cc=$(delta sluice_tcp_conns_cookie_total "$BEFORE" "$AFTER")
if [ "$ev" = 0 ] && [ "$tx" -gt 0 ] && [ $((tx * 2)) -gt "${SENT:-0}" ]; then
    ok "threshold: XDP answered $tx of ${SENT:-?} SYNs with cookies; the worker saw $syn and evicted none"
else
    not_ok "threshold: XDP answered the flood" "cookies $tx of ${SENT:-?}, SYNs to the worker $syn, evicted $ev"
fi
if [ "$cc" -ge "$FLOOD_CLIENTS" ] && [ "$rc" -ge "$cc" ]; then
    ok "threshold: $rc client connections opened from a validated cookie (engine: $cc)"
else
    not_ok "threshold: clients came in through cookies" "redirect_cookie $rc, sluice_tcp_conns_cookie_total $cc"
fi
stop threshold

# 3. a service that always answers in XDP: the flood costs the worker nothing
start always 0 --syncookie
flood_phase always
syn=$(delta redirect_syn "$BEFORE" "$AFTER")
tx=$(delta tx_syncookie "$BEFORE" "$AFTER")
rc=$(delta redirect_cookie "$BEFORE" "$AFTER")
cc=$(delta sluice_tcp_conns_cookie_total "$BEFORE" "$AFTER")
acc=$(delta sluice_tcp_conns_accepted_total "$BEFORE" "$AFTER")
bad=$(delta drop_cookie_invalid "$BEFORE" "$AFTER")
ho=$(metric sluice_tcp_half_open)
# a flood SYN the veth dropped before XDP saw it is no cookie: 95% of them at least
if [ "$syn" = 0 ] && [ "$ho" = 0 ] && [ $((tx * 100)) -ge $((${SENT:-1} * 95)) ]; then
    ok "always: XDP answered all ${SENT:-?} flood SYNs ($tx cookies); the worker saw no SYN, holds no half-open connection"
else
    not_ok "always: the worker saw nothing of the flood" "SYNs to the worker $syn, half-open $ho, cookies $tx of ${SENT:-?}"
fi
if [ "$rc" -ge "$FLOOD_CLIENTS" ] && [ "$cc" = "$rc" ] && [ "$acc" = "$cc" ] && [ "$bad" = 0 ]; then
    ok "always: every connection ($cc) opened from a validated cookie, none invalid"
else
    not_ok "always: every connection from a cookie" "redirect_cookie $rc, conns_cookie $cc, accepted $acc, invalid $bad"
fi
# the IPv6 cookie path with the kernel's TCP as the client (the flood generator is IPv4 only)
b=$(steer redirect_cookie)
expect "always: curl over IPv6 through a cookie" 0 '^200$' cli curl -s -o /dev/null -w '%{http_code}' -m 5 "http://[$SRV6]:$PORT/healthz"
a=$(steer redirect_cookie)
if [ $((a - b)) -ge 1 ]; then ok "always: the IPv6 connection came in through a validated cookie"; else not_ok "always: the IPv6 connection came in through a validated cookie" "redirect_cookie +$((a - b))"; fi
stop always
