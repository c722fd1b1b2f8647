#!/bin/sh
# run_fuzz.sh — bounded runs of libFuzzer targets, for tests/run.sh: TARGET tcp (the TCP engine,
# tests/fuzz/tcp_fuzz.c, the default), h2 (the HTTP/2 and HTTP/1.1 input path, tests/fuzz/h2_fuzz.c),
# h2_diff (our HTTP/2 session against nghttp2's, tests/fuzz/h2_diff_fuzz.c), h1 (the HTTP/1.1
# framing, tests/fuzz/h1_fuzz.c), h1_diff (the same against http-parser, tests/fuzz/h1_diff_fuzz.c) or
# hpack (the HPACK decoder against nghttp2's, tests/fuzz/hpack_fuzz.c).
# For each TARGET in turn: the committed corpus (tests/fuzz/corpus/SEEDS/) first (regression seeds),
# then SECONDS of new inputs, with tests/fuzz/SEEDS.dict when there is one; SEEDS is TARGET, but h1 for
# h1_diff (one input format) and h2diff for h2_diff; TARGET:N runs that target N seconds instead of
# SECONDS. Works on a copy of the corpus in a temporary directory, so the repository is never
# modified. The mutations follow a fixed seed (FUZZ_SEED, default 1): a run in CI explores the inputs a
# run here explored first, so what it finds a run here can find too; searching for new bugs is a long run
# with FUZZ_SEED=0 (libFuzzer picks one). Prints one line per target:
#   ok - TARGET_fuzz: N runs in S s, no crash
#   not ok - TARGET_fuzz: <crash|leak|timeout|oom> in <kept reproducer path>
# and exits non-zero when one failed.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS [TARGET[:SECONDS]...]
set -u

BUILD=${1:-build/san}
SECONDS_TO_RUN=${2:-60}
if [ $# -ge 2 ]; then shift 2; else set --; fi
[ $# -eq 0 ] && set -- tcp
cd "$(dirname "$0")/../.." || exit 1

run_target() {
    TARGET=${1%%:*}
    SECS=$SECONDS_TO_RUN
    case $1 in *:*) SECS=${1#*:} ;; esac
    NAME=${TARGET}_fuzz
    BIN=$BUILD/fuzz/$NAME
    case $TARGET in
    tcp | h2 | h1 | hpack) SEEDS=$TARGET ;;
    h1_diff) SEEDS=h1 ;;
    h2_diff) SEEDS=h2diff ;;
    *)
        echo "not ok - fuzz: unknown target $TARGET (tcp, h2, h2_diff, h1, h1_diff or hpack)"
        return 1
        ;;
    esac

    if [ ! -x "$BIN" ]; then
        echo "not ok - $NAME: $BIN is not built (make all builds it)"
        return 1
    fi
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX")
    mkdir "$WORK/corpus"
    cp "tests/fuzz/corpus/$SEEDS"/* "$WORK/corpus/"

    DICT=
    [ -f "tests/fuzz/$SEEDS.dict" ] && DICT=-dict="tests/fuzz/$SEEDS.dict"

    start=$(date +%s)
    "$BIN" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECS" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
        ${DICT:+"$DICT"} -artifact_prefix="$WORK/" "$WORK/corpus" >"$WORK/log" 2>&1
    status=$?
    elapsed=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/log" | tail -n 1)

    if [ "$status" -eq 0 ]; then
        echo "ok - $NAME: ${runs:-?} runs in $elapsed s, no crash"
        rm -rf "$WORK"
        return 0
    fi
    # keep the reproducer and the log; drop the corpus copy
    artifact=$(ls "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$WORK"/oom-* "$WORK"/slow-unit-* 2>/dev/null | head -n 1)
    rm -rf "$WORK/corpus"
    # the diagnosis and the stack frames in sluice's own files, as comment lines
    grep -E 'invariant broken|ERROR: |SUMMARY: |^    #[0-9]+ .*(/server/|/tests/)' "$WORK/log" | head -n 20 | sed 's/^/# /'
    if [ -n "$artifact" ]; then
        # artifacts are named by the SHA-1 of their bytes: a committed seed (regress_*) is found by it
        hash=$(basename "$artifact" | cut -d- -f2)
        seed=$(cd "tests/fuzz/corpus/$SEEDS" && sha1sum -- * | awk -v h="$hash" '$1 == h { print $2; exit }')
        echo "not ok - $NAME: $(basename "$artifact" | cut -d- -f1) in $artifact${seed:+ (corpus seed $seed)} (log $WORK/log)"
    else
        echo "not ok - $NAME: exit status $status without a reproducer (log $WORK/log)"
    fi
    return 1
}

failed=0
for target in "$@"; do
    run_target "$target" || failed=1
done
exit $failed
