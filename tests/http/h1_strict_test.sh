#!/usr/bin/env bash
# h1_strict_test.sh — the acceptance test of issue 12, "HTTP/1.1 made strict and leak-free": raw
# requests from tests/http/h1_probe against sluice-server on both datapaths, in a topology of its own.
#
#   tests/http/h1_strict_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
# What it holds the server to (RFC 9112 unless said otherwise):
#   - a request head too large (64 KiB to 1 MiB) is 431 and the server closes; a client still
#     blocked writing the head gets the 431 (the server reads and discards after answering);
#   - 100 such requests leave no connection open (sluice_connections_open) and, on the socket
#     datapath, no descriptor behind;
#   - framing the parser cannot trust is 400 and the close, never a second request read from it:
#     a space before the colon (5.1), bad chunk sizes and LF-only chunk lines (7.1), a last coding
#     other than chunked (6.3), Transfer-Encoding in HTTP/1.0 (6.1); a coding it does not know under
#     chunked is 501;
#   - Host missing or twice in HTTP/1.1 is 400 (RFC 9110 7.2, 3.2), a field name with a space or an
#     obs-fold is 400 (5.1, 5.2); HTTP/2.0 on a request line is 505; HTTP/1.2 is served as 1.1;
#   - HTTP/1.0 gets no chunked response, keep-alive when it asks for it, and Connection: close ends
#     an HTTP/1.1 connection; pipelined requests are answered in order;
#   - with the stream pool taken ([http] max_streams = 16, one worker), a request is 503 with
#     Retry-After, never 400, and is served again once the pool has room;
#   - every rejection is counted in /metrics under a per-reason counter (see H1_REJECT_NAME).
# After every case a plain GET /healthz on a fresh connection must still be 200.
#
# Servers run in the server namespace, the probe and curl in the client namespace. Needs root; run
# it under `flock /tmp/sluice-net.lock` beside other namespace suites. H1_STRICT_KEEP=1 keeps the
# server logs and probe outputs.
set -u

