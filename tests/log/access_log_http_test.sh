#!/usr/bin/env bash
# access_log_http_test.sh — the access log ([log] access, issue 19) of sluice-server against real
# clients, on both datapaths, in a topology of its own (NAME saccess).
#
#   tests/log/access_log_http_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
# For each datapath, with 2 workers and the json format (the socket one also over TLS: scheme https):
#   - one request at a time from curl over HTTP/1.1 and HTTP/2 (prior knowledge), IPv4 and IPv6: GET
#     with a query, a POST with a body, a HEAD, a 404, a 405; within a second of the response exactly one
#     new line, parsed with jq, whose method, path, query, status, bytes, protocol, client address, route
#     and user agent are what the client sent and received (curl -w), and whose worker is 0 or 1;
#   - three streams on one HTTP/2 connection from nghttp: three lines, one per path;
#   - a request whose body stops (slow_client.py), ended by body_timeout_ms: HTTP/1.1's line says 408
#     (what the client heard), HTTP/2's 499 (the stream reset), both with a duration of the deadline;
#   - the file renamed and SIGUSR1 sent while h2load makes 20000 requests: the lines of the old and the
#     new file are exactly the requests the server counted (sluice_http_requests_total), none dropped;
# then, on the socket datapath, [log] access_ring = 1024 (its least) under h2load: drops are counted
# (sluice_access_log_dropped_total > 0) and lines + dropped == requests; and the combined format's
# line for one curl request, field by field.
#
# Servers run in the server namespace, clients in the client namespace. Needs root, curl, nghttp,
# h2load, jq, python3, openssl.
set -u

