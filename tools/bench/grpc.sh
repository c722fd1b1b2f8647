#!/usr/bin/env bash
# grpc.sh — gRPC unary echo, sluice's examples/grpc-echo against a gRPC-Go server: calls per second,
# p50/p99 and server CPU per call, on one server core. Part of `make bench` (run.sh); `make
# bench-grpc` runs it alone (run.sh --grpc, about 2 minutes).
#
#   tools/bench/grpc.sh BUILD_DIR OUT_DIR [--quick]
#
# The case: /sluice.echo.Echo/Unary, EchoRequest with a 1 KiB payload, the payload back (index 0),
# cleartext HTTP/2 with prior knowledge, 16 connections x 32 streams (the bench's small-request
# shape, http.sh's small-16x32: 512 calls in flight; GRPC_STREAMS overrides the streams). The load
# client is h2load with a fixed request body (one length-prefixed gRPC message: the 5-byte prefix
# and the EchoRequest, encoded here) and gRPC's headers (content-type: application/grpc, te:
# trailers). h2load reads neither messages nor trailers, so after each start a server is checked
# with a real gRPC client (tools/bench/grpc_check.py, python3-grpcio: grpc-status 0 and the payload
# back at index 0) and by an h2load run of a fixed number of calls whose responses' DATA must sum
# to one EchoReply (1032 B) each (a trailers-only error has none; runs with a duration cannot be
# summed so: they count their warm-up's DATA), and every h2load run must show every call answered
# 2xx with no error. A server that fails any of it fails the case loudly: the script says why,
# exits 1 and writes no grpc.md (its table goes to grpc-failed.md).
# Servers, each alone with its one core (CPU 0, taskset), h2load on CPU 1, in a topology of its
# own ("bgrp", tools/topology.sh: a veth between two namespaces, as http.sh's):
#   grpc-go            tools/bench/grpc_go (gRPC-Go 1.33 from Debian, built here into
#                      BUILD_DIR/bench/grpc-go-echo, offline, GOPATH mode), GOMAXPROCS=1
#   sluice-grpc-socket grpc-echo --datapath socket (kernel sockets), one worker
#   sluice-grpc-xdp    grpc-echo over AF_XDP on the veth, the agent loaded as for sluice-server
# Both sluice rows run the native HTTP/2 session ([http] h2 = native, named so that a change of
# default does not change what they measure). grpc-echo is GRPC_ECHO (default
# BUILD_DIR/examples/grpc-echo/grpc-echo); when it is missing the sluice rows say so and gRPC-Go
# is measured alone.
# Per server, as http.sh measures (see its top): calls/s from an h2load run with a duration after a
# warm-up; over a window inside it, the server's utime+stime (/proc/PID/stat) and every CPU's busy
# time, per call; calls per second per server core (1 s over the server CPU per call: what one
# core of that server would serve), each core's busy share and the share of the machine other
# processes took (a run during which they took more than BENCH_QUIET, 0.1, is made again,
# BENCH_TRIES runs in all, 3, the quietest kept); p50/p99/p99.9 from a separate run with h2load's
# per-request log. Each round starts every server afresh, in an order rotating per round; ROUNDS
# rounds (BENCH_ROUNDS, default 3, 1 with --quick), median and min-max; ratios to gRPC-Go are per
# round, then their median. The goal: at least 3x gRPC-Go's calls per second per server core and
# at most 0.3x its p99. With 512 calls in flight p99 is mostly queueing (in flight over calls/s):
# when h2load's CPU 1 is near 100%, calls/s and p99 are the client's limit; CPU per call is the
# server's figure.
# Writes OUT_DIR/grpc.md (the table), OUT_DIR/grpc.json (every run) and OUT_DIR/grpc-logs/, and
# prints the table. Every process it starts is stopped by PID; the topology is removed on every
# exit path. Needs root.
set -u

