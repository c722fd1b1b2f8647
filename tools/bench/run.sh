#!/bin/sh
# run.sh — the benchmark harness (`make bench`). Micro-benchmarks that need no topology run here;
# the datapath and HTTP/2 cases join as the server grows. Results go to results/<date>/ and stdout.
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
} | tee "$OUT/results.md"
echo
echo "results: $OUT/results.md"
