#!/usr/bin/env bash
# http_test.sh — sluice-server's HTTP/2 and HTTP/1.1 against real clients (curl, nghttp, h2load and
# raw bytes from bash), on both datapaths, in a topology of its own.
#
#   tests/http/http_test.sh BUILD_DIR [socket|xdp|xdp-mtu9000]...    (default: all three)
#
# The server runs in the server namespace; every client runs in the client namespace and reaches it
# over the veth. On the xdp datapath the agent loads the steering program on the server's veth and
# registers port 80, so the connections reach the server's AF_XDP sockets; on the socket datapath
# the server listens on port 8080 with kernel sockets (the steering program, when loaded, passes
# that port to the kernel). The same checks run on both: the three ways in (prior knowledge, h2c
# upgrade, HTTP/1.1), concurrent streams, h2load at 16 x 32, bodies from 0 B to 64 MiB each way
# checked by SHA-256, static files (sizes, types, ETag/304, escapes), 404/405/HEAD, malformed
# requests, the HTTP/2 conformance suite (h2_conformance, with its defence cases: the native codec's
# flood limits at their defaults), /metrics, and a clean stop that lets downloads in flight finish (on
# xdp: with every UMEM frame back). On the socket datapath the conformance suite then runs once more,
# RFC cases only, against a server on port 8081 whose HTTP/2 is the nghttp2 session ([http] h2 =
# nghttp2), the reference the native codec is held to. The suite's flood cases connect from
# addresses of their own (10.77.0.10-29, added to the client's veth): the server refuses an address
# whose connections it ended for floods flood_source_strikes times in 60 s, which would fail the
# checks after them. xdp-mtu9000 is the xdp run again with both ends of the veth at MTU 9000 and
# the server's [tcp] mtu to match: segments both ways span several UMEM frames (multi-buffer).
# Needs root.
set -u

