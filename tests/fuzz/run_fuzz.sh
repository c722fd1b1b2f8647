#!/bin/sh
# run_fuzz.sh — a bounded run of one libFuzzer target, for tests/run.sh: TARGET tcp (the TCP engine,
# tests/fuzz/tcp_fuzz.c, the default) or h2 (the HTTP/2 and HTTP/1.1 input path, tests/fuzz/h2_fuzz.c).
# The committed corpus (tests/fuzz/corpus/TARGET/) first (regression seeds), then SECONDS of new
# inputs, with tests/fuzz/TARGET.dict. Works on a copy of the corpus in a temporary directory, so the
# repository is never modified. Prints one line:
#   ok - TARGET_fuzz: N runs in S s, no crash
#   not ok - TARGET_fuzz: <crash|leak|timeout|oom> in <kept reproducer path>
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET]
set -u

BUILD=${1:-build/san}
SECONDS_TO_RUN=${2:-60}
TARGET=${3:-tcp}
cd "$(dirname "$0")/../.." || exit 1
NAME=${TARGET}_fuzz
BIN=$BUILD/fuzz/$NAME
case $TARGET in
tcp | h2) ;;
*)
    echo "not ok - fuzz: unknown target $TARGET (tcp or h2)"
    exit 1
    ;;
esac

if [ ! -x "$BIN" ]; then
    echo "not ok - $NAME: $BIN is not built (make all builds it)"
    exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX")
mkdir "$WORK/corpus"
cp "tests/fuzz/corpus/$TARGET"/* "$WORK/corpus/"

start=$(date +%s)
"$BIN" -max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="tests/fuzz/$TARGET.dict" -artifact_prefix="$WORK/" "$WORK/corpus" >"$WORK/log" 2>&1
status=$?
elapsed=$(($(date +%s) - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/log" | tail -n 1)

if [ "$status" -eq 0 ]; then
    echo "ok - $NAME: ${runs:-?} runs in $elapsed s, no crash"
    rm -rf "$WORK"
    exit 0
fi
# keep the reproducer and the log; drop the corpus copy
artifact=$(ls "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-* "$WORK"/slow-unit-* 2>/dev/null | head -n 1)
rm -rf "$WORK/corpus"
# the diagnosis and the stack frames in sluice's own files, as comment lines
grep -E 'invariant broken|ERROR: |SUMMARY: |^    #[0-9]+ .*(/server/|/tests/)' "$WORK/log" | head -n 20 | sed 's/^/# /'
if [ -n "$artifact" ]; then
    # artifacts are named by the SHA-1 of their bytes: a committed seed (regress_*) is found by it
    hash=$(basename "$artifact" | cut -d- -f2)
    seed=$(cd "tests/fuzz/corpus/$TARGET" && sha1sum -- * | awk -v h="$hash" '$1 == h { print $2; exit }')
    echo "not ok - $NAME: $(basename "$artifact" | cut -d- -f1) in $artifact${seed:+ (corpus seed $seed)} (log $WORK/log)"
else
    echo "not ok - $NAME: exit status $status without a reproducer (log $WORK/log)"
fi
exit 1
