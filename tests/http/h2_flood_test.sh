#!/usr/bin/env bash
# h2_flood_test.sh — the HTTP/2 flood defences, checked from outside: tests/http/h2_flood attacks a
# sluice-server of its own (kernel-socket datapath, one worker, 127.0.0.1, no root needed) and this
# judges what the attacker saw, the server's counters in /metrics and whether curl is still served.
#
#   tests/http/h2_flood_test.sh BUILD_DIR [--h2 native|nghttp2]
#
# The limits are the native HTTP/2 codec's ([http] h2 = native, the default here); each attack, what
# it must get, and the counter that must rise (sluice_http_NAME_total):
#   hpack-bomb       a 4000-byte field indexed, then requests of 1-byte references to it up to
#                    max_header_list_size: each 431 or RST_STREAM (reported which), header_limit, the
#                    connection still serves a GET, curl served during it; server CPU per MB sent
#                    is printed, not judged
#   rapid-reset      HEADERS + RST_STREAM(CANCEL) pairs: GOAWAY ENHANCE_YOUR_CALM and the close,
#                    h2_rapid_reset; requests dispatched at most rapid_reset_budget +
#                    max_concurrent_streams, none above the GOAWAY's last stream id, none answered there
#   continuation     CONTINUATION without end: GOAWAY ENHANCE_YOUR_CALM (or the close after it),
#                    h2_continuation_flood, server RSS growth under 64 MiB
#   *-noread         PING, SETTINGS, both, from a client that never reads: the server closes within
#                    3 s though its output is blocked, h2_control_flood
#   priority, window-update, empty-data, empty-headers: GOAWAY ENHANCE_YOUR_CALM and the close,
#                    h2_priority_flood, h2_window_update_flood, h2_empty_frame_flood (twice)
#   zero-window      8 connections of max_concurrent_streams GETs /bytes/100000 on a zero window:
#                    curl served meanwhile with pool_exhausted unmoved, the attackers closed about
#                    send_timeout_ms after their requests, app_send_timeout
#   noread-body      GET /bytes/50000000 never read: closed about send_timeout_ms later, app_send_timeout
#   concurrency      15 GETs in one write after the SETTINGS exchange: SETTINGS_MAX_CONCURRENT_STREAMS
#                    10, ten 200s, five RST_STREAM REFUSED_STREAM, the connection open,
#                    h2_refused_streams by 5
#   trailers         POST /echo with trailers is echoed; a pseudo-header in trailers is a stream
#                    error PROTOCOL_ERROR
# After each attack a fresh curl --http2-prior-knowledge GET /healthz must be 200.
#
# --h2 nghttp2 runs the same attacks with today's codec (the "before" measurement): the key h2 is
# written only if the server knows it, and so are the native codec's limits; the keys left out are
# listed. With --h2 native a server that refuses the config is one failure, and the attacks then run
# with the keys it knows. The server is stopped by PID (a trap does it on any exit) and must stop
# cleanly. Port: H2_FLOOD_PORT (default 20590). H2_FLOOD_KEEP=1 keeps the scratch folder.
set -u

usage() {
    echo "usage: $0 BUILD_DIR [--h2 native|nghttp2]" >&2
    exit 2
}

BUILD=${1:-}
[ -n "$BUILD" ] || usage
shift
MODE=native
while [ $# -gt 0 ]; do
    case "$1" in
    --h2)
        [ $# -ge 2 ] && [[ $2 =~ ^(native|nghttp2)$ ]] || usage
        MODE=$2
        shift 2
        ;;
    *) usage ;;
    esac
done

cd "$(dirname "$0")/../.." || exit 1
. tests/lib/tap.sh
# shellcheck source=tests/lib/topo.sh
. tests/lib/topo.sh # topo_server_ready only: this suite needs no topology

SERVER=$BUILD/bin/sluice-server
FLOOD=$BUILD/tests/h2_flood
HOST=127.0.0.1
PORT=${H2_FLOOD_PORT:-20590}
URL=http://$HOST:$PORT
WORK=$(mktemp -d /tmp/h2flood.XXXXXX)
SERVER_PID=""
FLOOD_PID=""
FAILED=0
CLK_TCK=$(getconf CLK_TCK)

