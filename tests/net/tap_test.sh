#!/usr/bin/env bash
# tap_test.sh — the TCP engine against Linux's own TCP, over a TAP device in a namespace of its own.
#
#   tests/net/tap_test.sh BUILD_DIR
#
# Creates the namespace "stap" with the TAP device "stap0": the kernel's side is 10.88.0.1/24 and
# fd00:88::1/64; the engine (tests/net/tap_server.c, attached to the TAP fd) answers for
# 10.88.0.2 and fd00:88::2, which the kernel reaches through static neighbour entries, since the
# engine answers neither ARP nor neighbour discovery. tests/net/kernel_client.c then drives it
# through ordinary sockets in the same namespace:
#   - 200 concurrent echo connections byte-exact, 32 MiB up and down with SHA-256 checked, over
#     IPv4 and IPv6;
#   - a port nobody listens on refused with a reset;
#   - clients resetting mid-transfer: the server counts exactly those resets and keeps serving;
#   - readers that stop: both sides' windows close and reopen without waiting for a timer;
#   - a second server that drops 1% of frames both ways: Linux's SACKs drive the engine's fast
#     recovery (fast retransmissions must outnumber RTO ones);
#   - at SIGTERM, each server's check that every frame is back in its pool or held by a connection.
#
# Checksum offload: a TAP device only offloads what its reader enables with TUNSETOFFLOAD, and
# tap_server never does, so the kernel hands us frames with complete checksums (ethtool shows
# "tx-checksumming: off") and no `ethtool -K` is needed; the engine's bad-checksum counters are
# checked to be zero. Cleans up (servers by PID, the namespace) on every exit path. Needs root.
set -u