usage() {
    echo "usage: grpc.sh BUILD_DIR OUT_DIR [--quick]" >&2
    exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
BUILD=$1
OUT=$2
QUICK=0
if [ $# -eq 3 ]; then [ "$3" = --quick ] && QUICK=1 || usage; fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOPO=bgrp
DEV=$TOPO-s
SRV4=10.77.0.1
TICK=$(getconf CLK_TCK)
TRIES=${BENCH_TRIES:-3} QUIET=${BENCH_QUIET:-0.1}
METHOD_PATH=/sluice.echo.Echo/Unary
CONNS=16
STREAMS=${GRPC_STREAMS:-32}
PAYLOAD=1024 # the request body's prefix below is written for this size
[ -x "$ROOT/$BUILD/bin/sluice-agent" ] || { echo "grpc.sh: error: $BUILD/bin/sluice-agent is missing: build first (make all)" >&2; exit 1; }
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
GRPC_ECHO=${GRPC_ECHO:-$ROOT/$BUILD/examples/grpc-echo/grpc-echo}
GO_ECHO=$ROOT/$BUILD/bench/grpc-go-echo
PYTHON=/usr/bin/python3 # Debian's, with python3-grpcio (not whatever python3 comes first in PATH)

if [ $QUICK = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-1} TP_MS=1500 TP_WARM_MS=500 LAT_MS=1000 LAT_WARM_MS=500
else
    ROUNDS=${BENCH_ROUNDS:-3} TP_MS=2500 TP_WARM_MS=500 LAT_MS=1500 LAT_WARM_MS=500
fi
SERVERS=(grpc-go sluice-grpc-socket sluice-grpc-xdp)
port_of() {
    case $1 in
    grpc-go) echo 50051 ;;
    sluice-grpc-socket) echo 50052 ;;
    sluice-grpc-xdp) echo 50053 ;;
    esac
}
# the calls of the check run before the measured ones, each reply's size checked (a multiple of 16 x 32)
CHECK_CALLS=8192
# one EchoReply per call: the 5-byte prefix, field 1 (tag, 2-byte length, the payload); index 0 is left out
REPLY_BYTES=$((5 + 1 + 2 + PAYLOAD))

WORK=$(mktemp -d /tmp/sluice-grpc.XXXXXX)
LOGS=$OUT/grpc-logs
RAW=$OUT/grpc-runs.jsonl
SERVER_PID=""
SERVER_NAME=""
LOAD_PID=""
XDP_LOADED=0
FAILED=()

BENCH_NAME=grpc.sh
. "$ROOT/tools/bench/bench_lib.sh" # SRV, CLI, note, die, stop_pid, sleep_until, topo.sh

