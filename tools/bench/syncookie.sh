#!/usr/bin/env bash
# syncookie.sh — SYNs per second the XDP program absorbs with SYN cookies, and what they cost a core.
#
#   tools/bench/syncookie.sh BUILD_DIR [SECONDS]
#
# In a topology of its own ("sfbench"): the steering program on the server's veth, a service on
# port 80 flagged --syncookie (every SYN answered in XDP), sluice-server with one worker on CPU 0,
# and tools/flood/syn_flood on CPU 1 sending spoofed SYNs as fast as it can for SECONDS (default 5).
# The client's veth has an XDP_PASS program (tests/flood/xdp_pass.bpf.c) so that the SYN-ACKs sent
# back are served. Over veth the receiver's XDP runs in softirq on the sender's CPU, inside its
# sendto: the generator, the server veth's XDP (cookie made, SYN-ACK sent back) and the client's
# receive of the SYN-ACK (dropped: its address is spoofed) share CPU 1. Each second it prints the
# SYNs sent, the cookies XDP sent (tx_syncookie), both CPUs' busy share from /proc/stat, and the
# cookies per second per busy core (cookies / (busy CPU 0 + busy CPU 1)); then the totals. The
# per-SYN cost of the program alone is xdp_bench's "SYN cookie" rows.
set -eu

BUILD=${1:?usage: syncookie.sh BUILD_DIR [SECONDS]}
SECONDS_RUN=${2:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOPO=sfbench
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
FLOOD=$(realpath "$ROOT/$BUILD/tools/syn_flood")
PASS=$(realpath "$ROOT/$BUILD/bpf/xdp_pass.bpf.o")
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"
WORK=$(mktemp -d)
SERVER_PID="" FLOOD_PID=""

cleanup() {
    [ -n "$FLOOD_PID" ] && kill -KILL "$FLOOD_PID" 2>/dev/null && wait "$FLOOD_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    topo_down $TOPO
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cookies() { agent stats --dev "$DEV" --json | grep -o '"tx_syncookie":[0-9]*' | cut -d: -f2; }
# cpu N: busy and total jiffies of CPU N
cpu() { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }

topo_down $TOPO
topo_up $TOPO >/dev/null
cli ip link set dev $TOPO-c xdpdrv obj "$PASS" sec xdp
agent load --dev "$DEV" >/dev/null
agent service add --dev "$DEV" --addr $SRV4 --port 80 --syncookie >/dev/null
nsenter --net=/run/netns/$TOPO-srv -- taskset -c 0 "$SERVER" --workers 1 --cpus 0 --dev "$DEV" --http 80 \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
topo_server_ready "$SERVER_PID" "$WORK/server.log" || { echo "syncookie.sh: server did not start" >&2; exit 1; }

c0=$(cookies)
read -r b0 t0 <<<"$(cpu 0)"
read -r b1 t1 <<<"$(cpu 1)"
nsenter --net=/run/netns/$TOPO-cli -- taskset -c 1 "$FLOOD" --dst $SRV4 --port 80 --count 100000000 \
    --seconds "$SECONDS_RUN" >"$WORK/flood.out" 2>"$WORK/flood.err" &
FLOOD_PID=$!
start_c=$c0 start_b0=$b0 start_t0=$t0 start_b1=$b1 start_t1=$t1
printf '| second | cookies/s | CPU 0 busy | CPU 1 busy | cookies/s per busy core |\n|---:|---:|---:|---:|---:|\n'
for s in $(seq "$SECONDS_RUN"); do
    sleep 1
    c=$(cookies)
    read -r nb0 nt0 <<<"$(cpu 0)"
    read -r nb1 nt1 <<<"$(cpu 1)"
    awk -v s="$s" -v c=$((c - c0)) -v u0=$((nb0 - b0)) -v d0=$((nt0 - t0)) -v u1=$((nb1 - b1)) -v d1=$((nt1 - t1)) \
        'BEGIN { f0 = d0 ? u0 / d0 : 0; f1 = d1 ? u1 / d1 : 0;
                 printf "| %d | %d | %.0f%% | %.0f%% | %.0f |\n", s, c, 100 * f0, 100 * f1, (f0 + f1) ? c / (f0 + f1) : 0 }'
    c0=$c b0=$nb0 t0=$nt0 b1=$nb1 t1=$nt1
done
wait "$FLOOD_PID"
FLOOD_PID=""
c=$(cookies)
read -r nb0 nt0 <<<"$(cpu 0)"
read -r nb1 nt1 <<<"$(cpu 1)"
echo
echo "generator: $(cat "$WORK/flood.out")"
awk -v c=$((c - start_c)) -v s="$SECONDS_RUN" -v u0=$((nb0 - start_b0)) -v d0=$((nt0 - start_t0)) \
    -v u1=$((nb1 - start_b1)) -v d1=$((nt1 - start_t1)) \
    'BEGIN { f0 = d0 ? u0 / d0 : 0; f1 = d1 ? u1 / d1 : 0;
             printf "XDP: %d cookies in %s s (%.0f/s); CPU 0 %.0f%%, CPU 1 %.0f%% busy: %.0f cookies/s per busy core\n",
                    c, s, c / s, 100 * f0, 100 * f1, (f0 + f1) ? c / s / (f0 + f1) : 0 }'