BUILD=${1:?usage: tap_test.sh BUILD_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"

NS=stap
DEV=stap0
KERNEL_IP4=10.88.0.1
ENGINE_IP4=10.88.0.2
KERNEL_IP6=fd00:88::1
ENGINE_IP6=fd00:88::2
ENGINE_MAC=02:00:00:88:00:02
ECHO_PORT=7
SINK_PORT=9
SOURCE_PORT=19
UNUSED_PORT=4444
MIB=$((1 << 20))
SERVER_BIN=$(cd "$ROOT" && realpath "$BUILD/tests/tap_server")
CLIENT_BIN=$(cd "$ROOT" && realpath "$BUILD/tests/kernel_client")
SCRATCH=$(mktemp -d)
SERVER_LOG=""  # the running server's stdout and stderr
WRAPPER_PID="" # the `timeout` that bounds the server's life
SERVER_PID=""  # the server itself, as it reports: signals go to it
CONNS=0        # connections the running server should have accepted so far

cleanup() {
    [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null
    [ -n "$WRAPPER_PID" ] && kill -KILL "$WRAPPER_PID" 2>/dev/null && wait "$WRAPPER_PID" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { nsenter --net="/run/netns/$NS" -- "$@"; }
client() { timeout --kill-after=5 100 nsenter --net="/run/netns/$NS" -- "$CLIENT_BIN" "$@" --timeout 90; }

# counter NAME: its value in the server's latest counter dump
counter() { awk -v name="$1" '$1 == name { v = $2 } END { print v + 0 }' "$SERVER_LOG"; }

# dump_counters: ask the running server for its counters and wait until the dump is complete
dump_counters() {
    local before
    before=$(grep -c '^connections ' "$SERVER_LOG")
    kill -USR1 "$SERVER_PID" 2>/dev/null || return 1
    for _ in $(seq 50); do
        [ "$(grep -c '^connections ' "$SERVER_LOG")" -gt "$before" ] && return 0
        sleep 0.1
    done
    return 1
}

# counter_reaches NAME VALUE: within 5 s the server counts at least VALUE
counter_reaches() {
    for _ in $(seq 25); do
        dump_counters || return 1
        [ "$(counter "$1")" -ge "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

server_alive() { kill -0 "$SERVER_PID" 2>/dev/null; }

# expect_client NAME REGEX CLIENT-ARGS...: the client succeeds; its summary line (timings) follows as a comment
expect_client() {
    local name=$1 regex=$2
    shift 2
    expect "$name" 0 "$regex" client "$@"
    printf '%s\n' "$OUT" | sed -n 's/^\(echo\|upload\|download\|abort\|refused\): /# &/p'
}

# start_server NAME ARGS...: tap_server on the TAP device with every application, logging to NAME.log
start_server() {
    local name=$1
    shift
    SERVER_LOG=$SCRATCH/$name.log
    CONNS=0
    in_ns timeout --kill-after=5 300 "$SERVER_BIN" --dev "$DEV" --echo $ECHO_PORT --sink $SINK_PORT \
        --source $SOURCE_PORT "$@" >"$SERVER_LOG" 2>&1 &
    WRAPPER_PID=$!
    SERVER_PID=""
    for _ in $(seq 100); do
        SERVER_PID=$(sed -n 's/^ready on .*, pid \([0-9]*\)$/\1/p' "$SERVER_LOG")
        [ -n "$SERVER_PID" ] || ! kill -0 "$WRAPPER_PID" 2>/dev/null && break
        sleep 0.1
    done
    if [ -z "$SERVER_PID" ]; then
        not_ok "$name tap_server starts" "$(head -n 3 "$SERVER_LOG" | tr '\n' '|')"
        exit 1
    fi
    ok "$name tap_server starts"
}

# engine_sane NAME: what the engine saw — no checksum or header errors, every connection accounted for
engine_sane() {
    local name=$1 c closed
    dump_counters
    for c in parse_PKT_BAD_TCP_CSUM parse_PKT_BAD_IP_CSUM parse_PKT_TRUNCATED parse_PKT_BAD_HEADER \
        parse_PKT_BAD_OPTIONS app_closed_timeout app_closed_aborted app_refused app_protocol_errors \
        rx_no_frame tx_dropped; do
        if [ "$(counter $c)" -eq 0 ]; then ok "$name: no $c"; else not_ok "$name: no $c" "$c is $(counter $c)"; fi
    done
    counter_reaches app_closed_ok $((CONNS - $(counter app_closed_reset)))
    closed=$(($(counter app_closed_ok) + $(counter app_closed_reset)))
    if [ "$(counter conns_accepted)" -eq "$CONNS" ] && [ "$(counter app_accepted)" -eq "$CONNS" ] &&
        [ "$closed" -eq "$CONNS" ]; then
        ok "$name: all $CONNS connections accepted, served and closed"
    else
        not_ok "$name: all $CONNS connections accepted, served and closed" \
            "conns_accepted $(counter conns_accepted), app_accepted $(counter app_accepted), closed $closed"
    fi
    echo "# $name engine: segs_in $(counter segs_in) segs_out $(counter segs_out)" \
        "retrans_rto $(counter retrans_rto) retrans_fast $(counter retrans_fast) dup_acks $(counter dup_acks)" \
        "ooo_segments $(counter ooo_segments) window_probes $(counter window_probes)" \
        "rcv_dropped_window $(counter rcv_dropped_window) rcv_dropped_buffer $(counter rcv_dropped_buffer)" \
        "rx_lost $(counter rx_lost) tx_lost $(counter tx_lost)"
}

# stop_server NAME: SIGTERM; the server must exit 0 after its frame accounting, with no sanitizer report
stop_server() {
    local name=$1 status
    kill -TERM "$SERVER_PID"
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        not_ok "$name: SIGTERM stops the server" "still running after 10 s"
        exit 1
    fi
    wait "$WRAPPER_PID"
    status=$?
    WRAPPER_PID="" SERVER_PID=""
    if [ "$status" -eq 0 ] && grep -q '^frames accounted' "$SERVER_LOG"; then
        ok "$name: SIGTERM stops the server with every frame accounted for"
    else
        not_ok "$name: SIGTERM stops the server with every frame accounted for" \
            "status $status: $(grep -E 'error|Sanitizer|runtime error' "$SERVER_LOG" | head -n 3 | tr '\n' '|')"
    fi
    if grep -Eq 'Sanitizer|runtime error' "$SERVER_LOG"; then
        not_ok "$name: no sanitizer report from the server" "$(grep -E 'Sanitizer|runtime error' "$SERVER_LOG" | head -n 1)"
    else
        ok "$name: no sanitizer report from the server"
    fi
}

if [ "$(id -u)" -ne 0 ]; then
    not_ok "setup" "needs root (network namespaces and /dev/net/tun)"
    exit 1
fi
for bin in "$SERVER_BIN" "$CLIENT_BIN"; do
    [ -x "$bin" ] || { not_ok "setup" "$bin is not built (make BUILD=$BUILD all)"; exit 1; }
done

# ---- the namespace and the TAP device ---------------------------------------------------------
ip netns del "$NS" 2>/dev/null # a killed earlier run may have left it
if ip netns add "$NS" &&
    ip -n "$NS" link set lo up &&
    ip -n "$NS" tuntap add dev "$DEV" mode tap &&
    ip -n "$NS" addr add "$KERNEL_IP4/24" dev "$DEV" &&
    ip -n "$NS" addr add "$KERNEL_IP6/64" dev "$DEV" nodad &&
    ip -n "$NS" neigh add "$ENGINE_IP4" lladdr "$ENGINE_MAC" dev "$DEV" nud permanent &&
    ip -n "$NS" neigh add "$ENGINE_IP6" lladdr "$ENGINE_MAC" dev "$DEV" nud permanent &&
    ip -n "$NS" link set "$DEV" up; then
    ok "namespace $NS with TAP $DEV and static neighbours for the engine"
else
    not_ok "namespace $NS with TAP $DEV and static neighbours for the engine" "ip failed"
    exit 1
fi
if command -v ethtool >/dev/null; then
    expect "TAP checksum offload is off without TUNSETOFFLOAD" 0 "^tx-checksumming: off" in_ns ethtool -k "$DEV"
else
    skip "TAP checksum offload is off without TUNSETOFFLOAD" "no ethtool"
fi

# ==== a clean link ==============================================================================
start_server clean --time-wait-ms 1000

# ---- data, both ways, both families -----------------------------------------------------------
expect_client "200 concurrent echo connections byte-exact over IPv4" "came back exactly" \
    echo --addr $ENGINE_IP4 --port $ECHO_PORT --conns 200 --bytes 131072 --seed 100
expect_client "200 concurrent echo connections byte-exact over IPv6" "came back exactly" \
    echo --addr $ENGINE_IP6 --port $ECHO_PORT --conns 200 --bytes 131072 --seed 1000
expect_client "32 MiB upload over IPv4, SHA-256 matches" "SHA-256 [0-9a-f]{64} matches" \
    upload --addr $ENGINE_IP4 --port $SINK_PORT --bytes $((32 * MIB)) --seed 11
expect_client "32 MiB upload over IPv6, SHA-256 matches" "SHA-256 [0-9a-f]{64} matches" \
    upload --addr $ENGINE_IP6 --port $SINK_PORT --bytes $((32 * MIB)) --seed 12
expect_client "32 MiB download over IPv4, every byte and SHA-256 checked" "SHA-256 [0-9a-f]{64} matches" \
    download --addr $ENGINE_IP4 --port $SOURCE_PORT --bytes $((32 * MIB)) --seed 21
expect_client "32 MiB download over IPv6, every byte and SHA-256 checked" "SHA-256 [0-9a-f]{64} matches" \
    download --addr $ENGINE_IP6 --port $SOURCE_PORT --bytes $((32 * MIB)) --seed 22
expect_client "empty upload: the digest of nothing" "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
    upload --addr $ENGINE_IP4 --port $SINK_PORT --bytes 0
CONNS=$((CONNS + 405))

# ---- refused ------------------------------------------------------------------------------------
dump_counters
not_listening=$(counter not_listening)
expect_client "a port nobody listens on is refused over IPv4" "ECONNREFUSED" \
    refused --addr $ENGINE_IP4 --port $UNUSED_PORT
expect_client "a port nobody listens on is refused over IPv6" "ECONNREFUSED" \
    refused --addr $ENGINE_IP6 --port $UNUSED_PORT
check "the server counted both refused SYNs" counter_reaches not_listening $((not_listening + 2))

# ---- resets mid-transfer ------------------------------------------------------------------------
dump_counters
resets=$(counter app_closed_reset)
rst_received=$(counter rst_received)
expect_client "10 uploads reset mid-transfer over IPv4" "reset after" \
    abort --kind upload --addr $ENGINE_IP4 --port $SINK_PORT --conns 10 --bytes $MIB --seed 300
expect_client "10 downloads reset mid-transfer over IPv6" "reset after" \
    abort --kind download --addr $ENGINE_IP6 --port $SOURCE_PORT --conns 10 --bytes $MIB --seed 400
expect_client "10 echo connections reset mid-transfer over IPv4" "reset after" \
    abort --kind echo --addr $ENGINE_IP4 --port $ECHO_PORT --conns 10 --bytes $((256 << 10)) --seed 500
CONNS=$((CONNS + 30))
check "the server survives the resets" server_alive
check "the server counted 30 resets received" counter_reaches rst_received $((rst_received + 30))
check "its applications saw 30 connections reset" counter_reaches app_closed_reset $((resets + 30))
if [ "$(counter app_closed_reset)" -eq $((resets + 30)) ]; then
    ok "no other connection was reset"
else
    not_ok "no other connection was reset" "$(($(counter app_closed_reset) - resets)) resets, expected 30"
fi
expect_client "echo still byte-exact after the resets" "came back exactly" \
    echo --addr $ENGINE_IP6 --port $ECHO_PORT --conns 20 --bytes 65536 --seed 600
expect_client "download still verified after the resets" "matches" \
    download --addr $ENGINE_IP4 --port $SOURCE_PORT --bytes $((4 * MIB)) --seed 700
CONNS=$((CONNS + 21))

# ---- readers that stop: windows close and reopen ------------------------------------------------
# The engine's sends stop at Linux's closed window (which Linux leaves at 1 << wscale bytes, not 0);
# when the reader resumes, Linux's window update must restart them at once, not the next persist
# probe (1.4 s and 3 s after the window closed): hence the time limits, the echo's the tighter one
# (waiting for the probe, it took 4.5 s).
dump_counters
probes=$(counter window_probes)
expect_client "download with the reader stopped 1.5 s halfway resumes on the window update" "matches" \
    download --addr $ENGINE_IP6 --port $SOURCE_PORT --bytes $((16 * MIB)) --seed 800 --pause-ms 1500 --within-ms 4000
expect_client "echo with the client reading nothing for 1.5 s: both windows close, then reopen" "came back exactly" \
    echo --addr $ENGINE_IP4 --port $ECHO_PORT --conns 1 --bytes $((4 * MIB)) --seed 900 --pause-ms 1500 --within-ms 2700
CONNS=$((CONNS + 2))
check "the engine probed the closed windows" counter_reaches window_probes $((probes + 1))

# ---- a peer that never closes -------------------------------------------------------------------
# The source closes after its last byte; this client reads to EOF but keeps its socket 3 s, so the
# engine's connection waits in FIN-WAIT-2 until 2 MSL (1 s here) ends it: the application must hear
# of that end like any other, or it can never free what it keeps for the connection.
dump_counters
closed_ok=$(counter app_closed_ok)
expect_client "download from a client that never closes" "matches" \
    download --addr $ENGINE_IP4 --port $SOURCE_PORT --bytes $MIB --seed 1000 --hold-ms 3000
CONNS=$((CONNS + 1))
check "FIN-WAIT-2 ended by 2 MSL reaches the application's closed callback" \
    counter_reaches app_closed_ok $((closed_ok + 1))

engine_sane clean
stop_server clean

# ==== 1% of frames lost both ways ===============================================================
start_server lossy --loss-ppm 10000 --seed 42
expect_client "lossy: 50 concurrent echo connections byte-exact over IPv4" "came back exactly" \
    echo --addr $ENGINE_IP4 --port $ECHO_PORT --conns 50 --bytes 131072 --seed 1100
expect_client "lossy: 8 MiB upload over IPv6, SHA-256 matches" "matches" \
    upload --addr $ENGINE_IP6 --port $SINK_PORT --bytes $((8 * MIB)) --seed 1200
CONNS=$((CONNS + 51))
dump_counters
rto=$(counter retrans_rto) fast=$(counter retrans_fast)
expect_client "lossy: 8 MiB download over IPv4, every byte checked" "matches" \
    download --addr $ENGINE_IP4 --port $SOURCE_PORT --bytes $((8 * MIB)) --seed 1300
expect_client "lossy: 8 MiB download over IPv6, every byte checked" "matches" \
    download --addr $ENGINE_IP6 --port $SOURCE_PORT --bytes $((8 * MIB)) --seed 1400
CONNS=$((CONNS + 2))
dump_counters
rto=$(($(counter retrans_rto) - rto)) fast=$(($(counter retrans_fast) - fast))
# Linux's receiver grows its window on nearly every ACK: duplicate ACKs must still count when they
# carry new SACK blocks (RFC 6675), or every loss waits for the retransmission timer
if [ "$fast" -gt $((2 * rto)) ]; then
    ok "lossy downloads recover by fast retransmit, not by timeout"
else
    not_ok "lossy downloads recover by fast retransmit, not by timeout" "$fast fast retransmissions, $rto by RTO"
fi
engine_sane lossy
stop_server lossy
