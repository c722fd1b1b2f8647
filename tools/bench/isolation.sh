#!/usr/bin/env bash
# isolation.sh — a light route's latency while a heavy route is loaded: what stream-prefix steering
# buys (the heavy route pinned to its own worker, or connections hashed), and what the offload pool
# buys (a slow handler beside the light route on the same worker, on the pool or on the worker).
#
#   tools/bench/isolation.sh BUILD_DIR OUT_DIR [ROUNDS] [SECONDS]
#
# sluice-server over AF_XDP with two workers (CPU 0 and CPU 1), in a topology of its own ("biso").
# Heavy load: h2load, 8 connections x 8 streams of GET /bytes/1000000. Light probe, at the same
# time: h2load, 4 connections x 1 stream of GET /healthz with --log-file, whose per-request times
# give p50/p99/p99.9. Steered: the service has --steer and routes /bytes -> worker 1, / -> worker
# 0, so light connections never share a worker with heavy ones. Hashed: the same service without
# --steer; the SYN's hash spreads both kinds over both workers. Each mode runs ROUNDS times (default
# 3, interleaved), SECONDS each (default 8); the median is reported with min-max. On two cores the
# clients share the CPUs with the workers, so the absolute figures are noisy: the ratio between
# the modes, measured side by side, is the result.
# The offload part: one worker (CPU 0), the same light probe, and as the heavy load h2load's 1
# connection x 64 streams of GET /sleep/5, a handler that blocks its thread for 5 ms and is routed
# `offload`: "offloaded" runs it on the pool (the default [offload] settings), "inline" with the pool
# disabled (--offload-threads 0) on the worker itself, "unloaded" is the light probe alone. Inline,
# the worker is busy all the time, and by default XDP would shed the light clients' SYNs (the one
# worker past shed_busy_pct): --shed-busy-pct 100 lets them in, so that their latency is what shows.
# Writes OUT_DIR/isolation.md and prints it.
set -eu

BUILD=${1:?usage: isolation.sh BUILD_DIR OUT_DIR [ROUNDS] [SECONDS]}
OUT=${2:?usage: isolation.sh BUILD_DIR OUT_DIR [ROUNDS] [SECONDS]}
ROUNDS=${3:-3}
SECS=${4:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOPO=biso
DEV=$TOPO-s
ADDR=10.77.0.1
URL=http://$ADDR
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
SERVER_PID="" HEAVY_PID=""
WORK=$(mktemp -d)
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"
TOPO_CLI_TIMEOUT=$((SECS + 30)) # in_cli: a client still running 30 s after its run is stopped

cleanup() {
    for pid in $HEAVY_PID $SERVER_PID; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    topo_down $TOPO
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# setup MODE: the agent's service (with or without steering) and a fresh server: two workers for the
# steering modes, one for the offload modes
setup() {
    local args=(--workers 2 --cpus 0,1)
    in_srv "$AGENT" unload --dev "$DEV" --force >/dev/null 2>&1 || true
    in_srv "$AGENT" load --dev "$DEV" >/dev/null
    if [ "$1" = steered ]; then
        in_srv "$AGENT" service add --dev "$DEV" --addr $ADDR --port 80 --steer >/dev/null
        in_srv "$AGENT" route add --dev "$DEV" --prefix /bytes --worker 1 >/dev/null
        in_srv "$AGENT" route add --dev "$DEV" --prefix / --worker 0 >/dev/null
    else
        in_srv "$AGENT" service add --dev "$DEV" --addr $ADDR --port 80 >/dev/null
    fi
    case $1 in
    unloaded | offloaded) args=(--workers 1 --cpus 0) ;;
    inline) args=(--workers 1 --cpus 0 --offload-threads 0 --shed-busy-pct 100) ;;
    esac
    nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --dev "$DEV" "${args[@]}" --http 80 \
        >"$WORK/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$WORK/server-$1.log" && return 0
        sleep 0.1
    done
    echo "isolation: the server did not start: $(head -3 "$WORK/server-$1.log")" >&2
    exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

# percentiles LOG: "p50 p99 p999 n" in microseconds from an h2load --log-file (3rd column: µs)
percentiles() {
    awk -F'\t' '$2 == 200 { print $3 }' "$1" | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (!NR) { print "- - - 0"; exit }
            i50 = int(NR * 0.50); i99 = int(NR * 0.99); i999 = int(NR * 0.999)
            if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; if (i999 < 1) i999 = 1
            print v[i50], v[i99], v[i999], NR
        }'
}