cleanup() {
    [ -n "$LOAD_PID" ] && stop_pid "$LOAD_PID"
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    LOAD_PID="" SERVER_PID=""
    topo_down $TOPO
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT" "$LOGS"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/grpc-logs
RAW=$OUT/grpc-runs.jsonl
: >"$RAW"
rm -f "$OUT/grpc.md"

# ---- the request: one gRPC message, EchoRequest { payload = 1 KiB } --------------------------------
# prefix: compressed flag 0, message length 1027 (0x403) big-endian; the message: tag 0x0a (field 1,
# length-delimited), length 1024 as a varint (0x80 0x08), the payload
BODY=$WORK/echo-request.bin
{
    printf '\000\000\000\004\003\012\200\010'
    head -c $PAYLOAD /dev/urandom
} >"$BODY"
[ "$(stat -c %s "$BODY")" = $((5 + 3 + PAYLOAD)) ] || die "the request body is $(stat -c %s "$BODY") B, not $((5 + 3 + PAYLOAD))"
cp "$BODY" "$LOGS/echo-request.bin"

# ---- gRPC-Go, built offline from Debian's packages ----------------------------------------------------
# GOPATH mode (no modules, no network): the imports come from /usr/share/gocode/src
# (golang-google-grpc-dev, golang-google-protobuf-dev and their dependencies); the build cache in
# the build folder, so that a second run builds nothing
build_go() {
    command -v go >/dev/null || die "no Go toolchain (Debian: golang-go; make deps installs it)"
    mkdir -p "$ROOT/$BUILD/bench"
    (cd "$ROOT" && env GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$ROOT/$BUILD/bench/go-cache" GOFLAGS= \
        GOPROXY=off CGO_ENABLED=0 go build -o "$GO_ECHO" ./tools/bench/grpc_go) >"$LOGS/go-build.log" 2>&1 ||
        die "could not build tools/bench/grpc_go: $(tail -n 5 "$LOGS/go-build.log" | tr '\n' '|')"
}
build_go

# sluice's configuration: the HTTP/2 session named; the link MTU as the topology's
cat >"$OUT/grpc-echo.conf" <<EOF
# grpc-echo for tools/bench/grpc.sh: the HTTP/2 session and the link MTU (options on the command line)
[http]
h2 = native
[tcp]
mtu = 1500
EOF

# ---- servers -----------------------------------------------------------------------------------------
# NA[SERVER]: why it has no figures (empty: it runs)
declare -A NA
if [ ! -x "$GRPC_ECHO" ]; then
    for s in sluice-grpc-socket sluice-grpc-xdp; do NA[$s]="grpc-echo not found at $GRPC_ECHO (GRPC_ECHO): not measured"; done
    note "grpc-echo not found at $GRPC_ECHO (set GRPC_ECHO, or build examples/grpc-echo): measuring gRPC-Go alone"
else
    GRPC_ECHO=$(realpath "$GRPC_ECHO")
fi

start_server() { # start_server NAME: in the server namespace on CPU 0; returns 1 if it is not ready in 10 s
    local name=$1 port log=$LOGS/$1.log i
    port=$(port_of "$name")
    SERVER_NAME=$name
    echo "---- start $(date -u +%H:%M:%S)" >>"$log"
    case $name in
    grpc-go)
        "${SRV[@]}" env GOMAXPROCS=1 taskset -c 0 "$GO_ECHO" --addr $SRV4 --port "$port" >>"$log" 2>&1 &
        ;;
    sluice-grpc-socket)
        "${SRV[@]}" taskset -c 0 "$GRPC_ECHO" --config "$OUT/grpc-echo.conf" --datapath socket --workers 1 --cpus 0 \
            --http "$port" --drain-ms 1000 >>"$log" 2>&1 &
        ;;
    sluice-grpc-xdp)
        in_srv "$AGENT" load --dev "$DEV" >>"$log" 2>&1 || return 1
        XDP_LOADED=1
        in_srv "$AGENT" service add --dev "$DEV" --addr $SRV4 --port "$port" >>"$log" 2>&1 || return 1
        "${SRV[@]}" taskset -c 0 "$GRPC_ECHO" --config "$OUT/grpc-echo.conf" --dev "$DEV" --workers 1 --cpus 0 \
            --http "$port" --drain-ms 1000 --poll-spin-us 0 >>"$log" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    for i in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        tac "$log" | sed '/^---- start/q' | grep -q ': ready' && return 0 # this start's lines only
        sleep 0.1
    done
    note "$name did not come up: $(tail -n 3 "$log" | tr '\n' '|')"
    return 1
}