BUILD=${1:?usage: http_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp xdp-mtu9000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=shttp
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
STREAM_CAT=$(realpath "$ROOT/$BUILD/tests/stream_cat")
CONFORMANCE=$(realpath "$ROOT/$BUILD/tests/h2_conformance")
WORK=$(mktemp -d)
SERVER_PID=""
BIG=$((64 << 20))

TOPO_CLI_TIMEOUT=120 # cli (tests/lib/topo.sh): a client still running after 120 s is stopped
FLOOD_SOURCES=$(seq -s, -f '10.77.0.%g' 10 29) # h2_conformance --flood-sources: one address per flood case

reset_state() {
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

sha() { sha256sum | cut -d' ' -f1; }

# ---- fixtures: static files of many sizes and kinds, a secret beside them, an escaping symlink ---
STATIC=$WORK/static
mkdir -p "$STATIC/sub/dir"
: >"$STATIC/empty.txt"
printf 'x' >"$STATIC/one.txt"
head -c 4095 /dev/urandom >"$STATIC/page.bin"
head -c 4096 /dev/urandom >"$STATIC/exact.bin"
head -c $((1 << 20)) /dev/urandom >"$STATIC/mid.bin"
head -c $((10 << 20)) /dev/urandom >"$STATIC/large.bin"
printf '<!doctype html><title>sluice</title>\n' >"$STATIC/index.html"
printf 'body { margin: 0 }\n' >"$STATIC/sub/dir/style.css"
printf 'the secret\n' >"$WORK/secret.txt"
ln -s "$WORK/secret.txt" "$STATIC/escape.txt"
ln -s /etc/passwd "$STATIC/passwd"
for size in 0 1 100000 $((16 << 20)) $BIG; do
    head -c "$size" /dev/urandom >"$WORK/up-$size"
done

# start_server LABEL ARGS...: sluice-server in the server namespace; passes once it is ready
start_server() {
    local label=$1 log=$WORK/server-$1.log
    shift
    nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --workers 2 --drain-ms 20000 --static "$STATIC" "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    if topo_server_ready "$SERVER_PID" "$log"; then ok "$label: server started"; else not_ok "$label: server started" "$(head -3 "$log" | tr '\n' '|')"; fi
}

# begin_drain_check: downloads in flight (HTTP/2 and HTTP/1.1, rate-limited to last a few seconds)
# when the server is told to stop; end_drain_check, after the stop: both completed byte-exact
DRAIN_BYTES=$((24 << 20))
begin_drain_check() {
    local url=http://$SRV4:$PORT/bytes/$DRAIN_BYTES?seed=5
    cli curl -sS --http2-prior-knowledge --limit-rate 8M -o "$WORK/drain-h2" "$url" 2>"$WORK/drain-h2.err" &
    DRAIN_H2=$!
    cli curl -sS --http1.1 --limit-rate 8M -o "$WORK/drain-h1" "$url" 2>"$WORK/drain-h1.err" &
    DRAIN_H1=$!
    sleep 1
}
end_drain_check() {
    local want
    want=$("$STREAM_CAT" $DRAIN_BYTES 5 | sha)
    for v in h2 h1; do
        if [ $v = h2 ]; then wait "$DRAIN_H2"; else wait "$DRAIN_H1"; fi
        if [ $? -eq 0 ] && [ "$(sha <"$WORK/drain-$v")" = "$want" ]; then
            ok "$1: a $v download in flight at the stop completed"
        else
            not_ok "$1: a $v download in flight at the stop completed" "$(head -c 200 "$WORK/drain-$v.err") $(stat -c %s "$WORK/drain-$v" 2>/dev/null) bytes"
        fi
    done
}

# stop_server LABEL WANT: SIGTERM; passes when it exits 0 and its log matches WANT
stop_server() {
    local label=$1 want=$2 log=$WORK/server-$1.log status
    stop_pid "$SERVER_PID" 30
    status=$STOP_STATUS
    SERVER_PID=""
    if [ "$status" = 0 ] && grep -q "$want" "$log"; then
        ok "$label: server stopped cleanly"
    else
        not_ok "$label: server stopped cleanly" "exit $status: $(grep -i -E 'error|runtime|leak' "$log" | head -3 | tr '\n' '|')"
    fi
}

# raw LABEL BYTES REGEX: send BYTES on a fresh connection, half-close, the reply must match REGEX
raw() {
    local out
    out=$(cli bash -c "exec 3<>/dev/tcp/$SRV4/$PORT && printf '%b' \"\$1\" >&3 && timeout 5 cat <&3" _ "$2" 2>&1 | head -c 4096)
    if printf '%s' "$out" | grep -Eq -- "$3"; then ok "$1"; else not_ok "$1" "reply: $(first_lines "$out")"; fi
}

# body_sha LABEL WANT_SHA CURL_ARGS...: the body curl receives has the given SHA-256
body_sha() {
    local label=$1 want=$2 got
    shift 2
    got=$(cli curl -sS --fail "$@" | sha)
    if [ "$got" = "$want" ]; then ok "$label"; else not_ok "$label" "SHA-256 $got, expected $want"; fi
}

# request_trailers LABEL URL: nghttp sends two trailer fields after a body to URL/echo; they must come
# back as response trailers, after x-echo-bytes, in the HEADERS frame that ends the stream
request_trailers() {
    expect "$1" 0 "recv \(stream_id=[0-9]+\) x-echo-bytes: 100000 .*x-sum: 42 .*x-other: a b .*END_STREAM" \
        cli bash -c "nghttp -v -H 'te: trailers' --trailer 'x-sum: 42' --trailer 'x-other: a b' -d '$WORK/up-100000' '$2/echo' |
            grep -aE 'recv \(stream_id=[0-9]+\) x-|recv HEADERS|END_STREAM' | tr '\n' ' '"
}

# conformance LABEL SUITE_ARGS...: the HTTP/2 conformance suite (tests/http/h2_conformance.c) against
# the server on $PORT; every case is one check, "LABEL CASE"
conformance() {
    local label=$1 conf=$WORK/conformance-${1//[^a-z0-9]/-}.log status
    shift
    cli "$CONFORMANCE" --host $SRV4 --port "$PORT" "$@" >"$conf" 2>&1
    status=$?
    grep -E '^(ok|not ok|skip) - ' "$conf" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $label /"
    if [ $status -ne 0 ] && ! grep -q '^not ok - ' "$conf"; then
        not_ok "$label suite ran to the end" "exit $status: $(tail -n 2 "$conf" | tr '\n' '|')"
    fi
}

run_checks() {
    local dp=$1 url=http://$SRV4:$PORT
    local h2=(--http2-prior-knowledge) h1=(--http1.1)

    # the three ways in
    expect "$dp: HTTP/2 with prior knowledge" 0 "^\\|2 200$" cli curl -sS "${h2[@]}" -w '|%{http_version} %{http_code}' "$url/healthz"
    expect "$dp: HTTP/1.1" 0 "^\\|1.1 200$" cli curl -sS "${h1[@]}" -w '|%{http_version} %{http_code}' "$url/healthz"
    expect "$dp: Upgrade: h2c" 0 "^\\|2 200$" cli curl -sS --http2 -w '|%{http_version} %{http_code}' "$url/healthz"
    # after the 101, the response may not outrun the client's preface (curl reads 32 KiB at most with the 101)
    body_sha "$dp: Upgrade: h2c with a 1 MB response, SHA-256" "$("$STREAM_CAT" 1000000 11 | sha)" \
        --http2 "$url/bytes/1000000?seed=11"
    expect "$dp: POST with a body is answered over HTTP/1.1 rather than upgraded" 0 "^abc 1.1 200$" \
        cli curl -sS --http2 -w ' %{http_version} %{http_code}' --data-binary abc "$url/echo"
    expect "$dp: HTTP/1.1 keep-alive reuses the connection" 0 "Re-using existing connection" \
        cli curl -sSv "${h1[@]}" "$url/healthz" "$url/healthz"
    expect "$dp: HTTP/1.1 pipelined requests answered in order" 0 "ok.*HTTP/1.1 404.*HTTP/1.1 200 OK" \
        cli bash -c "exec 3<>/dev/tcp/$SRV4/$PORT; printf 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' >&3; timeout 5 cat <&3 | tr -d '\r' | tr '\n' ' '"

    # routing: 404, 405 with Allow, HEAD served by GET handlers
    expect "$dp: unknown path is 404 (HTTP/2)" 0 "^404$" cli curl -sS "${h2[@]}" -o /dev/null -w '%{http_code}' "$url/nope"
    expect "$dp: unknown path is 404 (HTTP/1.1)" 0 "^404$" cli curl -sS "${h1[@]}" -o /dev/null -w '%{http_code}' "$url/nope"
    expect "$dp: wrong method is 405 with Allow" 0 "HTTP/2 405.*allow: GET, HEAD" \
        cli bash -c "curl -sS --http2-prior-knowledge -X DELETE -D - -o /dev/null $url/healthz | tr -d '\r' | tr '\n' ' '"
    expect "$dp: HEAD has the GET's content-length and no body" 0 "HTTP/2 200.*content-length: 1000 .*BODY0$" \
        cli bash -c "curl -sS --http2-prior-knowledge -I $url/bytes/1000 | tr -d '\r' | tr '\n' ' '; printf BODY; curl -sS --http2-prior-knowledge -X HEAD $url/bytes/1000 2>/dev/null | wc -c"
    expect "$dp: HEAD over HTTP/1.1" 0 "HTTP/1.1 200.*content-length: 1000" \
        cli bash -c "curl -sS --http1.1 -I $url/bytes/1000 | tr -d '\r' | tr '\n' ' '"
    expect "$dp: a bad number in the path is 400" 0 "^400$" cli curl -sS "${h2[@]}" -o /dev/null -w '%{http_code}' "$url/bytes/12x"

    # concurrency and load
    expect "$dp: nghttp, 100 concurrent streams on one connection" 0 "^100$" \
        cli bash -c "nghttp -nv -m 100 $url/bytes/1000 | grep -c ':status: 200'"
    expect "$dp: h2load, 100k requests over 16 connections x 32 streams, 0 errors" 0 \
        "requests: 100000 total, 100000 started, 100000 done, 100000 succeeded, 0 failed, 0 errored, 0 timeout" \
        cli h2load -n 100000 -c 16 -m 32 "$url/healthz"
    expect "$dp: h2load over HTTP/1.1, 20k requests over 16 connections" 0 "20000 succeeded, 0 failed, 0 errored" \
        cli h2load --h1 -n 20000 -c 16 "$url/healthz"

    # bodies out: /bytes/N is the deterministic stream; its SHA-256 comes from stream_cat
    for n in 0 1 16383 16384 65537 1000000 $BIG; do
        want=$("$STREAM_CAT" "$n" 7 | sha)
        body_sha "$dp: GET /bytes/$n over HTTP/2, SHA-256" "$want" "${h2[@]}" "$url/bytes/$n?seed=7"
    done
    for n in 0 65537 $BIG; do
        want=$("$STREAM_CAT" "$n" 3 | sha)
        body_sha "$dp: GET /bytes/$n over HTTP/1.1, SHA-256" "$want" "${h1[@]}" "$url/bytes/$n?seed=3"
    done

    # bodies in and back: /echo
    for size in 0 1 100000 $((16 << 20)) $BIG; do
        want=$(sha <"$WORK/up-$size")
        body_sha "$dp: POST $size B to /echo over HTTP/2, SHA-256 back" "$want" "${h2[@]}" --data-binary "@$WORK/up-$size" "$url/echo"
    done
    for size in 0 100000 $BIG; do
        want=$(sha <"$WORK/up-$size")
        body_sha "$dp: POST $size B to /echo over HTTP/1.1, SHA-256 back" "$want" "${h1[@]}" --data-binary "@$WORK/up-$size" "$url/echo"
    done
    want=$(sha <"$WORK/up-100000")
    body_sha "$dp: chunked upload to /echo over HTTP/1.1" "$want" "${h1[@]}" -H 'Transfer-Encoding: chunked' --data-binary "@$WORK/up-100000" "$url/echo"
    body_sha "$dp: upload with Expect: 100-continue" "$want" "${h1[@]}" -H 'Expect: 100-continue' --data-binary "@$WORK/up-100000" "$url/echo"
    # response trailers: /echo gives a client that takes them (te: trailers) x-echo-bytes after the body
    expect "$dp: HTTP/2 response trailers: a HEADERS frame that ends the stream after the DATA" 0 \
        "x-echo-bytes: 100000 .*END_STREAM" \
        cli bash -c "nghttp -v -H 'te: trailers' -d '$WORK/up-100000' '$url/echo' | grep -aE 'x-echo-bytes|recv HEADERS|END_STREAM' | tr '\n' ' '"
    request_trailers "$dp: HTTP/2 request trailers reach the handler (/echo sends them back as response trailers)" "$url"
    # past max_headers (64, the header fields included) trailer fields are dropped and counted
    expect "$dp: HTTP/2 request trailers past max_headers: the first kept, the request answered" 0 "x-t1: 1 .*END_STREAM" \
        cli bash -c "nghttp -v -H 'te: trailers' $(for i in $(seq 70); do printf -- "--trailer 'x-t%d: %d' " "$i" "$i"; done) \
            -d '$WORK/up-100000' '$url/echo' | grep -aE 'recv \(stream_id=[0-9]+\) x-t1:|END_STREAM' | tr '\n' ' '"
    expect "$dp: /metrics counts the dropped trailer fields" 0 'sluice_http_trailers_dropped_total\{worker="[01]"\} [1-9]' \
        cli curl -sS "${h2[@]}" "$url/metrics"
    expect "$dp: HTTP/1.1 response trailers in the last chunk" 0 '^0\|x-echo-bytes: 100000\|\|$' \
        cli bash -c "curl -sS --http1.1 --raw -H 'te: trailers' -H 'Transfer-Encoding: chunked' --data-binary '@$WORK/up-100000' '$url/echo' | tr -d '\r' | tail -n 3 | tr '\n' '|'"

    # static files
    for f in empty.txt one.txt page.bin exact.bin mid.bin large.bin index.html sub/dir/style.css; do
        body_sha "$dp: static $f over HTTP/2" "$(sha <"$STATIC/$f")" "${h2[@]}" "$url/static/$f"
    done
    body_sha "$dp: static large.bin over HTTP/1.1" "$(sha <"$STATIC/large.bin")" "${h1[@]}" "$url/static/large.bin"
    expect "$dp: static content-length and content-type" 0 "content-length: 1048576 .*content-type: application/octet-stream|content-type: application/octet-stream.*content-length: 1048576 " \
        cli bash -c "curl -sS --http2-prior-knowledge -D - -o /dev/null $url/static/mid.bin | tr -d '\r' | tr '\n' ' '"
    expect "$dp: static types by extension" 0 "^text/html text/css text/plain$" \
        cli bash -c "for f in index.html sub/dir/style.css one.txt; do curl -sS --http2-prior-knowledge -o /dev/null -w '%{content_type} ' $url/static/\$f; done | sed 's/; *charset=[^ ]*//g; s/ \$//'"
    etag=$(cli curl -sS "${h2[@]}" -D - -o /dev/null "$url/static/index.html" | tr -d '\r' | sed -n 's/^etag: //p')
    expect "$dp: If-None-Match with the ETag is 304" 0 "^304 0$" \
        cli curl -sS "${h2[@]}" -H "If-None-Match: $etag" -o /dev/null -w '%{http_code} %{size_download}' "$url/static/index.html"
    expect "$dp: If-None-Match with another ETag is 200" 0 "^200$" \
        cli curl -sS "${h2[@]}" -H 'If-None-Match: "other"' -o /dev/null -w '%{http_code}' "$url/static/index.html"
    # each worker keeps files mapped, checked again after a second: a change shows within it
    printf 'first' >"$STATIC/changing.txt"
    expect "$dp: static file served" 0 "^first$" cli curl -sS "${h2[@]}" "$url/static/changing.txt"
    printf 'second version' >"$STATIC/changing.txt"
    sleep 1.1
    expect "$dp: a changed static file is served new within a second" 0 "^second version$" \
        cli bash -c "for i in 1 2 3 4; do curl -sS --http2-prior-knowledge $url/static/changing.txt; echo; done | sort -u"
    expect "$dp: h2load, 20k requests for a static file over 8 connections x 16 streams, 0 errors" 0 \
        "20000 succeeded, 0 failed, 0 errored" cli h2load -n 20000 -c 8 -m 16 "$url/static/page.bin"
    for path in /static/../secret.txt /static/%2e%2e/secret.txt /static/sub/../../secret.txt /static/escape.txt \
        /static/passwd /static//etc/passwd /static/sub /static/ /static/nope.txt; do
        expect "$dp: $path does not escape the directory" 0 "^40[034]$" \
            cli curl -sS --path-as-is "${h2[@]}" -o /dev/null -w '%{http_code}' "$url$path"
    done

    # malformed requests get the status the protocol requires, then the connection closes
    raw "$dp: garbage request line is 400" 'GARBAGE\r\n\r\n' "^HTTP/1.1 400"
    raw "$dp: header without a colon is 400" 'GET / HTTP/1.1\r\nHost a\r\n\r\n' "^HTTP/1.1 400"
    raw "$dp: request head over 16 KiB is 431" "GET / HTTP/1.1\r\nX-Big: $(head -c 20000 /dev/zero | tr '\0' a)\r\n\r\n" "^HTTP/1.1 431"
    # an empty SETTINGS, then a SETTINGS of 3 bytes: GOAWAY(last stream 0, FRAME_SIZE_ERROR) comes back
    expect "$dp: HTTP/2 SETTINGS of a bad length is GOAWAY FRAME_SIZE_ERROR" 0 "0000080700000000000000000000000006" \
        cli bash -c "exec 3<>/dev/tcp/$SRV4/$PORT; printf 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x03\x04\x00\x00\x00\x00\x00\x01\x02\x03' >&3; timeout 5 cat <&3 | od -An -v -tx1 | tr -d ' \n'"
    expect "$dp: the server still answers after the bad requests" 0 "^ok$" cli curl -sS "${h2[@]}" "$url/healthz"

    # the HTTP/2 conformance suite, with the native codec's defences
    conformance "$dp: h2 conformance" --defences --flood-sources "$FLOOD_SOURCES"

    # metrics
    expect "$dp: /metrics counts requests per worker" 0 'sluice_http_requests_total\{worker="0"\} [1-9]' \
        cli curl -sS "${h2[@]}" "$url/metrics"
    expect "$dp: /metrics counts protocol errors" 0 'sluice_http_protocol_errors_total\{worker="[01]"\} [1-9]' \
        cli curl -sS "${h2[@]}" "$url/metrics"
}

reset_state
topo_up $TOPO >/dev/null
for addr in ${FLOOD_SOURCES//,/ }; do
    cli ip addr add "$addr/24" dev "$TOPO-c"
done
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080
        start_server socket --datapath socket --http $PORT
        run_checks socket
        begin_drain_check
        stop_server socket "stopped"
        end_drain_check socket
        # the reference: the same suite against the nghttp2 session, without the native codec's defences
        PORT=8081
        printf '[http]\nh2 = nghttp2\n' >"$WORK/nghttp2.conf"
        start_server socket-nghttp2 --datapath socket --http $PORT --config "$WORK/nghttp2.conf"
        conformance "socket: h2 conformance (nghttp2)"
        request_trailers "socket: HTTP/2 request trailers reach the handler (nghttp2 session)" "http://$SRV4:$PORT"
        stop_server socket-nghttp2 "stopped"
        ;;
    xdp | xdp-mtu9000)
        PORT=80
        mtu=1500
        [ "$dp" = xdp-mtu9000 ] && mtu=9000
        srv ip link set "$DEV" mtu $mtu
        cli ip link set "$TOPO-c" mtu $mtu
        printf '[tcp]\nmtu = %s\n' $mtu >"$WORK/$dp.conf"
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        start_server "$dp" --dev "$DEV" --http $PORT --config "$WORK/$dp.conf"
        run_checks "$dp"
        expect "$dp: /metrics has the steering program's counters" 0 'sluice_steer_redirects_total\{worker="[01]"\} [1-9]' \
            cli curl -sS --http2-prior-knowledge "http://$SRV4:$PORT/metrics"
        if [ $mtu = 9000 ]; then
            expect "$dp: packets came in as frame chains" 0 'sluice_afxdp_rx_chains_total\{worker="[01]"\} [1-9]' \
                cli curl -sS --http2-prior-knowledge "http://$SRV4:$PORT/metrics"
        fi
        begin_drain_check
        stop_server "$dp" "every frame returned"
        end_drain_check "$dp"
        agent unload --dev "$DEV" >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket, xdp or xdp-mtu9000"
        ;;
    esac
done