# The native codec's limits, as the config file says them and as the checks use them.
MAX_CONCURRENT=10
LIST_SIZE=16384
MAX_STREAMS=256
RAPID_RESET_BUDGET=100
MAX_CONTINUATIONS=32
MAX_QUEUED_CONTROL=1000
MAX_EMPTY_FRAMES=16
SEND_TIMEOUT_MS=2000
SOURCE_STRIKES=1000 # every attack comes from 127.0.0.1: the per-source budget has a section of its own
HTTP_KEYS=(
    "h2 = $MODE"
    "max_concurrent_streams = $MAX_CONCURRENT"
    "max_header_list_size = $LIST_SIZE"
    "max_streams = $MAX_STREAMS"
    "rapid_reset_budget = $RAPID_RESET_BUDGET"
    "max_continuations = $MAX_CONTINUATIONS"
    "max_queued_control = $MAX_QUEUED_CONTROL"
    "max_empty_frames = $MAX_EMPTY_FRAMES"
    "flood_source_strikes = $SOURCE_STRIKES"
)

stop_server() { # SIGTERM, then at most 10 s for the drain; sets SERVER_STATUS
    SERVER_STATUS=""
    [ -n "$SERVER_PID" ] || return
    stop_pid "$SERVER_PID" 10
    SERVER_STATUS=$STOP_STATUS
    SERVER_PID=""
}
stop_flood() {
    [ -n "$FLOOD_PID" ] || return
    kill -TERM "$FLOOD_PID" 2>/dev/null
    wait "$FLOOD_PID" 2>/dev/null
    FLOOD_PID=""
}
trap 'stop_flood; stop_server; if [ -n "${H2_FLOOD_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

pass() { ok "h2flood: $1"; }
fail() { # fail NAME EXPECTED GOT
    not_ok "h2flood: $1" "expected $2, got $3"
    FAILED=$((FAILED + 1))
}
note() { echo "# $*"; }

for f in "$SERVER" "$FLOOD"; do
    if [ ! -x "$f" ]; then
        echo "not ok - h2flood: $f is missing (make BUILD=$BUILD tests)"
        exit 1
    fi
done

# ---- the server ---------------------------------------------------------------------------------

# write_config [all|known]: the [http] keys above, all of them or only those this server knows
write_config() {
    local known key line
    known=" $("$SERVER" --settings 2>/dev/null | sed -n 's/^\[http\] \([a-z0-9_]*\).*/\1/p' | tr '\n' ' ') "
    LEFT_OUT=""
    {
        echo "[http]"
        for line in "${HTTP_KEYS[@]}"; do
            key=${line%% *}
            if [ "$1" = all ] || [[ $known == *" $key "* ]]; then echo "$line"; else LEFT_OUT+=" $key"; fi
        done
    } >"$WORK/sluice.conf"
}

# start_server: sluice-server on $PORT with $WORK/sluice.conf; fails when it is not ready in 10 s
start_server() {
    "$SERVER" --datapath socket --workers 1 --http "$PORT" --config "$WORK/sluice.conf" \
        --send-timeout-ms "$SEND_TIMEOUT_MS" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    if topo_server_ready "$SERVER_PID" "$WORK/server.log"; then return 0; fi
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    return 1
}

log_tail() { grep -v ready "$WORK/server.log" | tail -n 3 | tr '\n' '|'; }

# sluice-server listens with SO_REUSEPORT: a server left on the port would quietly take half the
# connections, so the port must be free.
if ss -Htln "sport = :$PORT" 2>/dev/null | grep -q .; then
    echo "Bail out! port $PORT is already in use (H2_FLOOD_PORT picks another): $(ss -Htlnp "sport = :$PORT" | head -n 2 | tr '\n' '|')"
    exit 1
fi

: >"$WORK/server.log"
if [ "$MODE" = native ]; then
    write_config all
    if start_server; then
        pass "the server takes the native codec's config ([http] h2 = native and its limits)"
    else
        fail "the server takes the native codec's config ([http] h2 = native and its limits)" \
            "sluice-server ready on port $PORT" "$(log_tail)"
        write_config known
        note "running the attacks with the [http] keys this server knows; left out:$LEFT_OUT"
        : >"$WORK/server.log"
        start_server || {
            echo "Bail out! sluice-server did not get ready on port $PORT: $(log_tail)"
            exit 1
        }
    fi
else
    write_config known
    [ -z "$LEFT_OUT" ] || note "nghttp2 mode: [http] keys this server does not know, left out:$LEFT_OUT"
    start_server || {
        echo "Bail out! sluice-server did not get ready on port $PORT: $(log_tail)"
        exit 1
    }