stop_server() {
    [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
    SERVER_PID=""
    if [ $XDP_LOADED = 1 ]; then
        in_srv "$AGENT" unload --dev "$DEV" >/dev/null 2>&1 || in_srv "$AGENT" unload --dev "$DEV" --force >/dev/null 2>&1
        XDP_LOADED=0
    fi
}

# check_grpc: the running server answers the case's call with grpc-status 0 and the payload back
# (tools/bench/grpc_check.py); prints why not, empty when it does
check_grpc() {
    local out=$WORK/check.out
    local ok=0
    in_cli timeout 30 env -u http_proxy -u https_proxy -u grpc_proxy "$PYTHON" "$ROOT/tools/bench/grpc_check.py" \
        "ipv4:$SRV4:$(port_of "$SERVER_NAME")" "$BODY" >"$out" 2>&1 && ok=1
    cat "$out" >>"$LOGS/$SERVER_NAME.log"
    # its own line says why; gRPC's C core may have logged more (in the server's log)
    [ $ok = 1 ] || echo "the gRPC check failed: $(grep '^grpc_check' "$out" | tail -n 1 || tail -n 1 "$out")"
}

# ---- measuring (as tools/bench/http.sh does: see its top) ---------------------------------------------
# snapshot: "time busy total cpu0_busy cpu0_total cpu1_busy cpu1_total server_ticks load_ticks
# irq_softirq" (busy: user, nice, system, irq, softirq; total adds idle, iowait and steal;
# server_ticks: the server's utime+stime, every thread of it; load_ticks: h2load's, -1 once it has
# ended; irq_softirq: of every CPU)
snapshot() {
    local t ticks lticks=-1
    t=$(date +%s.%N)
    ticks=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat" 2>/dev/null)
    if [ -n "$LOAD_PID" ]; then
        lticks=$(awk '{ sub(/^.*\) /, ""); print ($1 == "Z" ? -1 : $12 + $13) }' "/proc/$LOAD_PID/stat" 2>/dev/null)
    fi
    awk -v t="$t" -v ticks="${ticks:-0}" -v lticks="${lticks:--1}" '
        /^cpu[0-9]* / { b = $2 + $3 + $4 + $7 + $8; s[$1] = b; tot[$1] = b + $5 + $6 + $9; irq[$1] = $7 + $8 }
        END { printf "%s %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n", t, s["cpu"], tot["cpu"], s["cpu0"], tot["cpu0"], s["cpu1"], tot["cpu1"], ticks, lticks, irq["cpu"] }' /proc/stat
}

# h2load_check FILE [CALLS]: h2load's summary as "rps done" when every call was answered 2xx
# without error; with CALLS (a run of -n CALLS), also that all were made and that the responses'
# DATA was one EchoReply each (a run with a duration counts its warm-up's DATA too, and the partial
# DATA of calls cut by the deadline: no exact sum there). Otherwise prints why not to stderr and fails.
h2load_check() {
    local fig
    fig=$(awk '
        /^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) rps = $i; gsub(/,/, "", rps) }
        /^requests:/ { done = $6; ok = $8; err = $10 + $12 + $14 }
        /^status codes:/ { s2 = $3; bad = $5 + $7 + $9 }
        /^traffic:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^data/) { d = $i; gsub(/[()]/, "", d) } }
        END { printf "%s %s %s %s %s %s %s\n", rps == "" ? -1 : rps, done == "" ? 0 : done, ok == "" ? 0 : ok, err == "" ? -1 : err, s2 == "" ? 0 : s2, bad == "" ? -1 : bad, d == "" ? -1 : d }' "$1")
    # shellcheck disable=SC2086
    set -- $fig "${2:-}"
    # (with a duration, the 2xx count may be a few short of the calls done: a response whose
    # HEADERS came during the warm-up is counted done after it, its status not)
    if [ "$2" = 0 ] || [ "$4" != 0 ] || [ "$6" != 0 ] || [ "$3" != "$2" ]; then
        echo "h2load: $2 calls done, $3 succeeded, $5 answered 2xx, $6 answered 3xx-5xx, $4 failed, errored or timed out" >&2
        return 1
    fi
    if [ -n "$8" ] && { [ "$2" != "$8" ] || [ "$5" != "$8" ]; }; then
        echo "h2load: $2 calls done of $8, $5 answered 2xx" >&2
        return 1
    fi
    if [ -n "$8" ] && [ "$7" != $(($8 * REPLY_BYTES)) ]; then
        echo "h2load: $7 B of DATA for $8 calls, not $REPLY_BYTES B each (one EchoReply): some calls did not return the payload" >&2
        return 1
    fi
    echo "$1 $2"
}

H2LOAD_ARGS=(-c "$CONNS" -m "$STREAMS" -d "$BODY" -H 'content-type: application/grpc' -H 'te: trailers')

# tp_run ROUND URL TRY: one throughput run of the running server, its JSON line on stdout; fails
# (after saying why) when it shows an error
tp_run() {
    local round=$1 url=$2 try=$3 out=$WORK/h2load.out s0 s1 fig t0
    t0=$(date +%s%N)
    "${CLI[@]}" taskset -c 1 h2load "${H2LOAD_ARGS[@]}" -D "${TP_MS}ms" --warm-up-time "${TP_WARM_MS}ms" "$url" >"$out" 2>&1 &
    LOAD_PID=$!
    # deadlines from the start: the window opens after the warm-up and closes before h2load does
    sleep_until $((t0 + (TP_WARM_MS + 150) * 1000000))
    s0=$(snapshot)
    sleep_until $((t0 + (TP_WARM_MS + TP_MS - 400) * 1000000))
    s1=$(snapshot)
    wait "$LOAD_PID"
    LOAD_PID=""
    cp "$out" "$LOGS/h2load-$SERVER_NAME-r$round-try$try.txt"
    fig=$(h2load_check "$out") || return 1
    awk -v server="$SERVER_NAME" -v round="$round" -v try="$try" -v fig="$fig" -v s0="$s0" -v s1="$s1" -v tick="$TICK" 'BEGIN {
        split(fig, f, " "); split(s0, a, " "); split(s1, b, " ")
        rps = f[1]; win = b[1] - a[1]
        srv = (b[8] - a[8]) / tick; busy = (b[2] - a[2]) / tick
        c0 = (b[5] > a[5]) ? (b[4] - a[4]) / (b[5] - a[5]) : 0
        c1 = (b[7] > a[7]) ? (b[6] - a[6]) / (b[7] - a[7]) : 0
        ncpu = (b[3] - a[3]) / tick / win
        printf "{\"server\":\"%s\",\"round\":%d,\"kind\":\"throughput\",\"attempt\":%d,\"rps\":%.2f,\"calls\":%d,\"errors\":0,\"window_s\":%.3f,", server, round, try, rps, f[2], win
        # h2load had ended before the window closed: the window holds idle time, no CPU figures
        if (a[9] < 0 || b[9] < 0) { printf "\"window_late\":true}\n"; exit }
        nreq = rps * win
        # others: the busy time that was neither the server nor h2load nor the irq and softirq of
        # the traffic between them, as a share of the machine (as in http.sh)
        other = (busy - srv - (b[9] - a[9]) / tick - (b[10] - a[10]) / tick) / (ncpu * win)
        if (other < 0) other = 0
        printf "\"server_cpu_us_per_call\":%.3f,\"machine_cpu_us_per_call\":%.3f,\"calls_per_s_per_server_core\":%.0f,", srv / nreq * 1e6, busy / nreq * 1e6, (srv > 0 ? nreq / srv : 0)
        printf "\"cpu0_busy\":%.3f,\"cpu1_busy\":%.3f,\"other_busy\":%.3f}\n", c0, c1, other
    }'
}

