# shellcheck shell=bash
# bench_lib.sh — what the topology benchmarks (http.sh, grpc.sh) share. Sourced, by bash, after
# setting BENCH_NAME (the script's name in messages) and TOPO (tests/lib/topo.sh's topology name).
#
#   "${SRV[@]}" CMD &, "${CLI[@]}" CMD &   a command in the server's or client's namespace: nsenter
#                         (and taskset after it) exec, so $! is the process itself, stoppable by PID
#   note MSG, die MSG     a line on stderr; die exits 1
#   stop_pid PID          SIGTERM, then SIGKILL after 10 s; reaps it
#   sleep_until NS        sleep until `date +%s%N` reaches NS (deadlines from a start, not sleeps in a
#                         row: on a busy machine the work between them takes a while)
# and tests/lib/topo.sh's helpers (in_srv, in_cli, topo_up, topo_down).

SRV=(nsenter "--net=/run/netns/$TOPO-srv" --)
CLI=(nsenter "--net=/run/netns/$TOPO-cli" --)
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

note() { echo "$BENCH_NAME: $*" >&2; }
die() {
    echo "$BENCH_NAME: error: $*" >&2
    exit 1
}

stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    if ! timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

sleep_until() {
    local now
    now=$(date +%s%N)
    [ "$1" -gt "$now" ] && sleep "$(awk -v d=$(($1 - now)) 'BEGIN { printf "%.3f", d / 1e9 }')"
    return 0
}
