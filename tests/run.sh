#!/usr/bin/env bash
# run.sh — runs every test suite and prints the one summary line CI reads.
#
#   tests/run.sh BUILD_DIR
#
# Each suite prints "ok - …", "not ok - …" or "skip - …" lines (tests/lib/check.h, tests/lib/tap.sh);
# this counts them over all suites and ends with "N passed, N failed, N skipped". A suite that
# exits non-zero without reporting a failure, or runs past its time limit, counts as one failure.
# Exit status: 0 when nothing failed.
set -u

BUILD=${1:-build/san}
cd "$(dirname "$0")/.." || exit 1

# name, time limit in seconds, command
SUITES=(
    "layering|60|tests/layering/layering_test.sh"
    "net|600|$BUILD/tests/tcp_test"
    "fuzz-tcp|300|tests/fuzz/run_fuzz.sh $BUILD 60 tcp"
    "fuzz-h2|300|tests/fuzz/run_fuzz.sh $BUILD 60 h2"
    "net-kernel|600|tests/net/tap_test.sh $BUILD"
    "net-script|600|$BUILD/tests/tcp_script_test"
    "bpf|300|$BUILD/tests/steer_test"
    "agent|600|tests/agent/agent_test.sh $BUILD"
    "router|120|$BUILD/tests/router_test"
    "routegen|120|tests/router/routegen_test.sh $BUILD"
    "afxdp|900|tests/afxdp/datapath_test.sh $BUILD"
    "config|120|tests/server/config_test.sh $BUILD"
    "http|900|tests/http/http_test.sh $BUILD"
    "steer|600|tests/steer/steer_test.sh $BUILD"
)

passed=0 failed=0 skipped=0
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

if [ "$(id -u)" -ne 0 ]; then
    echo "run.sh: note: not root; the BPF and namespace suites will fail (they need CAP_BPF and CAP_NET_ADMIN)"
fi

for suite in "${SUITES[@]}"; do
    IFS='|' read -r name limit cmd <<<"$suite"
    echo "# suite $name: $cmd"
    start=$(date +%s)
    # shellcheck disable=SC2086
    timeout --kill-after=10 "$limit" $cmd 2>&1 | tee "$LOG" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $name: /"
    status=${PIPESTATUS[0]}
    p=$(grep -c '^ok - ' "$LOG")
    f=$(grep -c '^not ok - ' "$LOG")
    s=$(grep -c '^skip - ' "$LOG")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
            echo "not ok - $name: suite ran past its ${limit}s limit"
        else
            echo "not ok - $name: suite exited with status $status without reporting a failure"
        fi
        f=1
    fi
    echo "# suite $name: $p passed, $f failed, $s skipped in $(($(date +%s) - start))s"
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