# measure ROUND: a check run (CHECK_CALLS calls, every reply's size checked), a throughput run, then
# a latency run, of the running server; a JSON line each for the last two in RAW; fails (after
# saying why) when a run shows an error
measure() {
    local round=$1 out=$WORK/h2load.out log=$WORK/h2load.log url fig try other best best_other
    url=http://$SRV4:$(port_of "$SERVER_NAME")$METHOD_PATH
    "${CLI[@]}" taskset -c 1 h2load "${H2LOAD_ARGS[@]}" -n $CHECK_CALLS "$url" >"$out" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID"
    LOAD_PID=""
    cp "$out" "$LOGS/h2load-check-$SERVER_NAME-r$round.txt"
    h2load_check "$out" $CHECK_CALLS >/dev/null || return 1
    # a run during which other processes took more than QUIET of the machine is made again (TRIES
    # runs at most), and the quietest one kept, as http.sh does
    best="" best_other=2
    for try in $(seq "$TRIES"); do
        # not in a subshell: LOAD_PID is the cleanup's to stop
        tp_run "$round" "$url" "$try" >"$WORK/tp.json" || return 1
        other=$(jq -r '.other_busy // 1' "$WORK/tp.json")
        if awk -v o="$other" -v b="$best_other" 'BEGIN { exit !(o < b) }'; then
            best=$(cat "$WORK/tp.json") best_other=$other
        fi
        awk -v o="$other" -v q="$QUIET" 'BEGIN { exit !(o <= q) }' && break
        [ "$try" -lt "$TRIES" ] && note "$SERVER_NAME round $round: other processes took $other of the machine: again"
    done
    echo "$best" >>"$RAW"

    rm -f "$log"
    "${CLI[@]}" taskset -c 1 h2load "${H2LOAD_ARGS[@]}" -D "${LAT_MS}ms" --warm-up-time "${LAT_WARM_MS}ms" \
        --log-file="$log" "$url" >"$out" 2>&1 &
    LOAD_PID=$!
    wait "$LOAD_PID"
    LOAD_PID=""
    cp "$out" "$LOGS/h2load-lat-$SERVER_NAME-r$round.txt"
    fig=$(h2load_check "$out") || return 1
    # log lines: start time (µs since the epoch), status, duration (µs)
    awk '{ print $3 }' "$log" | sort -n | awk -v server="$SERVER_NAME" -v round="$round" -v fig="$fig" '
        { d[NR] = $1 }
        function pct(p,    i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return d[i] }
        END {
            split(fig, f, " ")
            printf "{\"server\":\"%s\",\"round\":%d,\"kind\":\"latency\",\"logged\":%d,\"rps_with_log\":%s,\"errors\":0", server, round, NR, f[1]
            if (NR > 0) printf ",\"p50_us\":%d,\"p99_us\":%d,\"p999_us\":%d", pct(0.5), pct(0.99), pct(0.999)
            printf "}\n"
        }' >>"$RAW"
}