BUILD=${1:?usage: h1_strict_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=sh1strict
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
PROBE=$(realpath "$ROOT/$BUILD/tests/h1_probe")
WORK=$(mktemp -d)
SERVER_PID=""
HOLD_PIDS=()
PROBE_MS=3000 # the probe's deadline for one exchange: a server that should have closed by then has not

TOPO_CLI_TIMEOUT=60 # cli (tests/lib/topo.sh): a client still running after 60 s is stopped

# The strict parser's refusals, one sample per worker and reason (h1_parse.h's H1_ERRORS labels);
# a request refused for want of a stream is counted apart, as a pool exhaustion.
H1_REJECT_NAME='sluice_http1_refused_total'
reason_re() { printf '%s' "$1"; }
pool_exhausted() { metrics | awk '/^sluice_http_pool_exhausted_total[{ ]/ { s += $NF } END { print s + 0 }'; }

release_holds() {
    local pid
    for pid in "${HOLD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${HOLD_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    HOLD_PIDS=()
}

reset_state() {
    release_holds
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
# H1_STRICT_KEEP=1 keeps the scratch folder (server logs, probe outputs) for a look afterwards
trap 'reset_state; if [ -n "${H1_STRICT_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

# ---- the probe and what its output says ------------------------------------------------------------

# probe REQUEST [OPTION...]: one exchange on a fresh connection; its output is in $OUT
probe() {
    local req=$1
    shift
    OUT=$(cli "$PROBE" --timeout-ms $PROBE_MS "$@" $SRV4 "$PORT" "$req" 2>&1)
}
statuses() { printf '%s\n' "$OUT" | sed -n 's/^status=\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
closed_how() { printf '%s\n' "$OUT" | sed -n 's/^closed=//p'; }
server_closed() { [[ $(closed_how) =~ ^(fin|rst)$ ]]; }
has_line() { printf '%s\n' "$OUT" | grep -Eiq -- "$1"; }
summary() { printf '%s' "$OUT" | grep -v '^header=' | tr '\n' ' ' | cut -c1-200; }

metrics() { cli curl -sS -m 5 --http2-prior-knowledge "$URL/metrics" 2>/dev/null; }

# rejections REASON: the sum over workers of the rejection counter's samples for REASON
rejections() {
    metrics | grep -E "^$H1_REJECT_NAME\\{([^}]*,)?reason=\"$(reason_re "$1")\"" | awk '{ s += $NF } END { print s + 0 }'
}

app_counter() { metrics | awk "/^sluice_app_$1_total[{ ]/ { s += \$NF } END { print s + 0 }"; }
server_fds() { ls "/proc/$SERVER_PID/fd" | wc -l; }
# settles LIMIT CMD...: the number CMD prints, polled for up to 5 s until it is at most LIMIT
settles() {
    local limit=$1 value
    shift
    for _ in $(seq 25); do
        value=$("$@")
        [ "$value" -le "$limit" ] && break
        sleep 0.2
    done
    echo "$value"
}
open_conns() { metrics | awk '/^sluice_connections_open[{ ]/ { s += $NF } END { print s + 0 }'; }

healthz_after() {
    local code
    code=$(cli curl -sS -m 5 --http1.1 -o /dev/null -w '%{http_code}' "$URL/healthz" 2>&1)
    if [ "$code" = 200 ]; then ok "$1: then GET /healthz is 200"; else not_ok "$1: then GET /healthz is 200" "got $code"; fi
}

# counted LABEL BEFORE REASON [AT-LEAST]: the rejection counter for REASON grew by AT-LEAST (1)
counted() {
    local after
    after=$(rejections "$3")
    if [ "$after" -ge $(($2 + ${4:-1})) ]; then
        ok "$1: counted in /metrics"
    else
        not_ok "$1: counted in /metrics" "no ${H1_REJECT_NAME}{reason=\"$3\"…} sample grew by ${4:-1} ($2 -> $after)"
    fi
}

# reject LABEL WANT CLOSE REASON REQUEST [PROBE-OPTION...]: exactly one response, status WANT; with
# CLOSE=close the server also ends the connection (FIN or RST, not the probe's deadline); then
# /healthz still works and the rejection was counted under REASON
reject() {
    local label=$1 want=$2 close=$3 reason=$4 req=$5 before got
    shift 5
    before=$(rejections "$reason")
    probe "$req" "$@"
    got=$(statuses)
    if [ "$close" = close ]; then label="$label: $want and the server closes"; else label="$label: $want"; fi
    if [ "$got" != "$want" ]; then
        not_ok "$label" "status lines '$got' (exactly one $want expected): $(summary)"
    elif [ "$close" = close ] && ! server_closed; then
        not_ok "$label" "closed=$(closed_how): $(summary)"
    else
        ok "$label"
    fi
    healthz_after "$label"
    counted "$label" "$before" "$reason"
}

# served LABEL WANT-STATUSES REQUEST [PROBE-OPTION...]: the status lines are exactly WANT-STATUSES
served() {
    local label=$1 want=$2 req=$3 got
    shift 3
    probe "$req" "$@"
    got=$(statuses)
    if [ "$got" = "$want" ]; then ok "$label"; else not_ok "$label" "status lines '$got', expected '$want': $(summary)"; fi
}

# ---- the cases ------------------------------------------------------------------------------------

H='Host: h1strict\r\n'
CHUNKED="POST /echo HTTP/1.1\\r\\n${H}Transfer-Encoding: chunked\\r\\n\\r\\n"

head_limits() {
    local dp=$1 size
    for size in 65536 131072 262144 1048576; do
        reject "$dp: a $((size >> 10)) KiB head" 431 close head_too_large \
            "GET /healthz HTTP/1.1\\r\\n$H" --pad-header $size
    done
    # the same 1 MiB, from a client that reads while it writes
    reject "$dp: a 1 MiB head, the client reading while it sends" 431 close head_too_large \
        "GET /healthz HTTP/1.1\\r\\n$H" --pad-header 1048576 --interleave
}

# 100 requests with 1 MiB heads, 8 at a time: each 431, and nothing left open afterwards
head_leaks() {
    local dp=$1 label before_conns before_fds="" before conns fds n
    label="$dp: 100 requests with 1 MiB heads"
    before=$(rejections head_too_large)
    before_conns=$(open_conns)
    [ "$dp" = socket ] && before_fds=$(server_fds)
    seq 100 | xargs -P 8 -I{} nsenter --net=/run/netns/$TOPO-cli -- timeout 30 "$PROBE" --timeout-ms $PROBE_MS \
        --pad-header 1048576 $SRV4 "$PORT" "GET /healthz HTTP/1.1\\r\\n$H" >"$WORK/leak-$dp.out" 2>&1
    n=$(grep -c '^status=431 ' "$WORK/leak-$dp.out")
    if [ "$n" = 100 ]; then ok "$label: each is 431"; else not_ok "$label: each is 431" "$n of 100"; fi
    n=$(grep -Ec '^closed=(fin|rst)$' "$WORK/leak-$dp.out")
    if [ "$n" = 100 ]; then ok "$label: the server closes each"; else not_ok "$label: the server closes each" "$n of 100 ($(grep -c '^closed=timeout' "$WORK/leak-$dp.out") timed out)"; fi
    conns=$(settles "$before_conns" open_conns)
    if [ "$conns" -le "$before_conns" ]; then
        ok "$label: sluice_connections_open back to $before_conns within 5 s"
    else
        not_ok "$label: sluice_connections_open back to $before_conns within 5 s" "still $conns"
    fi
    if [ "$dp" = socket ]; then
        fds=$(settles "$before_fds" server_fds)
        if [ "$fds" -le "$before_fds" ]; then
            ok "$label: the server's descriptors back to $before_fds"
        else
            not_ok "$label: the server's descriptors back to $before_fds" "still $fds"
        fi
    fi
    healthz_after "$label"
    counted "$label" "$before" head_too_large 100
}

framing() {
    local dp=$1 hidden before got
    # a request of exactly 42 bytes hidden in the body of one whose Content-Length has a space before
    # the colon: a lenient parser that drops the field answers it as a second request
    hidden="GET /healthz HTTP/1.1\\r\\nHost: smuggled1\\r\\n\\r\\n"
    [ "$(printf '%b' "$hidden" | wc -c)" = 42 ] || not_ok "$dp: the hidden request is 42 bytes" "$(printf '%b' "$hidden" | wc -c)"
    reject "$dp: Content-Length with a space before the colon, a request in its body" 400 close field_name \
        "POST /echo HTTP/1.1\\r\\n${H}Content-Length : 42\\r\\n\\r\\n$hidden"

    # bad chunk sizes and LF-only chunk lines: the whole request in one write
    reject "$dp: chunk size 'zz'" 400 close chunk_size "${CHUNKED}zz\\r\\nhello\\r\\n0\\r\\n\\r\\n"
    reject "$dp: chunk size '-5'" 400 close chunk_size "${CHUNKED}-5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
    reject "$dp: chunk size '0x5'" 400 close chunk_size "${CHUNKED}0x5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
    reject "$dp: chunk size 'ffffffffffffffffff' (overflow)" 400 close chunk_size \
        "${CHUNKED}ffffffffffffffffff\\r\\nhello\\r\\n0\\r\\n\\r\\n"
    reject "$dp: chunk lines ending in LF only" 400 close chunk_line_end "${CHUNKED}5\\nhello\\n0\\n\\n"

    # transfer codings
    reject "$dp: Transfer-Encoding: gzip (last coding not chunked)" 400 close transfer_encoding \
        "POST /echo HTTP/1.1\\r\\n${H}Transfer-Encoding: gzip\\r\\n\\r\\nhello"
    reject "$dp: Transfer-Encoding: gzip, chunked" 501 - unknown_coding \
        "POST /echo HTTP/1.1\\r\\n${H}Transfer-Encoding: gzip, chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
    reject "$dp: Transfer-Encoding in an HTTP/1.0 request" 400 - te_http10 \
        "POST /echo HTTP/1.0\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
}

fields() {
    local dp=$1
    reject "$dp: HTTP/1.1 without Host" 400 - host 'GET /healthz HTTP/1.1\r\n\r\n'
    reject "$dp: HTTP/1.1 with two Host" 400 - host "GET /healthz HTTP/1.1\\r\\n${H}Host: other\\r\\n\\r\\n"
    served "$dp: HTTP/1.0 without Host is 200" 200 'GET /healthz HTTP/1.0\r\n\r\n'
    healthz_after "$dp: HTTP/1.0 without Host"
    reject "$dp: a field name with a space" 400 - field_name "GET /healthz HTTP/1.1\\r\\n${H}X Bad: 1\\r\\n\\r\\n"
    reject "$dp: obs-fold (a line starting with SP)" 400 - obs_fold \
        "GET /healthz HTTP/1.1\\r\\n${H}X-Folded: one\\r\\n two\\r\\n\\r\\n"
}

versions() {
    local dp=$1
    reject "$dp: request line GET / HTTP/2.0" 505 - version_unsupported "GET /healthz HTTP/2.0\\r\\n$H\\r\\n"
    served "$dp: HTTP/1.2 is served" 200 "GET /healthz HTTP/1.2\\r\\n$H\\r\\n"
    if has_line '^status=200 version=HTTP/1\.1$'; then
        ok "$dp: HTTP/1.2 is answered with an HTTP/1.1 status line"
    else
        not_ok "$dp: HTTP/1.2 is answered with an HTTP/1.1 status line" "$(summary)"
    fi
    healthz_after "$dp: HTTP/1.2"
}

connections() {
    local dp=$1 label body back
    body=$WORK/echo-in-$dp back=$WORK/echo-back-$dp
    # HTTP/1.0 POST /echo: a length-delimited (or close-delimited) body, never chunked, then the close
    head -c 100000 /dev/urandom >"$body"
    label="$dp: HTTP/1.0 POST /echo"
    probe 'POST /echo HTTP/1.0\r\nContent-Length: 100000\r\n\r\n' --file "$body" --headers --body-out "$back"
    if [ "$(statuses)" != 200 ]; then
        not_ok "$label: 200" "$(summary)"
    elif has_line '^header=transfer-encoding:.*chunked'; then
        not_ok "$label: no chunked response to HTTP/1.0" "$(printf '%s\n' "$OUT" | grep -i '^header=transfer-encoding')"
    elif ! cmp -s "$body" "$back"; then
        not_ok "$label: the body comes back" "$(stat -c %s "$back") bytes back, not the 100000 sent: $(summary)"
    elif ! server_closed; then
        not_ok "$label: the server closes" "closed=$(closed_how)"
    else
        ok "$label: 200, not chunked, the body back, then the close"
    fi
    healthz_after "$label"

    # HTTP/1.0 with Connection: keep-alive and a known length: both requests answered on one connection
    label="$dp: HTTP/1.0 Connection: keep-alive, GET /bytes/100 twice on one connection"
    probe 'GET /bytes/100 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /bytes/100 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
    if [ "$(statuses)" = "200 200" ] && [ "$(printf '%s\n' "$OUT" | grep -c '^body=100$')" = 2 ]; then
        ok "$label"
    else
        not_ok "$label" "$(summary)"
    fi
    healthz_after "$label"

    # HTTP/1.1 Connection: close
    label="$dp: HTTP/1.1 Connection: close"
    probe "GET /healthz HTTP/1.1\\r\\n${H}Connection: close\\r\\n\\r\\n" --headers
    if [ "$(statuses)" = 200 ] && has_line '^header=connection: *close$' && server_closed; then
        ok "$label: the response says connection: close, then the server closes"
    else
        not_ok "$label: the response says connection: close, then the server closes" "$(summary) $(printf '%s\n' "$OUT" | grep -i '^header=connection')"
    fi
    healthz_after "$label"

    # pipelining: two GETs in one write, two 200s in order (told apart by their lengths)
    label="$dp: two pipelined GETs in one write"
    probe "GET /bytes/7 HTTP/1.1\\r\\n$H\\r\\nGET /bytes/100 HTTP/1.1\\r\\n${H}Connection: close\\r\\n\\r\\n"
    if [ "$(statuses)" = "200 200" ] && [ "$(printf '%s\n' "$OUT" | sed -n 's/^body=//p' | tr '\n' ' ')" = "7 100 " ]; then
        ok "$label: two 200s in order"
    else
        not_ok "$label: two 200s in order" "$(summary)"
    fi
    healthz_after "$label"

    # a bad request after a good one on the same connection: the first is answered, the second
    # refused with its status (not a reset), then the close
    label="$dp: a request without Host pipelined after a good one"
    probe "GET /bytes/7 HTTP/1.1\\r\\n$H\\r\\nGET /bytes/100 HTTP/1.1\\r\\n\\r\\n"
    if [ "$(statuses)" = "200 400" ] && server_closed; then
        ok "$label: 200 then 400, then the server closes"
    else
        not_ok "$label: 200 then 400, then the server closes" "$(summary)"
    fi
    healthz_after "$label"
}

# stream pool exhaustion, on a server of its own: one worker, [http] max_streams = 16
exhaustion() {
    local dp=$1 label before i n
    label="$dp: stream pool exhausted"
    before=$(pool_exhausted)
    for i in $(seq 16); do
        nsenter --net=/run/netns/$TOPO-cli -- "$PROBE" --timeout-ms 30000 $SRV4 "$PORT" \
            "POST /echo HTTP/1.1\\r\\n${H}Content-Length: 1000000\\r\\n\\r\\nthe first bytes of a million" \
            >"$WORK/hold-$dp-$i.out" 2>&1 &
        HOLD_PIDS+=($!)
    done
    # each holds its stream once the head is in: the echo handler answers its 200 head at once
    for _ in $(seq 50); do
        n=$(cat "$WORK"/hold-"$dp"-*.out | grep -c '^status=')
        [ "$n" -ge 16 ] && break
        sleep 0.1
    done
    sleep 0.2
    if [ "$(cat "$WORK"/hold-"$dp"-*.out | grep -c '^sent=')" = 16 ]; then
        ok "$label: 16 requests hold the 16 streams"
    else
        not_ok "$label: 16 requests hold the 16 streams" "$(cat "$WORK"/hold-"$dp"-*.out | grep -c '^sent=') sent, $n answered"
    fi
    probe "GET /healthz HTTP/1.1\\r\\n$H\\r\\n" --headers
    if [ "$(statuses)" = 503 ] && has_line '^header=retry-after: *[0-9]+$'; then
        ok "$label: a 17th request is 503 with Retry-After"
    else
        not_ok "$label: a 17th request is 503 with Retry-After" "$(summary) $(printf '%s\n' "$OUT" | grep -i '^header=retry-after')"
    fi
    release_holds
    n=""
    for _ in $(seq 25); do
        n=$(cli curl -sS -m 5 --http1.1 -o /dev/null -w '%{http_code}' "$URL/healthz" 2>&1)
        [ "$n" = 200 ] && break
        sleep 0.2
    done
    if [ "$n" = 200 ]; then ok "$label: once the 16 are gone, a request is 200"; else not_ok "$label: once the 16 are gone, a request is 200" "got $n"; fi
    if [ "$(pool_exhausted)" -gt "$before" ]; then
        ok "$label: the 503 counted as a pool exhaustion"
    else
        not_ok "$label: the 503 counted as a pool exhaustion" "sluice_http_pool_exhausted_total still $before"
    fi
}

# a client that keeps its side open after the server's close, and never reads: the lingering close
# ends it once [server] linger_ms (5 s by default) is up, with a reset, counted
linger_deadline() {
    local dp=$1 label="$dp: a client that never closes after the server did" before after
    before=$(app_counter linger_timeout)
    cli bash -c "exec 3<>/dev/tcp/$SRV4/$PORT && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && sleep 7"
    after=$(app_counter linger_timeout)
    if [ "$after" -gt "$before" ]; then
        ok "$label: reset at the linger deadline, counted"
    else
        not_ok "$label: reset at the linger deadline, counted" "sluice_app_linger_timeout_total $before -> $after"
    fi
    healthz_after "$label"
}

run_checks() {
    local dp=$1
    head_limits "$dp"
    head_leaks "$dp"
    framing "$dp"
    fields "$dp"
    versions "$dp"
    connections "$dp"
    linger_deadline "$dp"
}

CONF=$WORK/max-streams.conf
printf '[http]\nmax_streams = 16\n' >"$CONF"

reset_state
topo_up $TOPO >/dev/null
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080
        URL=http://$SRV4:$PORT
        topo_start_server socket 2 --datapath socket --http $PORT
        run_checks socket
        topo_stop_server socket "stopped"
        topo_start_server socket-16 1 --config "$CONF" --datapath socket --http $PORT
        exhaustion socket
        topo_stop_server socket-16 "stopped"
        ;;
    xdp)
        PORT=80
        URL=http://$SRV4:$PORT
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        topo_start_server xdp 2 --dev "$DEV" --http $PORT
        run_checks xdp
        topo_stop_server xdp "every frame returned"
        topo_start_server xdp-16 1 --config "$CONF" --dev "$DEV" --http $PORT
        exhaustion xdp
        topo_stop_server xdp-16 "every frame returned"
        agent unload --dev "$DEV" >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        ;;
    esac
done
