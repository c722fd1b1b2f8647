#!/bin/sh
# run.sh — the benchmark harness (`make bench`, `make bench QUICK=1`, `make bench-h2`, `make bench-tls`,
# `make bench-mtu`, `make bench-grpc`): micro-benchmarks (XDP program, TCP engine, router, HTTP/1.1
# head parser, HPACK, HTTP/2 layer in memory), the datapath comparison with its MTU sweep
# (tools/bench/datapath.sh: the copy-mode floor), HTTP/2 servers side by side over cleartext and TLS
# and their connection rate over HTTP/1.1 (tools/bench/http.sh), gRPC unary echo, sluice's
# grpc-echo against gRPC-Go (tools/bench/grpc.sh), and the isolation stream-prefix steering buys
# (tools/bench/isolation.sh), each in a topology of its own. Results go to results/<date>/
# (results.md; http.json, grpc.json and h2_bench.json with every figure; PNG plots) and stdout.
#
#   tools/bench/run.sh BUILD_DIR [--quick | --h2 | --tls | --mtu | --log | --grpc]
#
# The full run: http.sh's bulk cases (16k-16x8, 1m-4x1, echo64k-16x4) at link MTU 1500, 9000 and
# 65000, every other case at 1500 only (BENCH_MTU, BENCH_MTU_CASES; the MTUs interleaved within each
# round); datapath.sh's upload and download at MTU 1500, 4000, 9000, 16000, 32000 and 65000 (DP_MTUS).
# About 46 minutes, of which http.sh ~37 (its MTU 9000 and 65000 cases ~12), datapath.sh ~3 and
# grpc.sh ~2.
# --quick: shorter runs, one round of the comparisons, 2,000 idle connections instead of 10,000, the
# same MTUs; about 10 minutes. Figures from a quick run are for checking the harness, not for quoting.
# --h2: only our HTTP/2 session against nghttp2's: the HTTP/2 layer in memory (h2_bench), then
# http.sh's 13 B 16x32 case and idle connections after one request, for sluice over AF_XDP and
# over sockets with each session and for h2o, 5 rounds (BENCH_SERVERS, BENCH_CASES and
# BENCH_ROUNDS still override, see http.sh); about 5 minutes.
# --tls: only http.sh's TLS cases (full and resumed handshakes per second, 13 B at 16x32 and 1 MiB
# at 4x1 over TLS 1.3) for sluice over AF_XDP and over sockets (native session), h2o and nginx,
# 3 rounds (BENCH_SERVERS, BENCH_CASES and BENCH_ROUNDS still override); about 4 minutes.
# --mtu: only http.sh's bulk cases (16 KiB at 16x8, 1 MiB at 4x1, the 64 KiB POST echo at 16x4) at
# link MTU 1500, 9000 and 65000, for sluice over AF_XDP and over sockets (native session) and h2o,
# 3 rounds, the MTUs and servers interleaved (BENCH_SERVERS, BENCH_CASES, BENCH_MTU and BENCH_ROUNDS
# still override); about 8 minutes. The copy-mode floor it compares with is datapath.sh's MTU sweep
# (part of the full run; alone: tools/bench/datapath.sh BUILD_DIR OUT_DIR).
# --log: only what the access log costs: a worker's record and the logger's formatting in memory, and
# the logger thread whole writing to a file in OUT_DIR (access_log_bench), the HTTP/2 layer with the
# log on and off (h2_bench), then http.sh's 13 B cases for sluice over AF_XDP with the log off
# (sluice-xdp-native) and on (sluice-xdp-log), 5 rounds (BENCH_SERVERS, BENCH_CASES and BENCH_ROUNDS
# still override); about 4 minutes.
# --grpc: only grpc.sh, gRPC unary echo with a 1 KiB payload at 16 connections x 32 streams, sluice's
# examples/grpc-echo over sockets and over AF_XDP against a gRPC-Go server built from Debian's
# packages, 3 rounds (BENCH_ROUNDS overrides; GRPC_ECHO names the grpc-echo binary, default
# BUILD_DIR/examples/grpc-echo/grpc-echo: without it gRPC-Go is measured alone); about 2 minutes.
set -eu

BUILD=${1:-build}
MODE=full
case "${2:-}" in
"") ;;
--quick) MODE=quick ;;
--h2) MODE=h2 ;;
--tls) MODE=tls ;;
--mtu) MODE=mtu ;;
--log) MODE=log ;;
--grpc) MODE=grpc ;;
*) echo "usage: run.sh BUILD_DIR [--quick | --h2 | --tls | --mtu | --log | --grpc]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."
OUT=results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