# one MODE ROUND: heavy load and the light probe side by side; appends "MODE p50 p99 p999 n heavy_rps" to raw
one() {
    local mode=$1 round=$2 log=$WORK/light-$1-$2.log heavy=$WORK/heavy-$1-$2.txt
    setup "$mode"
    case $mode in
    steered | hashed) in_cli h2load -D $((SECS + 2)) -c 8 -m 8 "$URL/bytes/1000000" >"$heavy" 2>&1 & ;;
    offloaded | inline) in_cli h2load -D $((SECS + 2)) -c 1 -m 64 "$URL/sleep/5" >"$heavy" 2>&1 & ;;
    unloaded) true & ;;
    esac
    HEAVY_PID=$!
    sleep 1
    # a light client stuck behind an inline sleep may end with requests unanswered: its exit status
    # says so, and the percentiles count what was answered
    in_cli h2load -D "$SECS" -c 4 -m 1 --log-file "$log" "$URL/healthz" >"$WORK/light-$mode-$round.txt" 2>&1 || true
    wait "$HEAVY_PID" || true
    HEAVY_PID=""
    [ -s "$heavy" ] || echo "finished in 0s, 0 req/s" >"$heavy"
    stop_server
    echo "$mode $(percentiles "$log") $(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$heavy")" >>"$WORK/raw"
}

# summary MODE COLUMN: "median (min-max)" of a column of the raw results
summary() {
    awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$WORK/raw" | sort -n | awk '
        { v[NR] = $1 }
        END { if (!NR) { print "-"; exit } printf "%s (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

median() {
    awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$WORK/raw" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

topo_down $TOPO >/dev/null 2>&1
topo_up $TOPO >/dev/null
echo "isolation: $ROUNDS rounds x 5 modes x ${SECS}s, about $((ROUNDS * 5 * (SECS + 6))) s" >&2
for round in $(seq "$ROUNDS"); do
    for mode in steered hashed unloaded offloaded inline; do
        one "$mode" "$round"
    done
done

{
    echo "Light route (GET /healthz, 4 connections x 1 stream) while a heavy route (GET /bytes/1000000,"
    echo "8 x 8) loads the server; two workers on CPU 0 and 1. Median of $ROUNDS runs (min-max), µs."
    echo
    echo "| mode | light p50 | light p99 | light p99.9 | light requests | heavy req/s |"
    echo "|---|---|---|---|---|---|"
    for mode in steered hashed; do
        echo "| $mode | $(summary $mode 2) | $(summary $mode 3) | $(summary $mode 4) | $(summary $mode 5) | $(summary $mode 6) |"
    done
    echo
    awk -v s="$(median steered 3)" -v h="$(median hashed 3)" 'BEGIN {
        if (s > 0 && h > 0) printf "light p99, hashed / steered: %.2fx\n", h / s }'
    echo
    echo "The same light route beside a slow handler on one worker (CPU 0): GET /sleep/5, 1 connection x 64"
    echo "streams, on the offload pool (offloaded) or on the worker (inline: --offload-threads 0, no SYN shedding), and alone"
    echo "(unloaded). Median of $ROUNDS runs (min-max), µs; heavy req/s: /sleep/5 answered per second."
    echo
    echo "| mode | light p50 | light p99 | light p99.9 | light requests | heavy req/s |"
    echo "|---|---|---|---|---|---|"
    for mode in unloaded offloaded inline; do
        echo "| $mode | $(summary $mode 2) | $(summary $mode 3) | $(summary $mode 4) | $(summary $mode 5) | $(summary $mode 6) |"
    done
    echo
    awk -v u="$(median unloaded 3)" -v o="$(median offloaded 3)" -v i="$(median inline 3)" 'BEGIN {
        if (u > 0 && o > 0 && i > 0) printf "light p99 over unloaded: offloaded %.2fx (goal: at most 2x), inline %.2fx\n", o / u, i / u }'
} | tee "$OUT/isolation.md"
