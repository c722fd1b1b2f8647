#!/bin/sh
# run_fuzz.sh — a bounded run of the TCP engine's libFuzzer target (tests/fuzz/tcp_fuzz.c), for
# tests/run.sh: the committed corpus first (regression seeds), then SECONDS of new inputs. Works on a
# copy of the corpus in a temporary directory, so the repository is never modified. Prints one line:
#   ok - tcp_fuzz: N runs in S s, no crash
#   not ok - tcp_fuzz: <crash|leak|timeout|oom> in <kept reproducer path>
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS
set -u

BUILD=${1:-build/san}
SECONDS_TO_RUN=${2:-60}
cd "$(dirname "$0")/../.." || exit 1
BIN=$BUILD/fuzz/tcp_fuzz

if [ ! -x "$BIN" ]; then
    echo "not ok - tcp_fuzz: $BIN is not built (make all builds it)"
    exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tcp_fuzz.XXXXXX")
mkdir "$WORK/corpus"
cp tests/fuzz/corpus/tcp/* "$WORK/corpus/"

start=$(date +%s)
"$BIN" -max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict=tests/fuzz/tcp.dict -artifact_prefix="$WORK/" "$WORK/corpus" >"$WORK/log" 2>&1
status=$?
elapsed=$(($(date +%s) - start))
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/log" | tail -n 1)

if [ "$status" -eq 0 ]; then
    echo "ok - tcp_fuzz: ${runs:-?} runs in $elapsed s, no crash"
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
    seed=$(cd tests/fuzz/corpus/tcp && sha1sum -- * | awk -v h="$hash" '$1 == h { print $2; exit }')
    echo "not ok - tcp_fuzz: $(basename "$artifact" | cut -d- -f1) in $artifact${seed:+ (corpus seed $seed)} (log $WORK/log)"
else
    echo "not ok - tcp_fuzz: exit status $status without a reproducer (log $WORK/log)"
fi
exit 1