fi
note "config: $(grep -v '^\[' "$WORK/sluice.conf" | tr '\n' ';')"

# server_up NAME: the server still runs; if it died, one failure and a new one for the next attacks
server_up() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then return 0; fi
    wait "$SERVER_PID" 2>/dev/null
    fail "$1: the server survives" "it running" "it exited with status $?: $(log_tail)"
    SERVER_PID=""
    start_server || {
        echo "Bail out! sluice-server did not start again: $(log_tail)"
        exit 1
    }
    return 1
}

# ---- what the server says about itself ------------------------------------------------------------

# snap: /metrics now, into $SNAP (each scrape is itself a request: requests_total counts it)
snap() { SNAP=$(curl -sS -m 5 --http2-prior-knowledge "$URL/metrics" 2>/dev/null); }
# metric NAME: the family of a counter: sluice_app_X_total for app_X, else sluice_http_NAME_total
metric() { case $1 in app_*) echo "sluice_$1_total" ;; *) echo "sluice_http_$1_total" ;; esac; }
# counter TEXT NAME: the sum over workers of metric NAME in the scrape TEXT; "absent" if none
counter() {
    printf '%s\n' "$1" | awk -v n="$(metric "$2")" '
        index($0, n "{") == 1 || index($0, n " ") == 1 { s += $NF; seen = 1 }
        END { if (seen) print s + 0; else print "absent" }'
}
cpu_ms() { # the server's user + system CPU time so far, ms (fields 14 and 15 after the comm field)
    sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk -v hz="$CLK_TCK" '{ print int(($12 + $13) * 1000 / hz) }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# grew NAME COUNTER BEFORE AFTER MIN [EXACT]: the counter rose by at least MIN (exactly MIN with EXACT)
grew() {
    local name=$1 c=$2 before=$3 after=$4 min=$5 exact=${6:-}
    local want
    want="$(metric "$c") to rise by $([ -n "$exact" ] && echo exactly || echo at least) $min"
    if [ "$after" = absent ] || [ "$before" = absent ]; then
        fail "$name: counted in $(metric "$c")" "$want" "no such counter in /metrics"
    elif [ -n "$exact" ] && [ $((after - before)) -ne "$min" ]; then
        fail "$name: counted in $(metric "$c")" "$want" "$((after - before)) ($before -> $after)"
    elif [ $((after - before)) -lt "$min" ]; then
        fail "$name: counted in $(metric "$c")" "$want" "$((after - before)) ($before -> $after)"
    else
        pass "$name: counted in $(metric "$c") (+$((after - before)))"
    fi
}

# curl_get PATH: "STATUS BYTES" of a GET on a fresh HTTP/2 connection (prior knowledge)
curl_get() {
    curl -sS -m 5 --http2-prior-knowledge -o /dev/null -w '%{http_code} %{size_download}' "$URL$1" 2>/dev/null ||
        true
}

# served NAME WHEN: a fresh client's GET /healthz is 200 (the server survived, and still serves)
served() {
    local got
    got=$(curl_get /healthz)
    if [ "${got%% *}" = 200 ]; then
        pass "$1: curl served $2"
    else
        fail "$1: curl served $2" "GET /healthz 200" "'${got:-nothing}'"
    fi
    server_up "$1"
}

# ---- the attacker ---------------------------------------------------------------------------------

# flood NAME ARGS...: runs the attack (bounded: its own limits, and timeout 60 s) and prints its
# report as comments; the report is in $OUT
flood() {
    local name=$1
    shift
    OUT=$(timeout 60 "$FLOOD" --host "$HOST" --port "$PORT" --attack "$name" "$@" 2>&1)
    FLOOD_STATUS=$?
    printf '%s\n' "$OUT" | sed "s/^/#   $name: /"
    [ "$FLOOD_STATUS" = 0 ] || fail "$name: the attack ran" "h2_flood exit status 0" "$FLOOD_STATUS"
}
# flood_bg NAME ARGS...: the same in the background (FLOOD_PID); flood_wait collects it into $OUT
flood_bg() {
    FLOOD_NAME=$1
    shift
    timeout 60 "$FLOOD" --host "$HOST" --port "$PORT" --attack "$FLOOD_NAME" "$@" >"$WORK/flood.out" 2>&1 &
    FLOOD_PID=$!
}
flood_wait() {
    wait "$FLOOD_PID"
    FLOOD_STATUS=$?
    FLOOD_PID=""
    OUT=$(cat "$WORK/flood.out")
    printf '%s\n' "$OUT" | sed "s/^/#   $FLOOD_NAME: /"
    [ "$FLOOD_STATUS" = 0 ] || fail "$FLOOD_NAME: the attack ran" "h2_flood exit status 0" "$FLOOD_STATUS"
}
# field KEY: KEY's value in the report (the first KEY=VALUE token); empty when absent
field() { printf '%s\n' "$OUT" | grep -oE "(^| )$1=[^ ]*" | head -n 1 | sed 's/^ *[^=]*=//'; }
num() { # num KEY: the value as a number (0 when absent)
    local v
    v=$(field "$1")
    [[ $v =~ ^-?[0-9]+$ ]] && echo "$v" || echo 0
}
when_closed() { [ -z "$(field closed_ms)" ] || echo " after $(field closed_ms) ms"; }
# calm_and_close NAME: GOAWAY ENHANCE_YOUR_CALM, then the close
calm_and_close() {
    local goaway closed
    goaway=$(field goaway) closed=$(field closed)
    if [ "$goaway" = 0xb ] && [[ $closed =~ ^(fin|rst)$ ]]; then
        pass "$1: GOAWAY ENHANCE_YOUR_CALM after $(field sent_before_goaway) frames, then the close ($closed)"
    else
        fail "$1: GOAWAY ENHANCE_YOUR_CALM, then the close" "goaway=0xb and closed=fin|rst" \
            "goaway=$goaway ($(field goaway_name)) closed=$closed after $(field frames_sent) frames$(
                [ -n "$(field alive)" ] && echo ", connection alive=$(field alive)")"
    fi
}

