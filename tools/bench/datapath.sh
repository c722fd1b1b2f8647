#!/usr/bin/env bash
# datapath.sh — sluice over AF_XDP against sluice over kernel sockets: the same services (echo,
# sink, source), the same kernel clients, side by side in one run.
#
#   tools/bench/datapath.sh BUILD_DIR OUT_DIR [ROUNDS] [BULK_MIB] [RR_SECONDS]
#
# The server runs pinned to CPU 0 (one worker), the client (tests/net/kernel_client) to CPU 1, in
# a topology of its own ("sbn"). Cases: an upload of BULK_MIB (default 1024) to the sink, a download
# of as much from the source, and RR_SECONDS (default 5) of 64-byte request/response rounds over 16
# connections to echo. Each case runs ROUNDS times (default 3), the two datapaths interleaved so
# drift hits both alike; the median is reported with min-max. CPU is read from /proc: the server
# process's own (utime+stime) and the whole machine's busy time (over veth, the receiving softirq
# runs on the sender's CPU, so the machine total is the fair figure). Writes OUT_DIR/datapath.md
# and prints it.
set -eu

BUILD=${1:?usage: datapath.sh BUILD_DIR OUT_DIR [ROUNDS] [BULK_MIB] [RR_SECONDS]}
OUT=${2:?usage: datapath.sh BUILD_DIR OUT_DIR [ROUNDS] [BULK_MIB] [RR_SECONDS]}
ROUNDS=${3:-3}
BULK_MIB=${4:-1024}
RR_SECONDS=${5:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOPO=sbn
DEV=$TOPO-s
ADDR=10.77.0.1
BULK=$((BULK_MIB << 20))
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
CLIENT=$(realpath "$ROOT/$BUILD/tests/kernel_client")
TICK=$(getconf CLK_TCK)
SERVER_PID=""
RAW=$(mktemp)
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    topo_down $TOPO
    rm -f "$RAW"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

machine_busy() { # busy clock ticks of the whole machine: everything but idle and iowait
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

process_cpu() { # utime + stime of a process, in ticks
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

start_server() { # start_server xdp|socket
    local extra=""
    [ "$1" = xdp ] && extra="--dev $DEV"
    # shellcheck disable=SC2086
    nsenter --net=/run/netns/$TOPO-srv -- taskset -c 0 "$SERVER" --datapath "$1" $extra --workers 1 --cpus 0 \
        --echo 7 --sink 9 --source 19 >"$OUT/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$OUT/server-$1.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "datapath.sh: error: sluice-server ($1) did not start: $(head -2 "$OUT/server-$1.log")" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

# measure DATAPATH CASE CLIENT-ARGS...: one run; appends "datapath case units busy_ticks server_ticks"
measure() {
    local dp=$1 case=$2 out m0 m1 s0 s1 units
    shift 2
    m0=$(machine_busy)
    s0=$(process_cpu "$SERVER_PID")
    out=$(nsenter --net=/run/netns/$TOPO-cli -- taskset -c 1 "$CLIENT" "$@" --timeout 120)
    m1=$(machine_busy)
    s1=$(process_cpu "$SERVER_PID")
    case $case in
    rr) units=$(printf '%s\n' "$out" | sed -n 's/^rr: \([0-9]*\) round trips in \([0-9.]*\) s.*/\1 \2/p') ;;
    *) units=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) bytes in \([0-9.]*\) s.*/\1 \2/p') ;;
    esac
    [ -n "$units" ] || { echo "datapath.sh: error: $dp $case: no figure in: $out" >&2; exit 1; }
    echo "$dp $case $units $((m1 - m0)) $((s1 - s0))" >>"$RAW"
}

run_cases() { # run_cases DATAPATH
    measure "$1" upload upload --addr $ADDR --port 9 --bytes $BULK
    measure "$1" download download --addr $ADDR --port 19 --bytes $BULK --seed 3
    measure "$1" rr rr --addr $ADDR --port 7 --conns 16 --bytes 64 --seconds "$RR_SECONDS"
}

mkdir -p "$OUT"
topo_up $TOPO
for round in $(seq "$ROUNDS"); do
    in_srv "$AGENT" load --dev "$DEV" >/dev/null
    for port in 7 9 19; do in_srv "$AGENT" service add --dev "$DEV" --addr $ADDR --port $port >/dev/null; done
    start_server xdp
    run_cases xdp
    stop_server
    in_srv "$AGENT" unload --dev "$DEV" >/dev/null
    start_server socket
    run_cases socket
    stop_server
    echo "datapath.sh: round $round of $ROUNDS done" >&2
done

# per (datapath, case): median and range of throughput, and of CPU per unit (µs per MiB or per round trip)
awk -v tick="$TICK" '
function median(a, n,    i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{
    key = $1 " " $2; n[key]++; k = n[key]
    units = $2 == "rr" ? $3 : $3 / 1048576
    rate[key, k] = units / $4
    busy[key, k] = $5 / tick * 1e6 / units
    srv[key, k] = $6 / tick * 1e6 / units
}
END {
    printf "| case | datapath | rate (median, min-max) | machine CPU µs/unit | server CPU µs/unit |\n|---|---|---:|---:|---:|\n"
    split("upload download rr", cases, " ")
    split("xdp socket", dps, " ")
    for (c = 1; c <= 3; c++) for (d = 1; d <= 2; d++) {
        key = dps[d] " " cases[c]; m = n[key]
        for (i = 1; i <= m; i++) { r[i] = rate[key, i]; b[i] = busy[key, i]; s[i] = srv[key, i] }
        lo = hi = r[1]; for (i = 2; i <= m; i++) { if (r[i] < lo) lo = r[i]; if (r[i] > hi) hi = r[i] }
        unit = cases[c] == "rr" ? "round trips/s" : "MiB/s"
        printf "| %s | %s | %.0f %s (%.0f-%.0f) | %.2f | %.2f |\n", cases[c], dps[d], median(r, m), unit, lo, hi, median(b, m), median(s, m)
        mr[key] = median(r, m); mb[key] = median(b, m); ms[key] = median(s, m)
    }
    printf "\nxdp / socket ratios (median): "
    for (c = 1; c <= 3; c++) printf "%s rate %.2fx, machine CPU/unit %.2fx, server CPU/unit %.2fx; ", cases[c],
        mr["xdp " cases[c]] / mr["socket " cases[c]], mb["xdp " cases[c]] / mb["socket " cases[c]], ms["xdp " cases[c]] / ms["socket " cases[c]]
    printf "\n"
}' "$RAW" >"$OUT/datapath.md"
cat "$OUT/datapath.md"
