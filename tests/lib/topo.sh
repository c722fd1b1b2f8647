# shellcheck shell=bash
# topo.sh — the namespace helpers of every suite, bench script and demo that runs in a topology of
# tools/topology.sh (a server and a client namespace joined by a veth pair). Sourced, by bash.
#
# Set TOPO (the topology's NAME: namespaces TOPO-srv and TOPO-cli, veth TOPO-s on the server's side
# and TOPO-c on the client's) and, for `agent` and topo_down's unload, AGENT (sluice-agent's path),
# then:
#   topo_up [NAME]        (re)create the topology (tools/topology.sh up; NAME defaults to $TOPO)
#   topo_down [NAME]      the common reset, for every exit path (trap) and before topo_up: the
#                         agent's `unload --force` on NAME-s, any XDP program still attached there,
#                         its pins under /sys/fs/bpf/sluice/NAME-s (and that folder's parent once
#                         empty), then the namespaces and veth. Never fails; fine when nothing is up.
#   in_srv CMD...         CMD in the server namespace
#   in_cli CMD...         CMD in the client namespace, under `timeout $TOPO_CLI_TIMEOUT` when that
#                         is set (seconds), so that a hung client cannot hang the suite
#   srv, cli              short names for in_srv, in_cli
#   agent ARGS...         sluice-agent ARGS in the server namespace
#   topo_server_ready PID LOG   wait up to 10 s for the server PID to print "ready" to LOG; fails
#                         when it did not (it exited, or is still not ready)
#   topo_start_server LABEL WORKERS ARGS...   for suites (tests/lib/tap.sh): $SERVER --workers
#                         WORKERS ARGS in the server namespace, its output in $WORK/server-LABEL.log,
#                         its PID in SERVER_PID, with a small ASan quarantine (the resident set then
#                         says what the server keeps); an ok line once it is ready, not ok if not
#   topo_stop_server LABEL WANT   SIGTERM, SIGKILL 20 s later; ok when it exited 0 and its log
#                         matches WANT (e.g. "every frame returned")
# The suite's own clean-up (its servers, by PID; its scratch files) stays in the suite, around
# topo_down. A command started in the background, to be stopped by PID later, is started with
# `nsenter --net=/run/netns/$TOPO-srv -- CMD &` itself: `in_srv CMD &` would make $! a subshell.
# Namespaces are entered with nsenter --net, not `ip netns exec` (tools/topology.sh says why).

TOPO_TOOL=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tools/topology.sh

in_srv() { nsenter --net="/run/netns/$TOPO-srv" -- "$@"; }
in_cli() {
    if [ -n "${TOPO_CLI_TIMEOUT:-}" ]; then
        timeout "$TOPO_CLI_TIMEOUT" nsenter --net="/run/netns/$TOPO-cli" -- "$@"
    else
        nsenter --net="/run/netns/$TOPO-cli" -- "$@"
    fi
}
srv() { in_srv "$@"; }
cli() { in_cli "$@"; }
agent() { in_srv "$AGENT" "$@"; }

topo_up() { "$TOPO_TOOL" up "${1:-$TOPO}"; }

topo_down() {
    local name=${1:-$TOPO}
    local ns=/run/netns/$name-srv dev=$name-s
    # each step may fail (nothing to undo) and must not stop a caller running under set -e
    if [ -e "$ns" ]; then
        if [ -n "${AGENT:-}" ]; then
            nsenter --net="$ns" -- "$AGENT" unload --dev "$dev" --force >/dev/null 2>&1 || true
        fi
        nsenter --net="$ns" -- bpftool net detach xdp dev "$dev" >/dev/null 2>&1 || true
    fi
    rm -rf "/sys/fs/bpf/sluice/$dev" || true
    rmdir /sys/fs/bpf/sluice 2>/dev/null || true
    "$TOPO_TOOL" down "$name" || true
}

topo_start_server() {
    local label=$1 workers=$2 log=$WORK/server-$1.log
    shift 2
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4 \
        nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --workers "$workers" --drain-ms 2000 "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    if topo_server_ready "$SERVER_PID" "$log"; then ok "$label: server started"; else not_ok "$label: server started" "$(head -3 "$log" | tr '\n' '|')"; fi
}

topo_stop_server() {
    local label=$1 want=$2 log=$WORK/server-$1.log
    stop_pid "$SERVER_PID" 20
    SERVER_PID=""
    if [ "$STOP_STATUS" = 0 ] && grep -q "$want" "$log"; then
        ok "$label: server stopped cleanly"
    else
        not_ok "$label: server stopped cleanly" "exit $STOP_STATUS: $(grep -i -E 'error|runtime|leak' "$log" | head -3 | tr '\n' '|')"
    fi
}

topo_server_ready() {
    for _ in $(seq 100); do
        grep -q "ready" "$2" && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "ready" "$2"
}
