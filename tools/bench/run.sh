#!/bin/sh
# run.sh — the benchmark harness (`make bench`): micro-benchmarks, then the datapath comparison
# (tools/bench/datapath.sh, in a topology of its own). Results go to results/<date>/ and stdout.
#
#   tools/bench/run.sh BUILD_DIR
set -eu

BUILD=${1:-build}
cd "$(dirname "$0")/../.."
OUT=results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"

{
    echo "# sluice micro-benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r)"
    echo
    echo "## XDP steering program, BPF_PROG_TEST_RUN mean over 1e6 runs"
    echo
    "$BUILD/tools/xdp_bench" 1000000
    echo
    echo "## TCP engine, two engines back to back in memory on one core (1 GiB bulk, 64 B request/response)"
    echo
    "$BUILD/tools/tcp_bench" 1024
    echo
    echo "## Compiled router (sluice-routegen), time per lookup by number of routes, best of 5 runs"
    echo
    "$BUILD/tools/router_bench" 1
    echo
    echo "## Datapath: sluice over AF_XDP against sluice over kernel sockets (server on CPU 0, client on CPU 1)"
    echo
    tools/bench/datapath.sh "$BUILD" "$OUT" 3
} | tee "$OUT/results.md"
echo
echo "results: $OUT/results.md"
