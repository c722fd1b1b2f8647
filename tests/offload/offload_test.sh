#!/usr/bin/env bash
# offload_test.sh — the offload pool's suite: the deque and pool tests (tests/offload/) from the
# sanitizer build, then again from its ThreadSanitizer build (BUILD/tsan/, see the Makefile), whose
# lines are prefixed "tsan: ". A binary that exits non-zero without a "not ok" line (a sanitizer
# report: TSan exits 66 after reporting a race) counts as a failure.
#
#   tests/offload/offload_test.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build/san}
. tests/lib/tap.sh

status=0
run() {
    local prefix=$1 bin=$2 out rc
    if [ ! -x "$bin" ]; then
        not_ok "$prefix$(basename "$bin")" "no $bin (make BUILD=$BUILD tests builds it)"
        status=1
        return
    fi
    out=$("$bin" 2>&1)
    rc=$?
    printf '%s\n' "$out" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $prefix/"
    if [ "$rc" -ne 0 ]; then
        status=1
        if ! grep -q '^not ok - ' <<<"$out"; then
            not_ok "$prefix$(basename "$bin")" "exited with status $rc (a sanitizer report above?)"
        fi
    fi
}

for bin in deque_test offload_test; do
    run "" "$BUILD/tests/$bin"
done
for bin in deque_test offload_test; do
    TSAN_OPTIONS="second_deadlock_stack=1 ${TSAN_OPTIONS:-}" run "tsan: " "$BUILD/tsan/tests/$bin"
done
exit $status