# ---- 1. HPACK bomb --------------------------------------------------------------------------------

snap
before=$SNAP cpu0=$(cpu_ms)
flood_bg hpack-bomb --duration 3
sleep 1
during=$(curl_get /healthz)
flood_wait
cpu1=$(cpu_ms)
snap
bombs=$(num bombs) r431=$(num bomb_431) rrst=$(num bomb_rst)
if [ "$bombs" -gt 0 ] && [ $((r431 + rrst)) -eq "$bombs" ]; then
    pass "hpack-bomb: each of $bombs bombs refused ($r431 with 431, $rrst with RST_STREAM)"
else
    fail "hpack-bomb: each bomb refused" "every bomb answered 431 or RST_STREAM" \
        "bombs=$bombs 431=$r431 rst=$rrst other=$(field bomb_other) unanswered=$(field bomb_unanswered)"
fi
grew hpack-bomb header_limit "$(counter "$before" header_limit)" "$(counter "$SNAP" header_limit)" "$((bombs > 0 ? bombs : 1))"
if [ "$(field after)" = 200 ]; then
    pass "hpack-bomb: the connection still serves a GET after the bombs"
else
    fail "hpack-bomb: the connection still serves a GET after the bombs" "200" "'$(field after)'"
fi
if [ "${during%% *}" = 200 ]; then
    pass "hpack-bomb: curl served during the flood"
else
    fail "hpack-bomb: curl served during the flood" "GET /healthz 200" "'${during:-nothing}'"
fi
sent=$(num bytes_sent)
note "hpack-bomb: server CPU $((cpu1 - cpu0)) ms over the flood for $((sent / 1024)) KiB sent" \
    "($(awk -v c=$((cpu1 - cpu0)) -v b="$sent" 'BEGIN { printf "%.1f", b ? c * 1048576 / b : 0 }') ms per MiB;" \
    "$(($(num decoded_bytes_per_request) / 1048576)) MiB decoded per request, $bombs requests)"
server_up hpack-bomb

# ---- 2. rapid reset, and 8. GOAWAY: nothing above the last stream id ----------------------------

snap
before=$SNAP
flood rapid-reset --count 2000
snap
goaway=$(field goaway) last=$(num last_stream) closed=$(field closed)
if [ "$goaway" = 0xb ]; then
    pass "rapid-reset: GOAWAY ENHANCE_YOUR_CALM after $(field sent_before_goaway) pairs (last stream $last)"
else
    fail "rapid-reset: GOAWAY ENHANCE_YOUR_CALM" "goaway=0xb" \
        "goaway=$goaway ($(field goaway_name)) after $(field sent_before_goaway) of $(field streams_sent) pairs"
