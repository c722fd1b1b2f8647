#!/usr/bin/env bash
# offload_http_test.sh — slow handlers on the offload pool and overload (issue 16), against sluice-server on
# both datapaths, in a topology of its own, with curl and h2load as clients.
#
#   tests/http/offload_http_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
# What it holds the server to:
#   - GET /sleep/:ms and GET /sha256/:mib answer from the pool (the digest checked against stream_cat's);
#   - isolation: one worker, 64 streams of GET /sleep/1000 in flight: GET /healthz is answered at once,
#     while the sleeps are all still out; with the pool disabled ([offload] max_threads 0) /healthz
#     beside 4 of them waits for the worker (reported, not asserted: that is the point of the pool);
#   - shedding: a pool of one thread and a queue of 8 under 64 concurrent /sleep/200: every request is
#     answered, 200 or 503 with Retry-After, and the counters add up to what the client sent;
#   - a request cancelled (RST_STREAM) while it runs on the pool is counted, and nothing breaks;
#   - a route's breaker: 3 runs slower than slow_ms open it (503 with Retry-After at once, state in
#     /metrics), after breaker_open_ms 2 probes that succeed close it again;
#   - per client: at [http] rate_limit_rps 5 with a burst of 10, one client's 40 requests in a row get
#     10 to 15 answers 200 and the rest 429 with Retry-After (counted), while another address of the
#     client's namespace is still served;
#   - overload at 3x the pool's capacity with the default settings (16 threads of GET /sleep/5: 3200
#     requests/s; h2load sends 9600/s) for OFFLOAD_OVERLOAD_S seconds (30 on the AF_XDP datapath, 5 on
#     sockets): every request gets a response (200 or 503), none times out, the server's counters add
#     up to the client's, its memory stays bounded, and once the load stops it serves at full rate.
#
# Servers run in the server namespace, clients in the client namespace. Needs root.
set -u

