# tap.sh — shell side of the test harness: the same "ok / not ok / skip" lines as tests/lib/check.h.
#
# Source it, then:  expect NAME STATUS REGEX CMD...   runs CMD, checks its exit status and that its
# combined output matches REGEX (empty REGEX: any output). Output and status stay in $OUT, $STATUS.
# check NAME CONDITION-CMD...  passes when the command succeeds.  ok/not_ok/skip print directly.
# stop_pid PID SECONDS  stops a server the test started, by PID, with a bounded wait.

OUT=""
STATUS=0

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1: $2"; }
skip() { echo "skip - $1: $2"; }

first_lines() { printf '%s' "$1" | head -n 3 | tr '\n' '|'; }

expect() {
    local name=$1 want=$2 regex=$3
    shift 3
    OUT=$("$@" 2>&1)
    STATUS=$?
    if [ "$STATUS" != "$want" ]; then
        not_ok "$name" "exit status $STATUS, expected $want; output: $(first_lines "$OUT")"
    elif [ -n "$regex" ] && ! printf '%s\n' "$OUT" | grep -Eq -- "$regex"; then
        not_ok "$name" "output does not match /$regex/: $(first_lines "$OUT")"
    else
        ok "$name"
    fi
}

# stop_pid PID SECONDS: SIGTERM to a child of this shell, SIGKILL if it still runs SECONDS later;
# STOP_STATUS is its exit status, or "killed: still running SECONDS s after SIGTERM"
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    if timeout "$2" tail --pid="$1" -f /dev/null; then
        wait "$1"
        STOP_STATUS=$?
    else
        kill -KILL "$1" 2>/dev/null
        wait "$1"
        STOP_STATUS="killed: still running $2 s after SIGTERM"
    fi
}

check() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}