fi
if [[ $closed =~ ^(fin|rst)$ ]]; then
    pass "rapid-reset: the connection closes after the GOAWAY ($closed)"
else
    fail "rapid-reset: the connection closes after the GOAWAY" "closed=fin|rst" "closed=$closed"
fi
grew rapid-reset h2_rapid_reset "$(counter "$before" h2_rapid_reset)" "$(counter "$SNAP" h2_rapid_reset)" 1
r0=$(counter "$before" requests) r1=$(counter "$SNAP" requests)
dispatched=$((r1 - r0 - 1)) # less the second scrape, which counts itself
limit=$((RAPID_RESET_BUDGET + MAX_CONCURRENT))
if [ "$dispatched" -le "$limit" ]; then
    pass "rapid-reset: $dispatched requests dispatched, at most rapid_reset_budget + max_concurrent_streams ($limit)"
else
    fail "rapid-reset: requests dispatched at most rapid_reset_budget + max_concurrent_streams" "<= $limit" \
        "$dispatched of $(field streams_sent) pairs (sluice_http_requests_total $r0 -> $r1)"
fi
if [ "$goaway" != none ] && [ "$dispatched" -le $(((last + 1) / 2)) ]; then
    pass "goaway: no handler ran above the GOAWAY's last stream id $last ($dispatched requests <= $(((last + 1) / 2)))"
else
    fail "goaway: no handler runs above the GOAWAY's last stream id" \
        "a GOAWAY and at most (last_stream + 1) / 2 requests dispatched" \
        "goaway=$goaway last_stream=$last, $dispatched requests dispatched"
fi
if [ "$goaway" != none ] && [ "$(num answered_above_last)" = 0 ]; then
    pass "goaway: no stream above the last stream id answered"
else
    fail "goaway: no stream above the last stream id answered" "a GOAWAY and answered_above_last=0" \
        "goaway=$goaway answered_above_last=$(field answered_above_last)"
fi
served rapid-reset after

# ---- 3. CONTINUATION flood -------------------------------------------------------------------------

snap
before=$SNAP rss0=$(rss_kib)
flood continuation --duration 3
rss1=$(rss_kib)
snap
goaway=$(field goaway) closed=$(field closed)
if [ "$goaway" = 0xb ] || { [ "$goaway" = none ] && [[ $closed =~ ^(fin|rst)$ ]]; }; then
    pass "continuation: GOAWAY ENHANCE_YOUR_CALM or the close (goaway=$goaway closed=$closed after $(field frames_sent) frames)"
else
    fail "continuation: GOAWAY ENHANCE_YOUR_CALM or the close" "goaway=0xb, or the close" \
        "goaway=$goaway ($(field goaway_name)) closed=$closed after $(field frames_sent) frames"
fi
grew continuation h2_continuation_flood "$(counter "$before" h2_continuation_flood)" \
    "$(counter "$SNAP" h2_continuation_flood)" 1
note "continuation: server RSS ${rss0} KiB -> ${rss1} KiB over $(($(num bytes_sent) / 1024)) KiB sent"
if [ $((rss1 - rss0)) -lt 65536 ]; then
    pass "continuation: server RSS grew less than 64 MiB ($((rss1 - rss0)) KiB)"
else
    fail "continuation: server RSS bounded" "growth < 64 MiB" "$((rss1 - rss0)) KiB"
fi
served continuation after

# ---- 4. control floods from a client that never reads; PRIORITY, WINDOW_UPDATE, empty frames --------

for attack in ping-noread settings-noread mixed-noread; do
    snap
    before=$SNAP
    flood $attack --duration 4
    snap
    closed=$(field closed) ms=$(num closed_ms)
    if [[ $closed =~ ^(fin|rst)$ ]] && [ "$ms" -le 3000 ]; then
        pass "$attack: the server closes within 3 s though its output is blocked ($closed after $ms ms)"
    else
        fail "$attack: the server closes within 3 s though its output is blocked" "closed=fin|rst within 3000 ms" \
            "closed=$closed$(when_closed), blocked=$(field blocked) after $(field frames_sent) frames"
    fi
    grew $attack h2_control_flood "$(counter "$before" h2_control_flood)" "$(counter "$SNAP" h2_control_flood)" 1
    served $attack after
done