BUILD=${1:?usage: offload_http_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=soffload
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
STREAM_CAT=$(realpath "$ROOT/$BUILD/tests/stream_cat")
H2_FLOOD=$(realpath "$ROOT/$BUILD/tests/h2_flood")
WORK=$(mktemp -d)
SERVER_PID=""
BG_PIDS=()
TOPO_CLI_TIMEOUT=120 # a client still running after 2 minutes is stopped

reset_state() {
    local pid
    for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    BG_PIDS=()
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; if [ -n "${OFFLOAD_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

# from an address of its own, so that scrapes count against no client's rate limit but their own
metrics() { cli curl -sS -m 5 --interface 10.77.0.4 --http2-prior-knowledge "$URL/metrics" 2>/dev/null; }
# metric NAME: the sum of NAME's samples over workers
metric() { metrics | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { print s + 0 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# h2load_field OUTPUT FIELD: from h2load's "requests: N total, N started, N done, N succeeded, N failed,
# N errored, N timeout" and "status codes: N 2xx, N 3xx, N 4xx, N 5xx" lines
h2load_field() {
    case $2 in
    total | started | done | succeeded | failed | errored | timeout)
        sed -n "s/^requests:.* \([0-9]*\) $2.*/\1/p" <<<"$1" | head -1
        ;;
    2xx | 5xx | 4xx) sed -n "s/^status codes:.* \([0-9]*\) $2.*/\1/p" <<<"$1" | head -1 ;;
    esac
}

# ---- the cases ------------------------------------------------------------------------------------

handlers() {
    local dp=$1 body want
    # right after "ready", within one SYN retransmission time: a fresh worker sheds no SYN
    body=$(cli curl -sS -m 10 --connect-timeout 0.7 --http2-prior-knowledge "$URL/sleep/50" 2>&1)
    if [ "$body" = "slept 50 ms" ]; then ok "$dp: GET /sleep/50 over HTTP/2, connected at once after ready"; else not_ok "$dp: GET /sleep/50 over HTTP/2, connected at once after ready" "got '$body'"; fi
    body=$(cli curl -sS -m 10 --http1.1 "$URL/sleep/1" 2>&1)
    if [ "$body" = "slept 1 ms" ]; then ok "$dp: GET /sleep/1 over HTTP/1.1"; else not_ok "$dp: GET /sleep/1 over HTTP/1.1" "got '$body'"; fi
    want=$("$STREAM_CAT" $((8 << 20)) 0 | sha256sum | cut -d' ' -f1)
    body=$(cli curl -sS -m 20 --http2-prior-knowledge "$URL/sha256/8" 2>&1)
    if [ "$body" = "$want" ]; then ok "$dp: GET /sha256/8 is the digest of 8 MiB of the stream"; else not_ok "$dp: GET /sha256/8 is the digest of 8 MiB of the stream" "got '$body', want $want"; fi
    body=$(cli curl -sS -m 10 -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$URL/sleep/x" 2>&1)
    if [ "$body" = 400 ]; then ok "$dp: GET /sleep/x is 400"; else not_ok "$dp: GET /sleep/x is 400" "got $body"; fi
    body=$(cli curl -sS -m 10 -I --http2-prior-knowledge "$URL/sleep/1" 2>&1 | head -1 | tr -d '\r')
    if [[ $body == "HTTP/2 200"* ]]; then ok "$dp: HEAD /sleep/1 is 200"; else not_ok "$dp: HEAD /sleep/1 is 200" "got '$body'"; fi
    if [ "$(metric sluice_http_offloaded_total)" -ge 4 ]; then ok "$dp: the requests went through the pool"; else not_ok "$dp: the requests went through the pool" "sluice_http_offloaded_total $(metric sluice_http_offloaded_total)"; fi
}

# healthz_beside_sleeps DP LABEL N: N streams of GET /sleep/1000 in flight on the one worker, then 20
# GETs of /healthz; sets how long /healthz took and whether the sleeps were all still out
healthz_beside_sleeps() {
    local out t0 t1 bg before
    [ "$2" = pool ] && before=$(metric sluice_http_offloaded_total)
    nsenter --net=/run/netns/$TOPO-cli -- timeout 60 h2load -n "$3" -c 1 -m "$3" "$URL/sleep/1000" >"$WORK/sleeps-$2.txt" 2>&1 &
    bg=$!
    BG_PIDS+=("$bg")
    if [ "$2" = pool ]; then
        for _ in $(seq 30); do # until all are on the pool
            [ "$(metric sluice_http_offloaded_total)" -ge $((before + $3)) ] && break
            sleep 0.1
        done
    else
        sleep 1 # the worker sleeps their 4 s one after the other; /metrics would wait too
    fi
    t0=$(date +%s%N)
    out=$(cli h2load -n 20 -c 1 -m 1 "$URL/healthz" 2>&1)
    t1=$(date +%s%N)
    HEALTHZ_OK=$(h2load_field "$out" 2xx)
    HEALTHZ_MS=$(((t1 - t0) / 1000000))
    if kill -0 "$bg" 2>/dev/null; then SLEEPS_OUT=1; else SLEEPS_OUT=0; fi
    wait "$bg" 2>/dev/null
    BG_PIDS=()
    SLEEPS_DONE=$(h2load_field "$(cat "$WORK/sleeps-$2.txt")" 2xx)
}

isolation() {
    local dp=$1
    healthz_beside_sleeps "$dp" pool 64
    if [ "${HEALTHZ_OK:-0}" = 20 ] && [ "$SLEEPS_OUT" = 1 ]; then
        ok "$dp: with the pool, 20 GET /healthz answered while 64 GET /sleep/1000 were all out (${HEALTHZ_MS} ms)"
    else
        not_ok "$dp: with the pool, 20 GET /healthz answered while 64 GET /sleep/1000 were all out" "healthz 2xx ${HEALTHZ_OK:-none}, sleeps still out: $SLEEPS_OUT, ${HEALTHZ_MS} ms"
    fi
    if [ "${SLEEPS_DONE:-0}" = 64 ]; then ok "$dp: the 64 sleeps all answered 200"; else not_ok "$dp: the 64 sleeps all answered 200" "2xx: ${SLEEPS_DONE:-none}"; fi
    if [ "$(metric sluice_offload_grown_total)" -ge 1 ]; then ok "$dp: the pool grew under the sleeps ($(metric sluice_offload_grown_total) threads added)"; else not_ok "$dp: the pool grew under the sleeps" "sluice_offload_grown_total 0"; fi
}

isolation_without_pool() {
    local dp=$1
    healthz_beside_sleeps "$dp" nopool 4
    echo "# $dp: with the pool disabled, 20 GET /healthz beside 4 GET /sleep/1000 on the same worker took ${HEALTHZ_MS} ms (sleeps still out when they finished: $SLEEPS_OUT)"
    if [ "${HEALTHZ_OK:-0}" = 20 ]; then ok "$dp: without the pool, /healthz is still answered (after the worker's sleeps)"; else not_ok "$dp: without the pool, /healthz is still answered" "2xx ${HEALTHZ_OK:-none}"; fi
}

shedding() {
    local dp=$1 out ok2 s5 sent shed0 off0 shed off hdr
    shed0=$(metric sluice_http_offload_shed_total)
    off0=$(metric sluice_http_offloaded_total)
    out=$(cli h2load -n 64 -c 4 -m 16 "$URL/sleep/200" 2>&1)
    ok2=$(h2load_field "$out" 2xx)
    s5=$(h2load_field "$out" 5xx)
    sent=$(h2load_field "$out" done)
    shed=$(($(metric sluice_http_offload_shed_total) - shed0))
    off=$(($(metric sluice_http_offloaded_total) - off0))
    if [ "$sent" = 64 ] && [ $((ok2 + s5)) = 64 ] && [ "$s5" -gt 0 ]; then
        ok "$dp: 64 concurrent /sleep/200 on 1 thread and a queue of 8: $ok2 answered 200, $s5 answered 503"
    else
        not_ok "$dp: 64 concurrent /sleep/200 on 1 thread and a queue of 8: every one 200 or 503, some 503" "done $sent, 2xx $ok2, 5xx $s5"
    fi
    if [ "$shed" = "$s5" ] && [ "$off" = "$ok2" ]; then
        ok "$dp: counters add up (offloaded $off, shed $shed)"
    else
        not_ok "$dp: counters add up" "offloaded $off (client 2xx $ok2), shed $shed (client 5xx $s5)"
    fi
    # a 503's Retry-After: a client that keeps the queue full (each 503 is followed by another request),
    # then ask, a few times if a take left a place for an instant
    nsenter --net=/run/netns/$TOPO-cli -- timeout 30 h2load -n 3000 -c 1 -m 32 "$URL/sleep/200" >/dev/null 2>&1 &
    BG_PIDS+=("$!")
    for _ in $(seq 30); do # until the queue is full
        [ "$(metric sluice_offload_queued)" -ge 8 ] && break
        sleep 0.1
    done
    for _ in $(seq 20); do # a busy machine's client may leave the queue a place more often
        hdr=$(cli curl -sS -m 10 -D - -o /dev/null --http2-prior-knowledge "$URL/sleep/1" 2>&1 | tr -d '\r')
        grep -q '^HTTP/2 503' <<<"$hdr" && break
    done
    kill -TERM "${BG_PIDS[@]}" 2>/dev/null
    wait "${BG_PIDS[@]}" 2>/dev/null
    BG_PIDS=()
    if grep -q '^HTTP/2 503' <<<"$hdr" && grep -Eq '^retry-after: [1-9][0-9]*$' <<<"$hdr"; then
        ok "$dp: a shed request is 503 with Retry-After ($(grep '^retry-after' <<<"$hdr"))"
    else
        not_ok "$dp: a shed request is 503 with Retry-After" "$(head -5 <<<"$hdr" | tr '\n' '|')"
    fi
}

# abandoned DP: 5 GET /sleep/1000, each cancelled at once (HEADERS + RST_STREAM): the jobs run on and
# come back to requests that are gone
abandoned() {
    local dp=$1 before after code
    before=$(metric sluice_http_offload_abandoned_total)
    cli "$H2_FLOOD" --host $SRV4 --port "$PORT" --attack rapid-reset --count 5 --path /sleep/1000 --timeout 1 >/dev/null 2>&1
    sleep 1.2
    after=$(metric sluice_http_offload_abandoned_total)
    if [ "$after" -ge $((before + 5)) ]; then ok "$dp: clients gone while their requests ran are counted ($before -> $after)"; else not_ok "$dp: clients gone while their requests ran are counted" "$before -> $after"; fi
    code=$(cli curl -sS -m 5 -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$URL/sleep/1" 2>&1)
    if [ "$code" = 200 ]; then ok "$dp: then GET /sleep/1 is 200"; else not_ok "$dp: then GET /sleep/1 is 200" "got $code"; fi
}

# breaker DP: slow_ms 50, 3 failures open it for 1 s, 2 probes close it (from the second address: the
# first one's rate limit is rate_limited's)
breaker() {
    local dp=$1 codes="" hdr state i
    for i in 1 2 3; do codes="$codes $(cli curl --interface 10.77.0.3 -sS -m 5 -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$URL/sleep/100" 2>&1)"; done
    hdr=$(cli curl --interface 10.77.0.3 -sS -m 5 -D - -o /dev/null --http2-prior-knowledge "$URL/sleep/1" 2>&1 | tr -d '\r')
    state=$(metrics | sed -n 's|^sluice_offload_breaker_state{route="GET /sleep/:ms"} ||p')
    if [ "$codes" = " 200 200 200" ] && grep -q '^HTTP/2 503' <<<"$hdr" && grep -Eq '^retry-after: [1-9]' <<<"$hdr" && [ "$state" = 1 ]; then
        ok "$dp: three runs over slow_ms open the route's breaker: 503 with Retry-After at once, state open"
    else
        not_ok "$dp: three runs over slow_ms open the route's breaker" "slow ones:$codes; then: $(head -1 <<<"$hdr"), $(grep retry-after <<<"$hdr"); state ${state:-none}"
    fi
    if [ "$(cli curl --interface 10.77.0.3 -sS -m 5 -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$URL/sha256/1" 2>&1)" = 200 ]; then ok "$dp: another offloaded route is not affected"; else not_ok "$dp: another offloaded route is not affected" "GET /sha256/1 not 200"; fi
    sleep 1.1
    codes=""
    for i in 1 2 3; do codes="$codes $(cli curl --interface 10.77.0.3 -sS -m 5 -o /dev/null -w '%{http_code}' --http2-prior-knowledge "$URL/sleep/1" 2>&1)"; done
    state=$(metrics | sed -n 's|^sluice_offload_breaker_state{route="GET /sleep/:ms"} ||p')
    if [ "$codes" = " 200 200 200" ] && [ "$state" = 0 ]; then ok "$dp: after breaker_open_ms, two probes close it again"; else not_ok "$dp: after breaker_open_ms, two probes close it again" "codes:$codes, state ${state:-none}"; fi
}

# rate_limited DP: 5 requests/s and a burst of 10 per client address
rate_limited() {
    local dp=$1 out ok2 s4 before after hdr code
    before=$(metric sluice_http_rate_limited_total)
    out=$(cli h2load -n 40 -c 1 -m 1 "$URL/healthz" 2>&1)
    ok2=$(h2load_field "$out" 2xx)
    s4=$(h2load_field "$out" 4xx)
    after=$(metric sluice_http_rate_limited_total)
    if [ "$ok2" -ge 10 ] && [ "$ok2" -le 15 ] && [ $((ok2 + s4)) = 40 ] && [ "$((after - before))" = "$s4" ]; then
        ok "$dp: 40 requests in a row at 5/s and a burst of 10: $ok2 answered, $s4 refused 429 and counted"
    else
        not_ok "$dp: 40 requests in a row at 5/s and a burst of 10: 10 to 15 answered, the rest 429 and counted" "2xx ${ok2:-?}, 4xx ${s4:-?}, counted $((after - before))"
    fi
    # asked until refused: one request alone may find a token back on a busy machine, but each 200 takes
    # one and at 5/s they cannot come back as fast as curl asks (one connection each: curl 7.88 breaks
    # reusing an HTTP/2 prior-knowledge connection for a second URL)
    for _ in $(seq 15); do
        hdr=$(cli curl -sS -m 5 -D - -o /dev/null --http2-prior-knowledge "$URL/healthz" 2>&1 | tr -d '\r')
        grep -q '^HTTP/2 429' <<<"$hdr" && break
    done
    if grep -q '^HTTP/2 429' <<<"$hdr" && grep -Eq '^retry-after: [1-9]' <<<"$hdr"; then ok "$dp: a limited request is 429 with Retry-After"; else not_ok "$dp: a limited request is 429 with Retry-After" "$(head -3 <<<"$hdr" | tr '\n' '|')"; fi
    code=$(cli curl -sS -m 5 -o /dev/null -w '%{http_code}' --interface 10.77.0.3 --http2-prior-knowledge "$URL/healthz" 2>&1)
    if [ "$code" = 200 ]; then ok "$dp: another client address is served meanwhile"; else not_ok "$dp: another client address is served meanwhile" "got $code"; fi
}

# overload DP SECONDS: 9600 requests/s of /sleep/5 (64 clients x 150/s, up to 32 streams each: more
# than the pool's queue and threads hold) against the defaults' 3200/s
overload() {
    local dp=$1 secs=$2 out ok2 s5 done_ started timeouts rss0 rss1 off0 shed0 off shed after
    rss0=$(rss_kb)
    off0=$(metric sluice_http_offloaded_total)
    shed0=$(metric sluice_http_offload_shed_total)
    out=$(cli h2load -c 64 -m 32 --rps 150 -D "$secs" "$URL/sleep/5" 2>&1)
    ok2=$(h2load_field "$out" 2xx)
    s5=$(h2load_field "$out" 5xx)
    done_=$(h2load_field "$out" done)
    started=$(h2load_field "$out" started)
    timeouts=$(h2load_field "$out" timeout)
    echo "# $dp: ${secs} s at 9600 requests/s of /sleep/5: $(grep -E '^(finished in|requests:|status codes:)' <<<"$out" | tr '\n' ' ')"
    if [ -n "$done_" ] && [ "$done_" -gt 0 ] && [ $((ok2 + s5)) = "$done_" ] && [ "${timeouts:-1}" = 0 ] && [ "$s5" -gt 0 ]; then
        ok "$dp: overload at 3x capacity for ${secs} s: every request 200 ($ok2) or 503 ($s5), none timed out"
    else
        not_ok "$dp: overload at 3x capacity for ${secs} s: every request 200 or 503, none timed out" "done ${done_:-?}, 2xx ${ok2:-?}, 5xx ${s5:-?}, timeout ${timeouts:-?}"
    fi
    # h2load stops at its deadline with requests in flight: those the server had read are offloaded (the
    # pool still runs them) or shed (the 503 went to a closed connection), those still on the wire when
    # the client closed never reach it
    sleep 1
    off=$(($(metric sluice_http_offloaded_total) - off0))
    shed=$(($(metric sluice_http_offload_shed_total) - shed0))
    local inflight=$((started - done_)) unseen=$((off - ok2 + shed - s5))
    if [ "$off" -ge "$ok2" ] && [ "$shed" -ge "$s5" ] && [ "$unseen" -le "$inflight" ]; then
        ok "$dp: the server's counters add up to the client's ($off offloaded, $ok2 answered 200; $shed shed, $s5 answered 503; $unseen of the $inflight in flight when the client stopped)"
    else
        not_ok "$dp: the server's counters add up to the client's" "offloaded $off vs 2xx $ok2, shed $shed vs 5xx $s5, $unseen unseen vs $inflight in flight"
    fi
    rss1=$(rss_kb)
    echo "# $dp: server VmRSS ${rss0} kB before, ${rss1} kB after"
    if [ "$rss1" -le $((rss0 + 65536)) ]; then ok "$dp: memory stayed bounded (VmRSS +$(((rss1 - rss0))) kB)"; else not_ok "$dp: memory stayed bounded" "VmRSS ${rss0} -> ${rss1} kB"; fi
    after=$(cli h2load -n 1000 -c 8 -m 1 "$URL/sleep/5" 2>&1)
    if [ "$(h2load_field "$after" 2xx)" = 1000 ]; then ok "$dp: after the load, 1000 GET /sleep/5 at 8 x 1 all 200"; else not_ok "$dp: after the load, 1000 GET /sleep/5 at 8 x 1 all 200" "$(grep -E '^status codes' <<<"$after")"; fi
}

# ---- the runs -------------------------------------------------------------------------------------

printf '[offload]\nmax_threads = 1\nmin_threads = 1\nqueue_max = 8\n' >"$WORK/small.conf"
printf '[offload]\nmax_threads = 0\n' >"$WORK/nopool.conf"
printf '[offload]\nslow_ms = 50\nbreaker_failures = 3\nbreaker_open_ms = 1000\nbreaker_probes = 2\n[http]\nrate_limit_rps = 5\nrate_limit_burst = 10\n' >"$WORK/limits.conf"

topo_down $TOPO
topo_up $TOPO >/dev/null
cli ip addr add 10.77.0.3/24 dev $TOPO-c # a second client address, for the per-client limit
cli ip addr add 10.77.0.4/24 dev $TOPO-c # and one for /metrics
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080
        ARGS=(--datapath socket --http $PORT)
        STOPPED="stopped"
        SECS=${OFFLOAD_OVERLOAD_SOCKET_S:-5}
        ;;
    xdp)
        PORT=80
        ARGS=(--dev "$DEV" --http $PORT)
        STOPPED="every frame returned"
        SECS=${OFFLOAD_OVERLOAD_S:-30}
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        continue
        ;;
    esac
    URL=http://$SRV4:$PORT
    topo_start_server "$dp" 1 "${ARGS[@]}"
    handlers "$dp"
    isolation "$dp"
    abandoned "$dp"
    overload "$dp" "$SECS"
    topo_stop_server "$dp" "$STOPPED"
    topo_start_server "$dp-small" 1 --config "$WORK/small.conf" "${ARGS[@]}"
    shedding "$dp"
    topo_stop_server "$dp-small" "$STOPPED"
    topo_start_server "$dp-limits" 1 --config "$WORK/limits.conf" "${ARGS[@]}"
    rate_limited "$dp"
    breaker "$dp"
    topo_stop_server "$dp-limits" "$STOPPED"
    topo_start_server "$dp-nopool" 1 --config "$WORK/nopool.conf" "${ARGS[@]}"
    isolation_without_pool "$dp"
    topo_stop_server "$dp-nopool" "$STOPPED"
    [ "$dp" = xdp ] && agent unload --dev "$DEV" >/dev/null
done
