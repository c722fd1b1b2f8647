#!/usr/bin/env bash
# profile.sh — where the CPU goes when sluice sends bulk bytes, over AF_XDP and over kernel sockets
# (`make profile`; issue 15's first step: measure before changing the datapath).
#
#   tools/bench/profile.sh BUILD_DIR [OUT_DIR]
#
# In the bench topology (tests/lib/topo.sh, veth between two namespaces), sluice-server runs with one
# worker on CPU 0 and h2load on CPU 1, for each datapath (xdp: AF_XDP on the veth, copy mode;
# socket: kernel sockets) and each case (GET /static/1m.bin at 4 connections x 1 stream, GET
# /static/16k.bin at 16 x 8, the bench's files). While h2load runs, `perf record -a -g -e cpu-clock`
# samples both CPUs for PERF_SECONDS (5). OUT_DIR (default results/<date>-profile/) gets the perf
# data and profile.md: per case, the bytes per second, each CPU's busy share and its split between
# the kernel, sluice-server and the rest, the server CPU's top symbols, and the server CPU's time per
# byte and per 1448-byte segment. Needs root and perf (Debian's linux-perf); cleans up on any exit.
set -u

BUILD=${1:?usage: profile.sh BUILD_DIR [OUT_DIR]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${2:-$ROOT/results/$(date -u +%Y%m%d-%H%M%S)-profile}
PERF_SECONDS=${PERF_SECONDS:-5}
cd "$ROOT" || exit 1
TOPO=sprof
AGENT=$(realpath "$BUILD/bin/sluice-agent")
SERVER=$(realpath "$BUILD/bin/sluice-server")
# shellcheck source=tests/lib/topo.sh
. tests/lib/topo.sh
DEV=$TOPO-s
SRV4=10.77.0.1
WORK=$(mktemp -d)
SERVER_PID="" LOAD_PID=""

command -v perf >/dev/null || { echo "profile.sh: error: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
cleanup() {
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    topo_down "$TOPO" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$WORK/www"
head -c 16384 /dev/urandom >"$WORK/www/16k.bin"
head -c $((1 << 20)) /dev/urandom >"$WORK/www/1m.bin"
topo_up "$TOPO" >/dev/null
agent load --dev "$DEV" >/dev/null
agent service add --dev "$DEV" --addr $SRV4 --port 80 >/dev/null

# report FILE CPU KEY: perf's share per KEY (dso or sym) on CPU, "share name" lines
report() {
    perf report -i "$1" --no-children --sort "$3" -C "$2" --stdio -g none 2>/dev/null |
        awk '/^ *[0-9.]+%/ { sub("%", "", $1); $2 = ($2 == "[k]" || $2 == "[.]") ? $2 " " $3 : $2; print $1, $2 }'
}
# idle share: the guest's halt (pvm/native), or the idle loop's
idle_share() {
    report "$1" "$2" sym | awk '$3 ~ /halt|^default_idle|^poll_idle|^intel_idle|^acpi_idle/ { s += $1 } END { printf "%.1f", s + 0 }'
}

{
    echo "# Where the CPU goes: sluice over AF_XDP and over kernel sockets ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r))"
    echo
    echo "tools/bench/profile.sh: sluice-server on CPU 0 (one worker), h2load on CPU 1, veth between two namespaces;"
    echo "perf record -a -g -e cpu-clock for $PERF_SECONDS s while h2load runs. Busy: 100% minus the idle (halt) share."
    echo "Per byte and per segment: the server CPU's busy time over the bytes h2load received (1448-byte segments)."
} >"$OUT/profile.md"

for dp in xdp socket; do
    port=80
    args=(--dev "$DEV")
    if [ $dp = socket ]; then
        port=8080
        args=(--datapath socket)
    fi
    # nsenter itself, not the in_srv function: $! must be the server, which the stop below signals
    nsenter --net="/run/netns/$TOPO-srv" -- taskset -c 0 "$SERVER" "${args[@]}" --workers 1 --cpus 0 \
        --http $port --static "$WORK/www" >"$OUT/server-$dp.log" 2>&1 &
    SERVER_PID=$!
    topo_server_ready "$SERVER_PID" "$OUT/server-$dp.log" || { echo "profile.sh: error: sluice-server ($dp) did not start: $(tail -n 2 "$OUT/server-$dp.log")" >&2; exit 1; }
    for c in "1m 4 1" "16k 16 8"; do
        read -r file conns streams <<<"$c"
        name=$dp-$file
        nsenter --net="/run/netns/$TOPO-cli" -- taskset -c 1 h2load -D $((PERF_SECONDS + 3)) -c "$conns" \
            -m "$streams" "http://$SRV4:$port/static/$file.bin" >"$OUT/h2load-$name.log" 2>&1 &
        LOAD_PID=$!
        sleep 2
        perf record -a -g -e cpu-clock -F 2000 -o "$OUT/perf-$name.data" -- sleep "$PERF_SECONDS" >/dev/null 2>&1
        wait "$LOAD_PID"
        LOAD_PID=""
        bytes=$(sed -n 's/.*traffic: [0-9.]*[KMG]*B (\([0-9]*\)) total.*/\1/p' "$OUT/h2load-$name.log")
        secs=$(sed -n 's/^finished in \([0-9.]*\)s.*/\1/p' "$OUT/h2load-$name.log")
        idle0=$(idle_share "$OUT/perf-$name.data" 0)
        idle1=$(idle_share "$OUT/perf-$name.data" 1)
        {
            echo
            echo "## $dp, GET /static/$file.bin, $conns x $streams"
            echo
            grep -E '^(finished|requests):' "$OUT/h2load-$name.log" | sed 's/^/    /'
            awk -v b="$bytes" -v s="$secs" -v i="$idle0" 'BEGIN {
                rate = b / s; busy = (100 - i) / 100
                printf "\n%.0f MB/s; CPU 0 (server) %.0f%% busy: %.2f ns per byte, %.2f us per 1448-byte segment\n",
                    rate / 1e6, busy * 100, busy * 1e9 / rate, busy * 1e6 * 1448 / rate }'
            echo "CPU 1 (h2load) $(awk -v i="$idle1" 'BEGIN { printf "%.0f", 100 - i }')% busy"
            for cpu in 0 1; do
                echo
                echo "CPU $cpu by object: $(report "$OUT/perf-$name.data" $cpu dso | head -n 4 | awk '{ printf "%s%s %s%%", (NR > 1 ? ", " : ""), $2, $1 }')"
            done
            echo
            echo "CPU 0's top symbols ([k] kernel, [.] user):"
            echo
            report "$OUT/perf-$name.data" 0 sym | head -n 16 | awk '{ printf "    %6.2f%%  %s %s\n", $1, $2, $3 }'
        } >>"$OUT/profile.md"
        echo "profile.sh: $name done"
    done
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
done
echo "profile.sh: $OUT/profile.md"
