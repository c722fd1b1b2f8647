#!/usr/bin/env bash
# slow_client_test.sh — slow and silent clients (issue 18): each deadline of sluice-server fires with
# the right outcome and counter, on both datapaths, in a topology of its own; clients that keep within
# the deadlines are not cut.
#
#   tests/http/slow_client_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
# The server runs with every deadline at SLOW_DEADLINE_MS (600 ms): [http] preface_timeout_ms,
# request_head_timeout_ms, body_timeout_ms, idle_timeout_ms and [tls] handshake_timeout_ms. Each case
# is one raw client of tests/http/slow_client.py (python3 sockets, its own HTTP/1.1 and HTTP/2 framing)
# that says what the server did (closed, GOAWAY NO_ERROR, 408, RST_STREAM CANCEL, or nothing), and
# the case's counter in /metrics must have gone up by exactly one, the other deadlines' by none:
#   - a connection that sends nothing (cleartext; after a TLS handshake with ALPN http/1.1), and a
#     request head sent a byte every 200 ms (slowloris): closed at the head deadline;
#   - a keep-alive connection idle after a request: closed (HTTP/2: GOAWAY NO_ERROR, then closed);
#   - an HTTP/2 preface with no SETTINGS, half a preface, and ALPN h2 with no preface: closed;
#   - a request body that stops: 408 and close (HTTP/1.1, nothing answered yet), a close (HTTP/1.1,
#     echo had answered), RST_STREAM CANCEL with the connection still serving (HTTP/2);
#   - a TLS connection that never sends its ClientHello: reset (sluice_app_handshake_timeout_total);
#   - within the deadlines: four requests 360 ms apart on one connection, and a body sent a byte every
#     200 ms (3 s in all), over HTTP/1.1 and HTTP/2: served in full, no counter moves.
# The HTTP/2 cases run again on the socket datapath with [http] h2 = nghttp2 (the reference session).
#
# Servers run in the server namespace, clients in the client namespace. Needs root, python3, openssl.
set -u