# the bulk cases, and the MTUs they run at (the full run and --mtu)
BULK_CASES="16k-16x8 1m-4x1 echo64k-16x4"
BULK_MTUS="1500 9000 65000"
case $MODE in
quick)
    XDP_RUNS=200000 TCP_MIB=256 ROUTER_S=0.2 H1_HEADS=100000 HPACK_BLOCKS=20000 H2_REQS=50000 LOG_LINES=200000 DP_ROUNDS=1 DP_MIB=128 DP_RR_S=2 ISO_ROUNDS=1 ISO_S=4
    EXPECT="about 10 minutes"
    ;;
h2)
    H2_REQS=200000
    EXPECT="about 5 minutes"
    ;;
tls)
    EXPECT="about 4 minutes"
    ;;
mtu)
    EXPECT="about 8 minutes"
    ;;
log)
    H2_REQS=200000 LOG_LINES=2000000
    EXPECT="about 4 minutes"
    ;;
grpc)
    EXPECT="about 2 minutes"
    ;;
*)
    XDP_RUNS=1000000 TCP_MIB=1024 ROUTER_S=1 H1_HEADS=500000 HPACK_BLOCKS=200000 H2_REQS=200000 LOG_LINES=2000000 DP_ROUNDS=3 DP_MIB=512 DP_RR_S=5 ISO_ROUNDS=3 ISO_S=8
    EXPECT="about 46 minutes"
    ;;
esac
START=$(date +%s)
echo "run.sh: $MODE mode, expected total run time $EXPECT; results in $OUT" >&2

h2_layer() {
    echo "## HTTP/2 layer in memory: an nghttp2 client session against our session, our nghttp2 glue and nghttp2 alone (pinned to CPU 1)"
    echo
    taskset -c 1 "$BUILD/tools/h2_bench" "$H2_REQS" "$OUT/h2_bench.json"
}

access_log_layer() {
    echo "## Access log: the logger thread's formatting per line, a worker's record in its ring, the logger whole writing to a file (pinned to CPU 1)"
    echo
    taskset -c 1 "$BUILD/tools/access_log_bench" "$LOG_LINES" "$OUT"
}

if [ $MODE = h2 ]; then
    {
        echo "# sluice HTTP/2 sessions, native against nghttp2, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
        echo
        h2_layer
        echo
        echo "## HTTP/2 servers: sluice (native and nghttp2 sessions) over AF_XDP and over kernel sockets, h2o"
        echo
        BENCH_SERVERS=${BENCH_SERVERS:-sluice-xdp sluice-xdp-native sluice-socket sluice-socket-native h2o} \
            BENCH_CASES=${BENCH_CASES:-small-16x32 idle1} BENCH_ROUNDS=${BENCH_ROUNDS:-5} \
            tools/bench/http.sh "$BUILD" "$OUT"
    } | tee "$OUT/results.md"
    NEEDED="h2_bench.json http.json"
elif [ $MODE = tls ]; then
    {
        echo "# sluice over TLS against h2o and nginx, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), $(openssl version)"
        echo
        echo "## HTTPS servers: sluice (native session) over AF_XDP and over kernel sockets, h2o, nginx; TLS 1.3, X25519, ECDSA P-256"
        echo
        BENCH_SERVERS=${BENCH_SERVERS:-sluice-xdp-native sluice-socket-native h2o nginx} \
            BENCH_CASES=${BENCH_CASES:-tls-hs-full tls-hs-resumed tls-small-16x32 tls-1m-4x1} BENCH_ROUNDS=${BENCH_ROUNDS:-3} \
            tools/bench/http.sh "$BUILD" "$OUT"
    } | tee "$OUT/results.md"
    NEEDED="http.json"
elif [ $MODE = mtu ]; then
    {
        echo "# sluice's bulk transfers at link MTU 1500, 9000 and 65000, against h2o, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
        echo
        echo "## HTTP/2 bulk: sluice (native session) over AF_XDP (multi-buffer above ~3.8 KB) and over kernel sockets, h2o; every server on the same link"
        echo
        BENCH_SERVERS=${BENCH_SERVERS:-sluice-xdp-native sluice-socket-native h2o} \
            BENCH_CASES=${BENCH_CASES:-$BULK_CASES} BENCH_MTU=${BENCH_MTU:-$BULK_MTUS} BENCH_ROUNDS=${BENCH_ROUNDS:-3} \
            tools/bench/http.sh "$BUILD" "$OUT"
    } | tee "$OUT/results.md"
    NEEDED="http.json"