BUILD=${1:?usage: access_log_http_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=saccess
DEV=$TOPO-s
SRV4=10.77.0.1 CLI4=10.77.0.2
SRV6=fd00:77::1 CLI6=fd00:77::2
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
WORK=$(mktemp -d)
SERVER_PID=""
TOPO_CLI_TIMEOUT=120 # a client still running after two minutes is stopped
STALL_MS=600         # [http] body_timeout_ms of the servers: the stalled-body cases wait this long

reset_state() {
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; if [ -n "${ACCESS_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

for tool in jq nghttp h2load curl; do
    command -v $tool >/dev/null || { skip "access log suite" "$tool is not installed (tools/deps.sh)"; exit 0; }
done

lines() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# wait_lines FILE... N: up to 1 s (20 x 50 ms) for the files to hold N lines together; true when they do
wait_lines() {
    local want=${*: -1} files=("${@:1:$#-1}") n f
    for _ in $(seq 20); do
        n=0
        for f in "${files[@]}"; do n=$((n + $(lines "$f"))); done
        [ "$n" -ge "$want" ] && break
        sleep 0.05
    done
    [ "$n" = "$want" ]
}

# scrape: /metrics into METRICS, once (the scrape is a request too: it counts itself, and has a line)
scrape() { METRICS=$(cli curl -sS -m 5 "http://$SRV4:$PORT/metrics"); }

# metric NAME: the sum over workers of a counter of the last scrape
metric() {
    awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }' <<<"$METRICS"
}

# one DP PROTO HOST CLIENT_ADDR METHOD TARGET ROUTE [CURL_ARGS...]: one curl request; within a second,
# exactly one new line, every field as the client saw it (ROUTE "null": none matched)
one() {
    local dp=$1 proto=$2 host=$3 addr=$4 method=$5 target=$6 route=$7 before got line ua path query want_proto
    local code size version want_version
    shift 7
    local label="$dp: $proto $method $target from $addr"
    ua="access-test/$RANDOM$RANDOM"
    path=${target%%\?*}
    query=""
    [ "$path" != "$target" ] && query=${target#*\?}
    case $proto in
    h1) want_proto=HTTP/1.1 want_version=1.1 ;;
    h2) want_proto=HTTP/2.0 want_version=2 ;;
    esac
    before=$(lines "$LOG")
    got=$(cli curl -sS -m 10 "--$([ "$proto" = h1 ] && echo http1.1 || echo http2-prior-knowledge)" -A "$ua" \
        -o /dev/null -w '%{http_code} %{size_download} %{http_version}' "$@" "http://$host:$PORT$target" 2>&1)
    read -r code size version <<<"$got"
    if ! wait_lines "$LOG" $((before + 1)); then
        not_ok "$label: one line within 1 s" "$(($(lines "$LOG") - before)) lines; curl: $got"
        return
    fi
    sleep 0.05 # a second line, if any, would come with the first batch
    line=$(tail -n +$((before + 1)) "$LOG")
    if [ "$(printf '%s\n' "$line" | wc -l)" != 1 ]; then
        not_ok "$label: exactly one line" "$(printf '%s' "$line" | head -3 | tr '\n' '|')"
        return
    fi
    local bad
    bad=$(jq -r --arg method "$method" --arg path "$path" --arg query "$query" --argjson status "$code" \
        --argjson bytes "$size" --arg proto "$want_proto" --arg addr "$addr" --arg ua "$ua" --arg route "$route" '
        [ (if .method != $method then "method \(.method)" else empty end),
          (if .path != $path then "path \(.path)" else empty end),
          (if .query != $query then "query \(.query)" else empty end),
          (if .status != $status then "status \(.status)" else empty end),
          (if .bytes != $bytes then "bytes \(.bytes)" else empty end),
          (if .protocol != $proto then "protocol \(.protocol)" else empty end),
          (if .remote_addr != $addr then "remote_addr \(.remote_addr)" else empty end),
          (if .user_agent != $ua then "user_agent \(.user_agent)" else empty end),
          (if (.route // "null") != $route then "route \(.route)" else empty end),
          (if (.worker | IN(0, 1)) | not then "worker \(.worker)" else empty end),
          (if (.duration_us | type) != "number" or (.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")) | not
           then "time \(.time) duration \(.duration_us)" else empty end)
        ] | join(", ")' <<<"$line" 2>&1)
    if [ -z "$bad" ] && [ "$version" = "$want_version" ]; then
        ok "$label: one line, $code $size bytes, $want_proto, route $route"
    else
        not_ok "$label: the line says what the client saw" "${bad:-curl said HTTP/$version}; curl: $got; line: $line"
    fi
}

# stalled DP CASE STATUS LINES: a request whose body stops (tests/http/slow_client.py CASE, GET /sleep/1
# with 10 of 100 body bytes), ended by [http] body_timeout_ms (STALL_MS): LINES new lines (HTTP/2's client
# makes one more request on the connection), the one of /sleep/1 with the status the client heard
# (HTTP/1.1: 408; HTTP/2: none, the stream reset: 499) and a duration of at least the deadline
stalled() {
    local dp=$1 case=$2 status=$3 want=$4 before out line bad
    before=$(lines "$LOG")
    out=$(cli /usr/bin/python3 "$ROOT/tests/http/slow_client.py" "$case" $SRV4 $PORT $STALL_MS 2>&1)
    if ! wait_lines "$LOG" $((before + want)); then
        not_ok "$dp: $case: $want line(s) within 1 s" "$(($(lines "$LOG") - before)) lines; client: $out"
        return
    fi
    line=$(tail -n +$((before + 1)) "$LOG" | jq -c 'select(.path == "/sleep/1")')
    bad=$(jq -r --argjson status "$status" --argjson min_us $((STALL_MS * 900)) '
        [ (if .method != "GET" then "method \(.method)" else empty end),
          (if .status != $status then "status \(.status)" else empty end),
          (if .route != "GET /sleep/:ms" then "route \(.route)" else empty end),
          (if .duration_us < $min_us then "duration_us \(.duration_us)" else empty end)
        ] | join(", ")' <<<"$line" 2>&1)
    if [ -z "$bad" ] && [ "$(printf '%s\n' "$line" | wc -l)" = 1 ]; then
        ok "$dp: $case: one line of /sleep/1, status $status after $(jq .duration_us <<<"$line") us (body deadline $STALL_MS ms)"
    else
        not_ok "$dp: $case: the line of a request ended by its body deadline" "${bad:-lines: $line}; client: $out"
    fi
}

# rotate DP: mv + SIGUSR1 while h2load runs; old + new lines == requests counted, none dropped
rotate() {
    local dp=$1 out requests dropped old new
    cli h2load -n 20000 -c 4 -m 16 "http://$SRV4:$PORT/healthz" >"$WORK/h2load-$dp.log" 2>&1 &
    local h2load_pid=$!
    for _ in $(seq 100); do # until about a tenth of the requests are in the file (10 s at most)
        [ "$(lines "$LOG")" -gt 2000 ] && break
        sleep 0.1
    done
    mv "$LOG" "$LOG.1"
    kill -USR1 "$SERVER_PID"
    wait $h2load_pid
    out=$(grep -E "^requests:" "$WORK/h2load-$dp.log")
    sleep 0.2
    scrape
    requests=$(metric sluice_http_requests_total) # the scrape's own request included
    dropped=$(metric sluice_access_log_dropped_total)
    wait_lines "$LOG.1" "$LOG" "$requests"
    old=$(lines "$LOG.1") new=$(lines "$LOG")
    if [[ $out == *"20000 succeeded"* ]] && [ "$new" -gt 0 ] && [ $((old + new)) = "$requests" ] && [ "$dropped" = 0 ]; then
        ok "$dp: SIGUSR1 during h2load -n 20000: $old lines in the renamed file + $new in the new one = $requests requests counted, 0 dropped"
    else
        not_ok "$dp: SIGUSR1 during h2load loses no line" "old $old + new $new, requests $requests, dropped $dropped; h2load: $out"
    fi
    check "$dp: the reopen is counted" test "$(metric sluice_access_log_reopened_total)" = 1
    check "$dp: no line lost to a write error" test "$(metric sluice_access_log_write_errors_total)" = 0
    check "$dp: the logger thread's CPU time is counted" awk '$1 == "sluice_access_log_cpu_seconds_total" && $2 > 0 { f = 1 } END { exit !f }' <<<"$METRICS"
    check "$dp: every line of both files is JSON" jq -e . "$LOG.1" "$LOG"
}

# ---- the runs -------------------------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=access.test \
    -addext subjectAltName=DNS:access.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
    not_ok "a self-signed certificate" "$(tail -2 "$WORK/openssl.log" | tr '\n' '|')"
topo_down $TOPO
topo_up $TOPO >/dev/null
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080
        ARGS=(--datapath socket --http $PORT --https 8443 --cert "$WORK/cert.pem" --key "$WORK/key.pem")
        STOPPED="stopped"
        ;;
    xdp)
        PORT=80
        ARGS=(--dev "$DEV" --http $PORT)
        STOPPED="every frame returned"
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        agent service add --dev "$DEV" --addr $SRV6 --port $PORT >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        continue
        ;;
    esac
    LOG=$WORK/access-$dp.log
    # a ring of 16 MiB (~150,000 of these records): the rotation under h2load must lose no line even when
    # the logger thread gets little CPU on a busy machine (drops have their own case, the tiny ring below)
    printf '[http]\nbody_timeout_ms = %s\n[log]\naccess = %s\naccess_format = json\naccess_ring = 16777216\n' \
        $STALL_MS "$LOG" >"$WORK/$dp.conf"
    topo_start_server "$dp" 2 --config "$WORK/$dp.conf" "${ARGS[@]}"
    for proto in h1 h2; do
        one "$dp" $proto $SRV4 $CLI4 GET "/bytes/100?seed=3" "GET /bytes/:n"
        one "$dp" $proto "[$SRV6]" $CLI6 GET "/healthz" "GET /healthz"
        one "$dp" $proto $SRV4 $CLI4 POST "/echo" "POST,PUT /echo" --data-binary "hello access log"
        one "$dp" $proto $SRV4 $CLI4 HEAD "/bytes/1000" "GET /bytes/:n" -I
        one "$dp" $proto $SRV4 $CLI4 GET "/nope?x=%22y" null
        one "$dp" $proto $SRV4 $CLI4 DELETE "/healthz" null -X DELETE
    done
    before=$(lines "$LOG")
    cli nghttp -n "http://$SRV4:$PORT/bytes/1" "http://$SRV4:$PORT/bytes/2" "http://$SRV4:$PORT/bytes/3" >/dev/null 2>&1
    if wait_lines "$LOG" $((before + 3)) &&
        [ "$(tail -n +$((before + 1)) "$LOG" | jq -r '"\(.protocol) \(.path) \(.status) \(.bytes)"' | sort | tr '\n' ' ')" = \
            "HTTP/2.0 /bytes/1 200 1 HTTP/2.0 /bytes/2 200 2 HTTP/2.0 /bytes/3 200 3 " ]; then
        ok "$dp: nghttp, 3 streams on one connection: 3 lines, one per path"
    else
        not_ok "$dp: nghttp, 3 streams on one connection: 3 lines" "$(tail -n +$((before + 1)) "$LOG" | head -5 | tr '\n' '|')"
    fi
    if [ "$dp" = socket ]; then # over TLS (ALPN h2): the same line, scheme https
        before=$(lines "$LOG")
        code=$(cli curl -sS -k --http2 --resolve access.test:8443:$SRV4 -o /dev/null -w '%{http_code} %{http_version}' \
            "https://access.test:8443/bytes/5")
        if wait_lines "$LOG" $((before + 1)) && [ "$code" = "200 2" ] &&
            [ "$(tail -n 1 "$LOG" | jq -r '"\(.scheme) \(.protocol) \(.path) \(.status) \(.bytes) \(.host)"')" = \
                "https HTTP/2.0 /bytes/5 200 5 access.test:8443" ]; then
            ok "$dp: TLS with ALPN h2: one line, scheme https"
        else
            not_ok "$dp: TLS: one line, scheme https" "curl: $code; $(tail -n +$((before + 1)) "$LOG" | head -3 | tr '\n' '|')"
        fi
    fi
    stalled "$dp" h1-body-stall 408 1
    stalled "$dp" h2-body-stall 499 2
    rotate "$dp"
    topo_stop_server "$dp" "$STOPPED"
    [ "$dp" = xdp ] && agent unload --dev "$DEV" >/dev/null
done

# a tiny ring under load: drops counted, lines + dropped == requests; then the combined format
if [[ " $DATAPATHS " == *" socket "* ]]; then
    PORT=8080
    LOG=$WORK/access-tiny.log
    printf '[log]\naccess = %s\naccess_ring = 1024\naccess_format = combined\n' "$LOG" >"$WORK/tiny.conf"
    topo_start_server tiny-ring 2 --config "$WORK/tiny.conf" --datapath socket --http $PORT
    out=$(cli h2load -n 20000 -c 4 -m 32 "http://$SRV4:$PORT/healthz" 2>&1 | grep -E "^requests:")
    sleep 0.2
    scrape
    requests=$(metric sluice_http_requests_total)
    dropped=$(metric sluice_access_log_dropped_total)
    wait_lines "$LOG" $((requests - dropped))
    n=$(lines "$LOG")
    if [ "$dropped" -gt 0 ] && [ $((n + dropped)) = "$requests" ]; then
        ok "tiny ring ([log] access_ring = 1024, its least) under h2load: $dropped dropped + $n lines = $requests requests"
    else
        not_ok "tiny ring: drops counted" "dropped $dropped + lines $n, requests $requests; h2load: $out"
    fi
    before=$(lines "$LOG")
    code=$(cli curl -sS --http1.1 -A "agent \"q\"" -e "http://ref.test/" -o /dev/null -w '%{http_code}' \
        "http://$SRV4:$PORT/bytes/7?a=b")
    if wait_lines "$LOG" $((before + 1)) &&
        tail -n 1 "$LOG" | grep -Eq "^$CLI4 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] \"GET /bytes/7\?a=b HTTP/1\.1\" $code 7 \"http://ref\.test/\" \"agent \\\\x22q\\\\x22\"$"; then
        ok "combined format: the line of a curl request, field by field"
    else
        not_ok "combined format: the line of a curl request" "$(tail -n 1 "$LOG")"
    fi
    topo_stop_server tiny-ring stopped
fi