BUILD=${1:?usage: slow_client_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=sslow
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
CLIENT=$ROOT/tests/http/slow_client.py
PY=/usr/bin/python3
DEADLINE=${SLOW_DEADLINE_MS:-600}
WORK=$(mktemp -d)
SERVER_PID=""
TOPO_CLI_TIMEOUT=60 # a client still running after a minute is stopped

reset_state() {
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; if [ -n "${SLOW_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

COUNTERS=(sluice_http_request_head_timeout_total sluice_http_preface_timeout_total sluice_http_body_timeout_total
    sluice_http_idle_timeout_total sluice_app_handshake_timeout_total)

# counters: the deadline counters, summed over workers, in the order of COUNTERS (one line)
counters() {
    local m
    m=$(cli curl -sS -m 5 --http2-prior-knowledge "http://$SRV4:$PORT/metrics" 2>/dev/null)
    for c in "${COUNTERS[@]}"; do
        awk -v n="$c" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d ", s }' <<<"$m"
    done
}

# slow DP CASE PORT COUNTER|-: the case against PORT; COUNTER (one of COUNTERS) must go up by one and
# every other deadline counter stay, or with - none may move
slow() {
    local dp=$1 case=$2 port=$3 want=$4 before after out rc i=0 wrong=""
    read -ra before <<<"$(counters)"
    out=$(cli "$PY" "$CLIENT" "$case" $SRV4 "$port" "$DEADLINE" 2>&1)
    rc=$?
    sleep 0.2 # a scrape right after: what the worker counted is out (the client saw its effect already)
    read -ra after <<<"$(counters)"
    for c in "${COUNTERS[@]}"; do
        local d=$((after[i] - before[i])) expect=0
        [ "$c" = "$want" ] && expect=1
        [ "$d" = "$expect" ] || wrong="$wrong $c +$d (want +$expect)"
        i=$((i + 1))
    done
    if [ "$rc" = 0 ] && [ -z "$wrong" ]; then
        ok "$dp: $case: ${out#ok: }${want:+; $want +1}"
    else
        not_ok "$dp: $case" "$out;${wrong:- counters right}"
    fi
}

# ---- the runs -------------------------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=slow.test \
    -addext subjectAltName=DNS:slow.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
    not_ok "a self-signed certificate" "$(tail -2 "$WORK/openssl.log" | tr '\n' '|')"
printf '[http]\npreface_timeout_ms = %s\nrequest_head_timeout_ms = %s\nbody_timeout_ms = %s\nidle_timeout_ms = %s\n[tls]\nhandshake_timeout_ms = %s\n' \
    "$DEADLINE" "$DEADLINE" "$DEADLINE" "$DEADLINE" "$DEADLINE" >"$WORK/slow.conf"
{ printf '[http]\nh2 = nghttp2\n'; sed 1d "$WORK/slow.conf"; } >"$WORK/slow-nghttp2.conf"
declare -A WANT=([h2-no-settings]=sluice_http_preface_timeout_total [h2-partial-preface]=sluice_http_preface_timeout_total
    [h2-idle]=sluice_http_idle_timeout_total [h2-body-stall]=sluice_http_body_timeout_total)

topo_down $TOPO
topo_up $TOPO >/dev/null
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080 TPORT=8443
        ARGS=(--datapath socket --http $PORT)
        STOPPED="stopped"
        ;;
    xdp)
        PORT=80 TPORT=443
        ARGS=(--dev "$DEV" --http $PORT)
        STOPPED="every frame returned"
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $TPORT --tls >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        continue
        ;;
    esac
    topo_start_server "$dp" 1 --config "$WORK/slow.conf" "${ARGS[@]}" --https $TPORT --cert "$WORK/cert.pem" --key "$WORK/key.pem"
    slow "$dp" h1-silent $PORT sluice_http_request_head_timeout_total
    slow "$dp" h1-slowloris $PORT sluice_http_request_head_timeout_total
    slow "$dp" h1-idle $PORT sluice_http_idle_timeout_total
    slow "$dp" h1-keepalive $PORT ""
    slow "$dp" h1-body-stall $PORT sluice_http_body_timeout_total
    slow "$dp" h1-echo-stall $PORT sluice_http_body_timeout_total
    slow "$dp" h1-body-steady $PORT ""
    slow "$dp" h2-no-settings $PORT sluice_http_preface_timeout_total
    slow "$dp" h2-partial-preface $PORT sluice_http_preface_timeout_total
    slow "$dp" h2-idle $PORT sluice_http_idle_timeout_total
    slow "$dp" h2-keepalive $PORT ""
    slow "$dp" h2-body-stall $PORT sluice_http_body_timeout_total
    slow "$dp" h2-body-steady $PORT ""
    slow "$dp" tls-silent $TPORT sluice_app_handshake_timeout_total
    slow "$dp" tls-h1-silent $TPORT sluice_http_request_head_timeout_total
    slow "$dp" tls-h2-silent $TPORT sluice_http_preface_timeout_total
    topo_stop_server "$dp" "$STOPPED"
    if [ "$dp" = socket ]; then # the HTTP/2 deadlines again with nghttp2's session ([http] h2 = nghttp2)
        topo_start_server "$dp-nghttp2" 1 --config "$WORK/slow-nghttp2.conf" "${ARGS[@]}"
        for c in h2-no-settings h2-partial-preface h2-idle h2-body-stall; do
            slow "$dp-nghttp2" $c $PORT "${WANT[$c]}"
        done
        for c in h2-keepalive h2-body-steady; do slow "$dp-nghttp2" $c $PORT ""; done
        topo_stop_server "$dp-nghttp2" "$STOPPED"
    fi
    [ "$dp" = xdp ] && agent unload --dev "$DEV" >/dev/null
done