for spec in priority:h2_priority_flood window-update:h2_window_update_flood empty-data:h2_empty_frame_flood \
    empty-headers:h2_empty_frame_flood; do
    attack=${spec%%:*} c=${spec#*:}
    snap
    before=$SNAP
    flood "$attack" --duration 3
    snap
    calm_and_close "$attack"
    grew "$attack" "$c" "$(counter "$before" "$c")" "$(counter "$SNAP" "$c")" 1
    served "$attack" after
done

# ---- 5. streams held on a zero window; a response never read ---------------------------------------

snap
before=$SNAP
flood_bg zero-window --conns 8 --duration 6
sleep 1
snap
pool0=$(counter "$SNAP" pool_exhausted)
during=$(curl_get /healthz)
during_bytes=$(curl_get /bytes/100000)
snap
pool1=$(counter "$SNAP" pool_exhausted)
flood_wait
snap
if [ "${during%% *}" = 200 ] && [ "$during_bytes" = "200 100000" ]; then
    pass "zero-window: curl served while the attacker holds $(field streams) streams"
else
    fail "zero-window: curl served while the attacker holds its streams" "GET /healthz 200 and /bytes/100000 whole" \
        "'$during' and '$during_bytes'"
fi
if [ "$pool0" != absent ] && [ "$pool0" = "$pool1" ]; then
    pass "zero-window: sluice_http_pool_exhausted_total unmoved by the normal client ($pool0)"
else
    fail "zero-window: sluice_http_pool_exhausted_total unmoved by the normal client" "no change" "$pool0 -> $pool1"
fi
conns=$(num conns) closed=$(num closed_conns) first=$(num first_close_ms) last=$(num last_close_ms)
if [ "$conns" -gt 0 ] && [ "$closed" = "$conns" ] && [ "$first" -ge $((SEND_TIMEOUT_MS / 2)) ] &&
    [ "$last" -le $((SEND_TIMEOUT_MS + 2500)) ]; then
    pass "zero-window: the $conns attacker connections closed after send_timeout_ms ($first..$last ms)"
else
    fail "zero-window: the attacker connections closed after send_timeout_ms" \
        "all $conns closed between $((SEND_TIMEOUT_MS / 2)) and $((SEND_TIMEOUT_MS + 2500)) ms" \
        "$closed closed ($first..$last ms), $(field headers) response heads, $(field goaways) GOAWAYs"
fi
grew zero-window app_send_timeout "$(counter "$before" app_send_timeout)" "$(counter "$SNAP" app_send_timeout)" 1
server_up zero-window

snap
before=$SNAP
flood noread-body --duration 6
snap
closed=$(field closed) ms=$(num closed_ms)
if [[ $closed =~ ^(fin|rst)$ ]] && [ "$ms" -le $((SEND_TIMEOUT_MS + 2500)) ]; then
    pass "noread-body: a response never read is cut off after send_timeout_ms ($closed after $ms ms)"
else
    fail "noread-body: a response never read is cut off after send_timeout_ms" \
        "closed=fin|rst within $((SEND_TIMEOUT_MS + 2500)) ms" \
        "closed=$closed$(when_closed), then $(field body_bytes) body bytes read, ended=$(field body_ended)"
fi
grew noread-body app_send_timeout "$(counter "$before" app_send_timeout)" "$(counter "$SNAP" app_send_timeout)" 1
served noread-body after

# ---- 6. SETTINGS_MAX_CONCURRENT_STREAMS ------------------------------------------------------------

snap
before=$SNAP
flood concurrency --count 15
snap
if [ "$(field max_concurrent)" = "$MAX_CONCURRENT" ]; then
    pass "concurrency: SETTINGS_MAX_CONCURRENT_STREAMS is max_concurrent_streams ($MAX_CONCURRENT)"
else
    fail "concurrency: SETTINGS_MAX_CONCURRENT_STREAMS is max_concurrent_streams" "$MAX_CONCURRENT" "$(field max_concurrent)"
fi
if [ "$(num status_200)" = "$MAX_CONCURRENT" ] && [ "$(num highest_answered)" -le $((2 * MAX_CONCURRENT - 1)) ]; then
    pass "concurrency: the first $MAX_CONCURRENT streams answered 200"
else
    fail "concurrency: the first $MAX_CONCURRENT streams answered 200" "$MAX_CONCURRENT 200s on streams 1..$((2 * MAX_CONCURRENT - 1))" \
        "$(num status_200) 200s (highest stream $(num highest_answered)), $(field unresolved) unanswered, goaway=$(field goaway) ($(field goaway_name))"
fi
if [ "$(num refused)" = 5 ]; then
    pass "concurrency: the 5 extra streams get RST_STREAM REFUSED_STREAM"
else
    fail "concurrency: the 5 extra streams get RST_STREAM REFUSED_STREAM" "refused=5" \
        "refused=$(field refused) rst=$(field rst), goaway=$(field goaway) ($(field goaway_name))"
fi
if [ "$(field goaway)" = none ] && [ "$(field alive)" = 1 ]; then
    pass "concurrency: the connection stays open"
else
    fail "concurrency: the connection stays open" "no GOAWAY, PING answered" \
        "goaway=$(field goaway) ($(field goaway_name)) alive=$(field alive) closed=$(field closed)"
fi
grew concurrency h2_refused_streams "$(counter "$before" h2_refused_streams)" "$(counter "$SNAP" h2_refused_streams)" 5 exact
served concurrency after

# ---- 7. trailers -------------------------------------------------------------------------------------

flood trailers
if [ "$(field trailers_status)" = 200 ] && [ "$(field trailers_echo)" = 1 ]; then
    pass "trailers: POST /echo with trailers (x-checksum) completes with its echo"
else
    fail "trailers: POST /echo with trailers completes with its echo" "200 echoing the body" \
        "status $(field trailers_status), echo=$(field trailers_echo), rst=$(field trailers_rst)"
fi
if [[ $(field pseudo_trailers) =~ ^(rst|goaway):0x1$ ]]; then
    pass "trailers: a pseudo-header in trailers is PROTOCOL_ERROR ($(field pseudo_trailers))"
else
    fail "trailers: a pseudo-header in trailers is a stream error PROTOCOL_ERROR" "rst:0x1 (or goaway:0x1)" \
        "$(field pseudo_trailers)"
fi
served trailers after

# ---- 9. a source that floods again and again -------------------------------------------------------

if [ "$MODE" = native ]; then
    stop_server
    SOURCE_STRIKES=2
    HTTP_KEYS=("${HTTP_KEYS[@]/#flood_source_strikes = */flood_source_strikes = $SOURCE_STRIKES}")
    write_config all
    : >"$WORK/server.log"
    start_server || {
        echo "Bail out! sluice-server did not get ready on port $PORT: $(log_tail)"
        exit 1
    }
    for i in 1 2; do
        flood rapid-reset --count 2000
        [ "$(field goaway)" = 0xb ] || fail "reconnect: flood $i of 2 ends in GOAWAY ENHANCE_YOUR_CALM" "goaway=0xb" \
            "goaway=$(field goaway)"
    done
    # the third connection from the address is refused before any request: h2_flood cannot even start
    OUT=$(timeout 60 "$FLOOD" --host "$HOST" --port "$PORT" --attack concurrency 2>&1)
    printf '%s\n' "$OUT" | sed "s/^/#   reconnect: /"
    if printf '%s' "$OUT" | grep -q 'GOAWAY ENHANCE_YOUR_CALM (last stream 0)'; then
        pass "reconnect: after flood_source_strikes floods, the address's next HTTP/2 connection gets GOAWAY ENHANCE_YOUR_CALM at once"
    else
        fail "reconnect: the address's next HTTP/2 connection is refused" \
            "GOAWAY ENHANCE_YOUR_CALM (last stream 0) before any response" "$(printf '%s' "$OUT" | tail -n 1)"
    fi
    # HTTP/1.1 from the same address still works: /metrics over it
    SNAP=$(curl -sS -m 5 --http1.1 "$URL/metrics" 2>/dev/null)
    n=$(counter "$SNAP" h2_source_refused)
    if [ "$n" != absent ] && [ "$n" -ge 1 ]; then
        pass "reconnect: counted in sluice_http_h2_source_refused_total ($n)"
    else
        fail "reconnect: counted in sluice_http_h2_source_refused_total" "at least 1" "$n"
    fi
fi

# ---- the server stops cleanly ----------------------------------------------------------------------

stop_server
if [ "$SERVER_STATUS" = 0 ]; then
    pass "sluice-server stopped cleanly after the floods"
else
    fail "sluice-server stopped cleanly after the floods" "exit status 0" \
        "$SERVER_STATUS: $(grep -i -m 3 -E 'error|fail|leak|runtime' "$WORK/server.log" | tr '\n' '|')"
fi
[ "$FAILED" = 0 ]