# ---- the run -------------------------------------------------------------------------------------------
START=$(date +%s)
n_run=0
for s in "${SERVERS[@]}"; do [ -z "${NA[$s]:-}" ] && n_run=$((n_run + 1)); done
note "gRPC unary echo, $PAYLOAD B payload, $CONNS connections x $STREAMS streams: ${SERVERS[*]}; $ROUNDS round(s);" \
    "h2load ${TP_MS} ms (+${TP_WARM_MS} ms warm-up) per throughput run, ${LAT_MS} ms (+${LAT_WARM_MS} ms) per latency run;" \
    "expected run time ~$((ROUNDS * n_run * (TP_MS + TP_WARM_MS + LAT_MS + LAT_WARM_MS + 4000) / 1000 + 5)) s"
topo_down $TOPO
topo_up $TOPO || die "the topology did not come up"
for round in $(seq "$ROUNDS"); do
    for i in "${!SERVERS[@]}"; do
        s=${SERVERS[$(((i + round - 1) % ${#SERVERS[@]}))]}
        [ -n "${NA[$s]:-}" ] && continue
        if ! start_server "$s"; then
            stop_server
            FAILED+=("$s: did not start (see grpc-logs/$s.log)")
            NA[$s]="FAILED: did not start (see grpc-logs/$s.log)"
            continue
        fi
        r=$(check_grpc)
        if [ -n "$r" ]; then
            stop_server
            note "$s: $r"
            FAILED+=("$s: $r")
            NA[$s]="FAILED: $r"
            continue
        fi
        if ! measure "$round" 2>"$WORK/measure.err"; then
            stop_server
            r=$(tr '\n' ' ' <"$WORK/measure.err")
            note "$s round $round: $r (see grpc-logs/)"
            FAILED+=("$s round $round: $r")
            NA[$s]="FAILED: $r"
            continue
        fi
        stop_server
        note "round $round/$ROUNDS: $s done ($(($(date +%s) - START)) s)"
    done
done
ELAPSED=$(($(date +%s) - START))

# ---- figures --------------------------------------------------------------------------------------------
jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" --argjson cpus "$(nproc)" \
    --arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" --argjson rounds "$ROUNDS" \
    --argjson quick "$QUICK" --argjson elapsed "$ELAPSED" --argjson conns "$CONNS" --argjson streams "$STREAMS" \
    --argjson payload "$PAYLOAD" --arg h2load "$(h2load --version 2>/dev/null | head -1)" --arg go "$(go version)" \
    --arg grpc_go "$(dpkg-query -W -f='${Version}' golang-google-grpc-dev 2>/dev/null)" --arg grpc_echo "$GRPC_ECHO" \
    --argjson na "$(for s in "${!NA[@]}"; do jq -cn --arg s "$s" --arg r "${NA[$s]}" '{($s): $r}'; done | jq -s 'add // {}')" \
    '{date: $date, kernel: $kernel, cpu: $cpu, cpus: $cpus, rounds: $rounds, quick: ($quick == 1), elapsed_s: $elapsed,
      case: {method: "/sluice.echo.Echo/Unary", payload_bytes: $payload, connections: $conns, streams: $streams},
      h2load: $h2load, go: $go, grpc_go: $grpc_go, grpc_echo: $grpc_echo, not_measured: $na, runs: .}' "$RAW" >"$OUT/grpc.json"

# summary SERVER KIND FIELD: "median (min–max)" over the rounds, "–" when none
summary() {
    jq -r --arg s "$1" --arg k "$2" --arg f "$3" '[.runs[] | select(.server == $s and .kind == $k) | .[$f] | select(. != null)
        | if . >= 100 then round else . * 100 | round / 100 end] | sort
        | if length == 0 then "–" else (.[(length - 1) / 2 | floor]) as $m
          | if .[0] == .[-1] then "\($m)" else "\($m) (\(.[0])–\(.[-1]))" end end' "$OUT/grpc.json"
}
# ratio SERVER KIND FIELD: the server's figure over gRPC-Go's in the same round, "median (min–max)"
# over the rounds; "–" without a round of both
ratio() {
    jq -r --arg s "$1" --arg k "$2" --arg f "$3" '
        [.runs[] | select(.kind == $k and .[$f] != null)] as $r
        | [$r[] | select(.server == $s) as $x | $r[] | select(.server == "grpc-go" and .round == $x.round and .[$f] > 0)
           | $x[$f] / .[$f] | . * 100 | round / 100] | sort
        | if length == 0 then "–" else (.[(length - 1) / 2 | floor]) as $m
          | if .[0] == .[-1] then "\($m)" else "\($m) (\(.[0])–\(.[-1]))" end end' "$OUT/grpc.json"
}
median_of() { # median_of "median (min–max)": the median
    echo "${1%% *}"
}

{
    echo "gRPC unary echo (/sluice.echo.Echo/Unary, $PAYLOAD B payload back), $CONNS connections x $STREAMS streams, cleartext"
    echo "HTTP/2; each server on CPU 0, h2load on CPU 1, over a veth between two namespaces; $ROUNDS round(s), median"
    echo "(min–max). Calls/s per server core: 1 s over the server's CPU per call. \"x gRPC-Go\": per round, then the"
    echo "median. A server with figures passed, after each start and before its runs, grpc_check.py (grpc-status 0, the"
    echo "payload back) and an h2load run of $CHECK_CALLS calls whose DATA was one EchoReply ($REPLY_BYTES B) each, and each of its runs"
    echo "answered every call 2xx without error."
    echo
    echo "| server | calls/s | calls/s per server core | x gRPC-Go | p50 / p99 / p99.9 µs | p99 x gRPC-Go | server CPU µs/call | machine CPU µs/call | CPU0 / CPU1 busy | others | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for s in "${SERVERS[@]}"; do
        if [ -n "${NA[$s]:-}" ]; then
            echo "| $s | n/a: ${NA[$s]} | | | | | | | | | |"
            continue
        fi
        p50=$(median_of "$(summary "$s" latency p50_us)") p99=$(median_of "$(summary "$s" latency p99_us)") p999=$(median_of "$(summary "$s" latency p999_us)")
        c0=$(median_of "$(summary "$s" throughput cpu0_busy)") c1=$(median_of "$(summary "$s" throughput cpu1_busy)")
        busy=$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a == "–") print "–"; else printf "%.0f%% / %.0f%%", a * 100, b * 100 }')
        other=$(awk -v o="$(median_of "$(summary "$s" throughput other_busy)")" 'BEGIN { if (o == "–") print "–"; else printf "%.0f%%", o * 100 }')
        if [ "$s" = grpc-go ]; then core_x=1 p99_x=1; else core_x=$(ratio "$s" throughput calls_per_s_per_server_core) p99_x=$(ratio "$s" latency p99_us); fi
        echo "| $s | $(summary "$s" throughput rps) | $(summary "$s" throughput calls_per_s_per_server_core) | $core_x | $p50 / $p99 / $p999 | $p99_x | $(summary "$s" throughput server_cpu_us_per_call) | $(summary "$s" throughput machine_cpu_us_per_call) | $busy | $other | 0 |"
    done
    echo
    for s in sluice-grpc-socket sluice-grpc-xdp; do
        [ -n "${NA[$s]:-}" ] || [ -n "${NA[grpc-go]:-}" ] && continue
        core_x=$(median_of "$(ratio "$s" throughput calls_per_s_per_server_core)") p99_x=$(median_of "$(ratio "$s" latency p99_us)")
        awk -v s="$s" -v c="$core_x" -v p="$p99_x" 'BEGIN {
            printf "%s: %sx gRPC-Go'"'"'s calls/s per server core (goal: at least 3x, %s), %sx its p99 (goal: at most 0.3x, %s)\n",
                s, c, (c != "–" && c >= 3) ? "met" : "not met", p, (p != "–" && p <= 0.3) ? "met" : "not met" }'
    done
} >"$WORK/grpc.md"

if [ ${#FAILED[@]} -gt 0 ]; then
    cat "$WORK/grpc.md" >&2
    cp "$WORK/grpc.md" "$OUT/grpc-failed.md"
    for f in "${FAILED[@]}"; do echo "grpc.sh: error: $f" >&2; done
    echo "grpc.sh: error: the gRPC case failed (table above: $OUT/grpc-failed.md; logs: $LOGS); no grpc.md written" >&2
    exit 1
fi
cp "$WORK/grpc.md" "$OUT/grpc.md"
cat "$OUT/grpc.md"
note "done in $ELAPSED s; $OUT/grpc.md, $OUT/grpc.json"