elif [ $MODE = log ]; then
    {
        echo "# What sluice's access log costs, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
        echo
        access_log_layer
        echo
        h2_layer
        echo
        echo "## HTTP/2 server: sluice over AF_XDP (native session) with the access log off and on"
        echo
        BENCH_SERVERS=${BENCH_SERVERS:-sluice-xdp-native sluice-xdp-log} \
            BENCH_CASES=${BENCH_CASES:-small-16x32 small-4x1} BENCH_ROUNDS=${BENCH_ROUNDS:-5} \
            tools/bench/http.sh "$BUILD" "$OUT"
    } | tee "$OUT/results.md"
    NEEDED="h2_bench.json http.json"
elif [ $MODE = grpc ]; then
    {
        echo "# sluice's grpc-echo against gRPC-Go, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
        echo
        echo "## gRPC unary echo: sluice's grpc-echo over AF_XDP and over kernel sockets, gRPC-Go"
        echo
        tools/bench/grpc.sh "$BUILD" "$OUT"
    } | tee "$OUT/results.md"
    NEEDED="grpc.md"
else
    QUICK=""
    [ $MODE = quick ] && QUICK=--quick
    {
        echo "# sluice benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)${QUICK:+ (quick mode: short runs, one round)}"
        echo
        echo "## XDP steering program, BPF_PROG_TEST_RUN mean over $XDP_RUNS runs"
        echo
        "$BUILD/tools/xdp_bench" "$XDP_RUNS"
        echo
        echo "## TCP engine, two engines back to back in memory on one core ($TCP_MIB MiB bulk, 64 B request/response)"
        echo
        "$BUILD/tools/tcp_bench" "$TCP_MIB"
        echo
        echo "## Compiled router (sluice-routegen), time per lookup by number of routes, best of 5 runs"
        echo
        "$BUILD/tools/router_bench" "$ROUTER_S"
        echo
        echo "## HTTP/1.1 request head parser: ours (server/http/h1_parse.c) against http-parser, in memory (pinned to CPU 1)"
        echo
        taskset -c 1 "$BUILD/tools/h1_parse_bench" "$H1_HEADS"
        echo
        echo "## HPACK: ours (server/h2/hpack.c) against nghttp2's inflater and deflater, in memory (pinned to CPU 1)"
        echo
        taskset -c 1 "$BUILD/tools/hpack_bench" "$HPACK_BLOCKS"
        echo
        h2_layer
        echo
        access_log_layer
        echo
        echo "## Datapath: sluice over AF_XDP against sluice over kernel sockets (server on CPU 0, client on CPU 1; $DP_MIB MiB bulk), and the MTU sweep: the copy-mode floor"
        echo
        tools/bench/datapath.sh "$BUILD" "$OUT" "$DP_ROUNDS" "$DP_MIB" "$DP_RR_S"
        echo
        echo "## HTTP/2 servers: sluice (nghttp2 and native sessions) over AF_XDP and over kernel sockets, h2o, nghttpd, nginx; cleartext and TLS; connection rate over HTTP/1.1; the bulk cases at MTU ${BENCH_MTU:-$BULK_MTUS}"
        echo
        BENCH_MTU=${BENCH_MTU:-$BULK_MTUS} BENCH_MTU_CASES=${BENCH_MTU_CASES:-$BULK_CASES} tools/bench/http.sh "$BUILD" "$OUT" $QUICK
        echo
        echo "## gRPC unary echo: sluice's grpc-echo over AF_XDP and over kernel sockets, gRPC-Go"
        echo
        # a failed gRPC case (a server failing its checks) leaves no grpc.md, reported at the end, and
        # does not stop the parts after it
        tools/bench/grpc.sh "$BUILD" "$OUT" $QUICK || true
        echo
        echo "## Stream-prefix steering: a light route's latency beside a loaded heavy route, steered apart or hashed"
        echo
        tools/bench/isolation.sh "$BUILD" "$OUT" "$ISO_ROUNDS" "$ISO_S"
    } | tee "$OUT/results.md"
    NEEDED="h2_bench.json datapath.md http.json grpc.md isolation.md"
fi
echo
# the pipeline's status is tee's: a part that failed shows as a missing output
for f in $NEEDED; do
    [ -s "$OUT/$f" ] || { echo "run.sh: error: $OUT/$f is missing: a benchmark failed (see above)" >&2; exit 1; }
done
if [ $MODE = grpc ]; then
    echo "run.sh: done in $(( $(date +%s) - START )) s; results: $OUT/results.md, $OUT/grpc.json"
else
    echo "run.sh: done in $(( $(date +%s) - START )) s; results: $OUT/results.md, $OUT/http.json$(case $MODE in tls | mtu) ;; *) echo ", $OUT/h2_bench.json" ;; esac), $OUT/http-*.png$([ $MODE = full ] || [ $MODE = quick ] && echo ", $OUT/grpc.json")"
fi
