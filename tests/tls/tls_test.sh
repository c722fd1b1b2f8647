#!/usr/bin/env bash
# tls_test.sh — sluice-server's TLS (TLS 1.3 and 1.2, HTTP/2 and HTTP/1.1 over it) against real
# clients (openssl s_client, curl, nghttp, h2load), on both datapaths, in a topology of its own.
#
#   tests/tls/tls_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
# The server runs in the server namespace with two workers, every client in the client namespace.
# On the xdp datapath the agent loads the steering program on the server's veth and registers port
# 80 and, as a TLS service with steering (service add --tls --steer), port 443; on the socket
# datapath the server listens on 8080 and 8443 with kernel sockets. Certificates are made here (ECDSA
# P-256, self-signed): a default pair, one each for a.example and b.example ([tls] sni), three more
# that replace the default one by one under SIGHUP. Per datapath, four servers in turn:
#   main      the default pair, both SNI names, ticket key file 1, 0-RTT up to 16 KiB: handshakes
#             and ALPN for both versions; resumption for both versions, spread over both workers;
#             0-RTT (GET served, POST 425); a 0-RTT flight replayed (tests/tls/tls_probe --only
#             replay: the first copy served early, the second refused early data, by the counters);
#             KeyUpdate, requested and not, between requests on one s_client connection; bodies of
#             0 B to 64 MiB each way by SHA-256 (downloads against the same server's cleartext
#             /bytes/N); nghttp; h2load 100k requests; the HTTP/2 conformance suite over TLS (when
#             h2_conformance has --tls); SNI; on xdp SNI steering (sni routes: a.example -> worker 1,
#             b.example -> worker 0); 2% loss and 1% duplication (tests/afxdp/netem.c on the
#             client's veth); three certificate reloads under load, then a reload from a broken
#             file; a clean stop with a download in flight
#   restart   ticket key file 1 again: the main server's sessions resume; handshake_timeout_ms 1000:
#             a silent client and one that sends half a ClientHello are reset after it
#   rekeyed   ticket key file 2: the same sessions get a full handshake that succeeds
#   sni-only  [tls] sni lines and no default pair: an unknown name gets an alert and is counted;
#             tests/tls/tls_probe's malformed handshakes (when built; its ALPN mismatch counted),
#             then the server still serves
# Each server stops on SIGTERM with exit status 0 (on xdp: every UMEM frame returned) and no
# sanitizer report in its log (the test build runs under ASan). Needs root.
set -u

BUILD=${1:?usage: tls_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=stls
DEV=$TOPO-s
CLI_DEV=$TOPO-c
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
NETEM=$(realpath "$ROOT/$BUILD/tests/netem")
CONFORMANCE=$(realpath -m "$ROOT/$BUILD/tests/h2_conformance")
TLS_PROBE=$(realpath -m "$ROOT/$BUILD/tests/tls_probe")
WORK=$(mktemp -d)
CERTS=$WORK/certs
SERVER_PID="" NETEM_PID="" LOAD_PID="" LOOP_PID="" DRAIN_PID=""

TOPO_CLI_TIMEOUT=120 # cli (tests/lib/topo.sh): a client still running after 120 s is stopped
FLOOD_SOURCES=$(seq -s, -f '10.77.0.%g' 10 29) # h2_conformance --flood-sources: one address per flood case
SANITIZER_REPORT='ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL'

reset_state() {
    for pid in $DRAIN_PID $LOOP_PID $LOAD_PID $NETEM_PID $SERVER_PID; do
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    SERVER_PID="" NETEM_PID="" LOAD_PID="" LOOP_PID="" DRAIN_PID=""
    topo_down $TOPO
}
trap 'reset_state; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

sha() { sha256sum | cut -d' ' -f1; }

# ---- fixtures: certificates, request files, upload bodies ----------------------------------------
mkdir -p "$CERTS"
# cert NAME CN: $CERTS/NAME.crt and NAME.key, self-signed ECDSA P-256 for CN (and its subjectAltName)
cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$2" \
        -addext "subjectAltName=DNS:$2" -keyout "$CERTS/$1.key" -out "$CERTS/$1.crt" >>"$CERTS/openssl.log" 2>&1
}
made=0
for pair in default:sluice.test a:a.example b:b.example reload1:sluice.test reload2:sluice.test reload3:sluice.test; do
    cert "${pair%%:*}" "${pair#*:}" && made=$((made + 1))
done
if [ $made -eq 6 ]; then ok "six ECDSA P-256 self-signed certificates made"; else not_ok "six ECDSA P-256 self-signed certificates made" "$(tail -3 "$CERTS/openssl.log" | tr '\n' '|')"; fi
fingerprint() { openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//'; }
declare -A FP
for name in default a b reload1 reload2 reload3; do FP[$name]=$(fingerprint <"$CERTS/$name.crt"); done

printf '[tls]\nsni = a.example %s %s\nsni = b.example %s %s\n' \
    "$CERTS/a.crt" "$CERTS/a.key" "$CERTS/b.crt" "$CERTS/b.key" >"$WORK/sni.conf"
{ cat "$WORK/sni.conf"; printf 'handshake_timeout_ms = 1000\n'; } >"$WORK/timeout.conf"

printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' $SRV4 >"$WORK/get.req"
printf 'POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' $SRV4 >"$WORK/post.req"
UPLOADS="0 102400 $((3 << 20)) $((16 << 20))"
for size in $UPLOADS; do head -c "$size" /dev/urandom >"$WORK/up-$size"; done

# ---- helpers -------------------------------------------------------------------------------------
# start_server LABEL ARGS...: sluice-server in the server namespace (two workers, the datapath's
# options); passes once it is ready
start_server() {
    local label=$1 log=$WORK/server-$1.log
    shift
    nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" "${DP_ARGS[@]}" --workers 2 --drain-ms 20000 "$@" >"$log" 2>&1 &
    SERVER_PID=$!
    if topo_server_ready "$SERVER_PID" "$log"; then ok "$label: server started"; else not_ok "$label: server started" "$(head -3 "$log" | tr '\n' '|')"; fi
}

# no_sanitizer_report LABEL NAME: check NAME passes when server LABEL's log (its stderr) holds no sanitizer report
no_sanitizer_report() {
    local log=$WORK/server-$1.log
    if grep -Eq "$SANITIZER_REPORT" "$log"; then
        not_ok "$2" "$(grep -E -m 3 "$SANITIZER_REPORT" "$log" | tr '\n' '|')"
    else
        ok "$2"
    fi
}

# stop_server LABEL: SIGTERM; passes when it exits 0, its log says it stopped (on xdp: with every
# UMEM frame returned) and holds no sanitizer report
stop_server() {
    local label=$1 log=$WORK/server-$1.log status
    stop_pid "$SERVER_PID" 30
    status=$STOP_STATUS
    SERVER_PID=""
    if [ "$status" = 0 ] && grep -q "$STOP_WANT" "$log" && ! grep -Eq "$SANITIZER_REPORT" "$log"; then
        ok "$label: server stopped cleanly ($STOP_WANT)"
    else
        not_ok "$label: server stopped cleanly ($STOP_WANT)" "exit $status: $(grep -i -E 'error|runtime|leak' "$log" | head -3 | tr '\n' '|')"
    fi
}

# metric NAME WORKER: one worker's sample, over cleartext HTTP (no TLS handshake of its own)
metric() {
    local v
    v=$(cli curl -sS --max-time 10 --http2-prior-knowledge "http://$SRV4:$PORT/metrics" | sed -n "s/^$1{worker=\"$2\"} //p")
    echo "${v:-0}"
}
metric_sum() { echo $(($(metric "$1" 0) + $(metric "$1" 1))); }

# metrics_snapshot: every sample, in one cleartext request (which counts itself in
# sluice_http_requests_total: a request is counted as it is dispatched, before /metrics renders)
metrics_snapshot() { cli curl -sS --max-time 10 --http2-prior-knowledge "http://$SRV4:$PORT/metrics"; }
# sample_sum NAME SNAPSHOT: NAME's samples in SNAPSHOT (metrics_snapshot's output), summed over the workers
sample_sum() { printf '%s\n' "$2" | awk -v n="$1" 'index($0, n "{") == 1 { s += $2 } END { print s + 0 }'; }

# sclient ARGS...: openssl s_client to the TLS port, from the client namespace, bounded to 10 s;
# stdin is the caller's (a request file with Connection: close and -ign_eof: it ends when the server
# closes; /dev/null without -ign_eof: it ends after the handshake)
sclient() { cli timeout 10 openssl s_client -connect "$SRV4:$TPORT" "$@" 2>&1; }

# like LABEL REGEX TEXT: passes when TEXT matches the extended REGEX
like() {
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then
        ok "$1"
    else
        not_ok "$1" "no /$2/ in: $(printf '%s\n' "$3" | grep -aE 'New,|Reused|ALPN|Early|HTTP/|error|alert' | head -4 | tr '\n' '|')"
    fi
}

# served_fp [SNI]: the SHA-256 fingerprint of the certificate a new connection is given
served_fp() {
    cli timeout 10 openssl s_client -connect "$SRV4:$TPORT" ${1:+-servername "$1"} </dev/null 2>/dev/null | fingerprint
}

# gets_cert LABEL NAME [SNI]: a new connection (naming SNI) is given certificate NAME
gets_cert() {
    local got name which
    got=$(served_fp "${3:-}")
    if [ -n "$got" ] && [ "$got" = "${FP[$2]}" ]; then
        ok "$1"
    else
        which="an unknown certificate"
        for name in "${!FP[@]}"; do
            if [ -n "$got" ] && [ "${FP[$name]}" = "$got" ]; then which="the certificate $name"; fi
        done
        [ -n "$got" ] || which="no certificate"
        not_ok "$1" "got $which (fingerprint '$got'), want the certificate $2"
    fi
}

# fetch VERSION ARGS...: curl over HTTPS with --httpVERSION, the body to $WORK/dl (removed first);
# prints curl's "-w" output "version bytes", after its errors
fetch() {
    local v=$1
    shift
    rm -f "$WORK/dl"
    cli curl -sS --fail -k "--http$v" -o "$WORK/dl" -w '%{http_version} %{size_download}' "$@" 2>&1
}

# body_check LABEL WANT_SHA WANT_BYTES WANT_VERSION META: the body fetch left in $WORK/dl has
# WANT_SHA, and META (fetch's output) says WANT_VERSION and WANT_BYTES
body_check() {
    local got="(no file)"
    [ -f "$WORK/dl" ] && got=$(sha <"$WORK/dl")
    if [ "$got" = "$2" ] && [ "$5" = "$4 $3" ]; then
        ok "$1"
    else
        not_ok "$1" "SHA-256 $got (want $2), curl: '$5' (want '$4 $3')"
    fi
}

# ---- the checks --------------------------------------------------------------------------------

check_handshakes() { # 1: versions, ALPN, a request over s_client
    local dp=$1 out v
    for v in 1_3 1_2; do
        out=$(sclient "-tls$v" -alpn h2 </dev/null)
        like "$dp: s_client -tls$v: TLSv${v/_/.} agreed" "^(New|Reused), TLSv${v/_/.}, Cipher is" "$out"
        like "$dp: s_client -tls$v -alpn h2: ALPN h2 chosen" "^ALPN protocol: h2$" "$out"
        out=$(sclient "-tls$v" -alpn http/1.1 </dev/null)
        like "$dp: s_client -tls$v -alpn http/1.1: ALPN http/1.1 chosen" "^ALPN protocol: http/1.1$" "$out"
        out=$(sclient "-tls$v" -alpn http/1.1 -ign_eof <"$WORK/get.req")
        like "$dp: s_client -tls$v: GET /healthz is HTTP/1.1 200" "^HTTP/1.1 200" "$out"
    done
    out=$(sclient -tls1_3 -alpn h2,http/1.1 </dev/null)
    like "$dp: s_client offering h2 and http/1.1: h2 chosen" "^ALPN protocol: h2$" "$out"
}

check_resumption() { # 2 (within one server): saves $WORK/$dp-s13 and -s12 for the restarts
    local dp=$1 v out n reused r0 r1 d0 d1
    r0=$(metric sluice_tls_resumed_total 0) r1=$(metric sluice_tls_resumed_total 1)
    for v in 1_3 1_2; do
        out=$(sclient "-tls$v" -sess_out "$WORK/$dp-s${v/1_/1}" -ign_eof <"$WORK/get.req")
        if printf '%s\n' "$out" | grep -q "^New, TLSv${v/_/.}" && [ -s "$WORK/$dp-s${v/1_/1}" ]; then
            ok "$dp: TLSv${v/_/.} session saved (-sess_out)"
        else
            not_ok "$dp: TLSv${v/_/.} session saved (-sess_out)" "$(first_lines "$out")"
        fi
        n=8 reused=0
        for _ in $(seq $n); do
            out=$(sclient "-tls$v" -sess_in "$WORK/$dp-s${v/1_/1}" -ign_eof <"$WORK/get.req")
            printf '%s\n' "$out" | grep -q "^Reused, TLSv${v/_/.}" && printf '%s\n' "$out" | grep -q '^HTTP/1.1 200' && reused=$((reused + 1))
        done
        check "$dp: TLSv${v/_/.} resumption (-sess_in): $reused of $n connections Reused and answered 200" test $reused -eq $n
    done
    d0=$(($(metric sluice_tls_resumed_total 0) - r0)) d1=$(($(metric sluice_tls_resumed_total 1) - r1))
    check "$dp: resumed on both workers (sluice_tls_resumed_total +$d0 on worker 0, +$d1 on worker 1)" \
        test $d0 -gt 0 -a $d1 -gt 0 -a $((d0 + d1)) -eq 16
}

check_early_data() { # 3
    local dp=$1 out early0 early_req0 too_early0 accepted0
    early_req0=$(metric_sum sluice_http_early_requests_total) too_early0=$(metric_sum sluice_http_too_early_total)
    accepted0=$(metric_sum sluice_tls_early_accepted_total)
    out=$(sclient -sess_in "$WORK/$dp-s13" -early_data "$WORK/get.req" -ign_eof </dev/null)
    like "$dp: 0-RTT GET: early data accepted" "^Early data was accepted" "$out"
    like "$dp: 0-RTT GET: HTTP/1.1 200" "^HTTP/1.1 200" "$out"
    out=$(sclient -sess_in "$WORK/$dp-s13" -early_data "$WORK/post.req" -ign_eof </dev/null)
    like "$dp: 0-RTT POST: early data accepted" "^Early data was accepted" "$out"
    like "$dp: 0-RTT POST: HTTP/1.1 425" "^HTTP/1.1 425" "$out"
    early0=$(($(metric_sum sluice_http_early_requests_total) - early_req0))
    check "$dp: sluice_http_early_requests_total counted the GET (+$early0)" test $early0 -ge 1
    early0=$(($(metric_sum sluice_http_too_early_total) - too_early0))
    check "$dp: sluice_http_too_early_total counted the POST (+$early0)" test $early0 -ge 1
    early0=$(($(metric_sum sluice_tls_early_accepted_total) - accepted0))
    check "$dp: sluice_tls_early_accepted_total counted both (+$early0)" test $early0 -ge 2
    # without -early_data the same session resumes without 0-RTT, and a full handshake has none
    out=$(sclient -sess_in "$WORK/$dp-s13" -ign_eof <"$WORK/post.req")
    like "$dp: the POST after the handshake (no 0-RTT) is answered 200" "^HTTP/1.1 200" "$out"
}

check_replay() { # 3b: one 0-RTT flight sent twice; the server tells by its counters
    local dp=$1 before after status d
    if [ ! -x "$TLS_PROBE" ]; then
        skip "$dp: 0-RTT replay (tls_probe --only replay)" "$TLS_PROBE is not built"
        return
    fi
    before=$(metrics_snapshot)
    cli "$TLS_PROBE" $SRV4 "$TPORT" --only replay >"$WORK/replay-$dp.log" 2>&1
    status=$?
    after=$(metrics_snapshot)
    grep -E '^(ok|not ok|skip) - ' "$WORK/replay-$dp.log" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $dp: tls_probe /"
    if [ $status -ne 0 ] && ! grep -q '^not ok - ' "$WORK/replay-$dp.log"; then
        not_ok "$dp: tls_probe --only replay ran to the end" "exit $status: $(tail -n 2 "$WORK/replay-$dp.log" | tr '\n' '|')"
    fi
    # Early requests: the first copy's (served, though its handshake never finishes: the probe sends
    # no Finished) and the fresh 0-RTT connection's; the second copy's early data is refused.
    d=$(($(sample_sum sluice_http_early_requests_total "$after") - $(sample_sum sluice_http_early_requests_total "$before")))
    check "$dp: replay: sluice_http_early_requests_total +$d (want +2: the first copy, the fresh 0-RTT connection)" test $d -eq 2
    d=$(($(sample_sum sluice_tls_early_replayed_total "$after") - $(sample_sum sluice_tls_early_replayed_total "$before")))
    check "$dp: replay: sluice_tls_early_replayed_total +$d (want +1: the second copy)" test $d -eq 1
    # Requests: the probe makes 3 (the first connection's GET /healthz, the first copy's early GET,
    # the fresh 0-RTT GET); the second copy none, as its early data is refused and its handshake never
    # finishes (it is closed by the probe after 2 s). The second snapshot counts itself: 3 + 1.
    # (sluice_tls_early_accepted_total and _rejected_total count at the end of a handshake: the copies
    # never reach it.)
    d=$(($(sample_sum sluice_http_requests_total "$after") - $(sample_sum sluice_http_requests_total "$before")))
    check "$dp: replay: sluice_http_requests_total +$d (want +4: 3 of the probe's and the second snapshot; none for the second copy)" test $d -eq 4
}

check_key_update() { # 3c: KeyUpdate (RFC 8446 4.6.3) between requests on one TLS 1.3 connection
    local dp=$1 before d out n
    before=$(metric_sum sluice_tls_key_updates_total)
    # s_client's interactive commands: a line "K" sends a KeyUpdate with update_requested (the server
    # answers with its own and changes its sending key), "k" one without; each must come in a read of
    # its own, hence the sleeps; end of input ends s_client, after the last answer came
    out=$({
        printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n' $SRV4
        sleep 1
        printf 'K\n'
        sleep 1
        printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n' $SRV4
        sleep 1
        printf 'k\n'
        sleep 1
        printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' $SRV4
        sleep 1
    } | sclient -tls1_3 -alpn http/1.1)
    n=$(printf '%s\n' "$out" | grep -ac '^HTTP/1.1 200')
    if [ "$n" -eq 3 ]; then
        ok "$dp: s_client: a request, K (update_requested), a request, k (not requested), a request: three HTTP/1.1 200"
    else
        not_ok "$dp: s_client: a request, K (update_requested), a request, k (not requested), a request: three HTTP/1.1 200" \
            "$n of them: $(printf '%s\n' "$out" | grep -aE 'KEYUPDATE|HTTP/|error|alert|closed' | head -6 | tr '\n' '|')"
    fi
    d=$(($(metric_sum sluice_tls_key_updates_total) - before))
    check "$dp: sluice_tls_key_updates_total counted both KeyUpdates (+$d)" test $d -eq 2
}

# A request whose TLS record comes one byte a segment (TCP_NODELAY, a pause between sends): on
# AF_XDP each segment is a piece of its own, more than one look at the transport shows, so the
# record is gathered before it is opened (sluice_tls_gathered_records_total).
check_tiny_segments() {
    local dp=$1 before d
    cat >"$WORK/tiny.py" <<'EOF'
import socket, ssl, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
t = ctx.wrap_bio(inc, out)
while True:
    try:
        t.do_handshake()
        break
    except ssl.SSLWantReadError:
        s.sendall(out.read())
        inc.write(s.recv(65536))
s.sendall(out.read())
body = bytes(range(256)) * (n // 256)
t.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
wire = out.read()
for i in range(len(wire)):  # one byte a segment: the record lies in more pieces than one peek shows
    s.send(wire[i:i + 1])
    time.sleep(0.0005)
resp = b""
while True:
    data = s.recv(65536)
    if not data:
        break
    inc.write(data)
    try:
        while True:
            chunk = t.read(65536)
            if not chunk:
                break
            resp += chunk
    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
        pass
print("sent %d bytes in %d segments, echo %s" % (len(wire), len(wire), "intact" if resp.endswith(body) else "WRONG"))
EOF
    before=$(metric_sum sluice_tls_gathered_records_total)
    expect "$dp: a record sent one byte a segment is opened, its request answered" 0 "echo intact" \
        cli timeout 30 python3 "$WORK/tiny.py" $SRV4 "$TPORT" 2048
    d=$(($(metric_sum sluice_tls_gathered_records_total) - before))
    if [ "$dp" = xdp ]; then
        check "$dp: ... gathered from its pieces (sluice_tls_gathered_records_total +$d)" test $d -ge 1
    fi
}

check_bodies() { # 4
    local dp=$1 url=$2 turl=$3 n meta ref size v cipher
    for v in 2 1.1; do
        expect "$dp: curl --http$v over https: /healthz" 0 "^\\|$v 200$" \
            cli curl -sS -k "--http$v" -w "|%{http_version} %{http_code}" "$turl/healthz"
    done
    for n in 0 1 16383 16384 16385 $((1 << 20)) $((64 << 20)); do
        rm -f "$WORK/ref"
        cli curl -sS --fail --http2-prior-knowledge -o "$WORK/ref" "$url/bytes/$n"
        ref=$(sha <"$WORK/ref")
        size=$(stat -c %s "$WORK/ref")
        check "$dp: cleartext /bytes/$n has $n bytes (the reference; got $size)" test "$size" -eq $n
        for v in 2 1.1; do
            meta=$(fetch $v "$turl/bytes/$n")
            body_check "$dp: GET /bytes/$n over https HTTP/$v: same SHA-256 and length as cleartext" "$ref" $n $v "$meta"
        done
        # every AEAD suite's records are sealed by sluice: TLS 1.3's other two (the default is
        # AES-256-GCM), TLS 1.2's AES-GCM with its explicit nonce and ChaCha20-Poly1305
        for cipher in TLS_AES_128_GCM_SHA256 TLS_CHACHA20_POLY1305_SHA256 ECDHE-ECDSA-AES128-GCM-SHA256 \
            ECDHE-ECDSA-CHACHA20-POLY1305; do
            [ "$n" -le $((1 << 20)) ] || continue
            case $cipher in
            TLS_*) meta=$(fetch 2 --tlsv1.3 --tls13-ciphers "$cipher" "$turl/bytes/$n") ;;
            *) meta=$(fetch 2 --tls-max 1.2 --ciphers "$cipher" "$turl/bytes/$n") ;;
            esac
            body_check "$dp: GET /bytes/$n with $cipher over HTTP/2: same SHA-256 and length" "$ref" $n 2 "$meta"
        done
    done
    rm -f "$WORK/dl" "$WORK/ref"
    for size in $UPLOADS; do
        for v in 2 1.1; do
            meta=$(fetch $v --data-binary "@$WORK/up-$size" "$turl/echo")
            body_check "$dp: POST $size B to /echo over https HTTP/$v: SHA-256 back" "$(sha <"$WORK/up-$size")" "$size" $v "$meta"
        done
        meta=$(fetch 1.1 --tls-max 1.2 --data-binary "@$WORK/up-$size" "$turl/echo")
        body_check "$dp: POST $size B to /echo over TLS 1.2 HTTP/1.1: SHA-256 back" "$(sha <"$WORK/up-$size")" "$size" 1.1 "$meta"
    done
    rm -f "$WORK/dl"
}

check_h2_clients() { # 5
    local dp=$1 turl=$2
    expect "$dp: nghttp -nv over https: :status 200 for /healthz" 0 ":status: 200" cli nghttp -nv "$turl/healthz"
    expect "$dp: h2load over TLS, 100k requests over 16 connections x 32 streams, 0 errors" 0 \
        "requests: 100000 total, 100000 started, 100000 done, 100000 succeeded, 0 failed, 0 errored, 0 timeout" \
        cli h2load -n 100000 -c 16 -m 32 "$turl/healthz"
    like "$dp: h2load negotiated h2 over TLS" "^Application protocol: h2$" "$OUT"
}

check_conformance() { # 6
    local dp=$1 conf=$WORK/conformance-$1.log status
    if ! "$CONFORMANCE" --help 2>&1 | grep -q -- --tls; then
        skip "$dp: h2 conformance over TLS" "h2_conformance has no --tls yet"
        return
    fi
    cli "$CONFORMANCE" --host $SRV4 --port "$TPORT" --tls --defences --flood-sources "$FLOOD_SOURCES" >"$conf" 2>&1
    status=$?
    grep -E '^(ok|not ok|skip) - ' "$conf" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $dp: h2 conformance over TLS /"
    echo "# $dp: h2 conformance over TLS: $(grep -c '^ok - ' "$conf") ok, $(grep -c '^not ok - ' "$conf") not ok, $(grep -c '^skip - ' "$conf") skip"
    if [ $status -ne 0 ] && ! grep -q '^not ok - ' "$conf"; then
        not_ok "$dp: h2 conformance over TLS: suite ran to the end" "exit $status: $(tail -n 2 "$conf" | tr '\n' '|')"
    fi
    if ! grep -q '^ok - ' "$conf"; then
        not_ok "$dp: h2 conformance over TLS: any case passed" "$(tail -n 2 "$conf" | tr '\n' '|')"
    fi
}

check_sni() { # 8, with the default pair
    local dp=$1 got
    gets_cert "$dp: SNI a.example gets a.example's certificate" a a.example
    gets_cert "$dp: SNI b.example gets b.example's certificate" b b.example
    gets_cert "$dp: an unknown SNI gets the default certificate" default unknown.example
    gets_cert "$dp: no SNI gets the default certificate" default
}

# handshakes_land LABEL WORKER N CMD...: CMD opens N TLS connections; worker WORKER's handshake
# counter grows by N and the other worker's not at all
handshakes_land() {
    local label=$1 w=$2 n=$3 b0 b1 d0 d1 dw dother
    shift 3
    b0=$(metric sluice_tls_handshakes_total 0) b1=$(metric sluice_tls_handshakes_total 1)
    "$@" >/dev/null 2>"$WORK/land.err"
    d0=$(($(metric sluice_tls_handshakes_total 0) - b0)) d1=$(($(metric sluice_tls_handshakes_total 1) - b1))
    if [ "$w" = 1 ]; then dw=$d1 dother=$d0; else dw=$d0 dother=$d1; fi
    if [ $dw -eq "$n" ] && [ $dother -eq 0 ]; then
        ok "$label"
    else
        not_ok "$label" "handshakes +$d0 on worker 0, +$d1 on worker 1: $(head -c 200 "$WORK/land.err")"
        agent route list --dev "$DEV" 2>&1 | sed 's/^/# /'
    fi
}

check_steering() { # 9, xdp only
    local dp=$1
    check "$dp: route sni a.example -> worker 1" agent route add --dev "$DEV" --kind sni --prefix a.example --worker 1
    check "$dp: route sni b.example -> worker 0" agent route add --dev "$DEV" --kind sni --prefix b.example --worker 0
    handshakes_land "$dp: 10 curl connections to https://a.example are handshaked on worker 1" 1 10 \
        cli bash -c "for i in \$(seq 10); do curl -sS -k --fail --http2 --resolve a.example:$TPORT:$SRV4 -o /dev/null https://a.example:$TPORT/healthz || exit 1; done"
    handshakes_land "$dp: 10 s_client connections with SNI a.example are handshaked on worker 1" 1 10 \
        cli bash -c "for i in \$(seq 10); do timeout 10 openssl s_client -connect $SRV4:$TPORT -servername a.example </dev/null || exit 1; done"
    handshakes_land "$dp: 10 s_client connections with SNI b.example are handshaked on worker 0" 0 10 \
        cli bash -c "for i in \$(seq 10); do timeout 10 openssl s_client -connect $SRV4:$TPORT -servername b.example </dev/null || exit 1; done"
    handshakes_land "$dp: 10 curl connections to https://b.example are handshaked on worker 0" 0 10 \
        cli bash -c "for i in \$(seq 10); do curl -sS -k --fail --http1.1 --resolve b.example:$TPORT:$SRV4 -o /dev/null https://b.example:$TPORT/healthz || exit 1; done"
    expect "$dp: the agent counts the connections per SNI route" 0 "sni +'a\\.example' +worker 1 +[2-9][0-9] " agent route list --dev "$DEV"
    check "$dp: route sni a.example removed" agent route del --dev "$DEV" --kind sni --prefix a.example
    check "$dp: route sni b.example removed" agent route del --dev "$DEV" --kind sni --prefix b.example
}

check_loss() { # 10
    local dp=$1 url=$2 turl=$3 n=$((4 << 20)) up=$((3 << 20)) ref meta size
    local -A refs
    for size in 0 1 16385 $((1 << 20)) $((16 << 20)); do # references over cleartext, before the loss
        refs[$size]=$(cli curl -sS --fail --http2-prior-knowledge "$url/bytes/$size" | sha)
    done
    ref=$(cli curl -sS --fail --http2-prior-knowledge "$url/bytes/$n" | sha)
    head -c $up /dev/urandom >"$WORK/up-loss"
    nsenter --net=/run/netns/$TOPO-cli -- "$NETEM" "$CLI_DEV" 20000 10000 >"$WORK/netem.log" 2>&1 &
    NETEM_PID=$!
    for _ in $(seq 50); do grep -q ready "$WORK/netem.log" && break; sleep 0.1; done
    check "$dp: 2% loss and 1% duplication injected" grep -q ready "$WORK/netem.log"
    meta=$(fetch 2 "$turl/bytes/$n")
    body_check "$dp: under loss, 4 MiB download over https HTTP/2: SHA-256 as over cleartext" "$ref" $n 2 "$meta"
    for size in "${!refs[@]}"; do
        meta=$(fetch 2 "$turl/bytes/$size")
        body_check "$dp: under loss, $size B download over https HTTP/2: SHA-256 as over cleartext" "${refs[$size]}" $size 2 "$meta"
    done
    meta=$(fetch 2 --data-binary "@$WORK/up-loss" "$turl/echo")
    body_check "$dp: under loss, 3 MiB upload over https HTTP/2: SHA-256 back" "$(sha <"$WORK/up-loss")" $up 2 "$meta"
    meta=$(fetch 1.1 "$turl/bytes/$n")
    body_check "$dp: under loss, 4 MiB download over https HTTP/1.1: SHA-256 as over cleartext" "$ref" $n 1.1 "$meta"
    kill -TERM "$NETEM_PID"
    wait "$NETEM_PID"
    NETEM_PID=""
    check "$dp: netem dropped and duplicated packets ($(tail -n 1 "$WORK/netem.log"))" grep -Eq "dropped [1-9][0-9]* duplicated [1-9]" "$WORK/netem.log"
    rm -f "$WORK/dl" "$WORK/up-loss"
}

# wait_log_lines LOG REGEX N: up to 5 s for LOG to hold N lines matching REGEX
wait_log_lines() {
    for _ in $(seq 50); do
        [ "$(grep -cE "$2" "$1")" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

check_reload() { # 7: three reloads under load, then a broken certificate file
    local dp=$1 turl=$2 dir=$3 log=$WORK/server-$1.log i got fresh=0 before reloaded=0
    cli h2load -D 6 -c 8 -m 8 "$turl/healthz" >"$WORK/h2load-reload.log" 2>&1 &
    LOAD_PID=$!
    # new connections all along: a handshake may meet the swap of the contexts
    # shellcheck disable=SC2016 # expanded by the inner bash
    cli bash -c 'end=$((SECONDS + 6)) n=0 f=0
        while [ $SECONDS -lt $end ]; do
            curl -sS -k --fail --http2 --max-time 5 -o /dev/null "$1" 2>>"$2" || f=$((f + 1))
            n=$((n + 1))
        done
        echo "$n new connections, $f failed"' _ "$turl/healthz" "$WORK/curl-reload.err" >"$WORK/curl-reload.log" 2>&1 &
    LOOP_PID=$!
    sleep 1
    for i in 1 2 3; do
        cp "$CERTS/reload$i.key" "$dir/default.key"
        cp "$CERTS/reload$i.crt" "$dir/default.crt"
        kill -HUP "$SERVER_PID"
        wait_log_lines "$log" "SIGHUP: certificates reloaded" $i && reloaded=$((reloaded + 1))
        got=$(served_fp)
        [ -n "$got" ] && [ "$got" = "${FP[reload$i]}" ] && fresh=$((fresh + 1))
        sleep 1
    done
    wait "$LOAD_PID"
    LOAD_PID=""
    wait "$LOOP_PID"
    LOOP_PID=""
    check "$dp: 3 SIGHUPs under load: 'certificates reloaded' printed $reloaded times" test $reloaded -eq 3
    check "$dp: after each reload a new connection gets the new certificate ($fresh of 3)" test $fresh -eq 3
    expect "$dp: h2load over TLS during the reloads: no request failed" 0 "succeeded, 0 failed, 0 errored, 0 timeout" cat "$WORK/h2load-reload.log"
    like "$dp: h2load over TLS during the reloads made requests" "requests: [0-9]+ total, [0-9]+ started, [0-9]+ done, [1-9][0-9]* succeeded" "$(cat "$WORK/h2load-reload.log")"
    expect "$dp: new connections during the reloads: none failed" 0 "^[1-9][0-9]* new connections, 0 failed$" cat "$WORK/curl-reload.log"
    [ -s "$WORK/curl-reload.err" ] && echo "# $dp: curl during the reloads: $(head -3 "$WORK/curl-reload.err" | tr '\n' '|')"
    gets_cert "$dp: after the reloads, SNI a.example still gets its certificate" a a.example

    # a broken certificate file: one error line, the previous certificate stays in use
    before=$(wc -l <"$log")
    printf 'this is not a certificate\n' >"$dir/default.crt"
    kill -HUP "$SERVER_PID"
    wait_log_lines "$log" "SIGHUP" 4
    sleep 0.5
    got=$(tail -n +$((before + 1)) "$log")
    if [ "$(printf '%s' "$got" | grep -c '')" -eq 1 ] && printf '%s' "$got" | grep -q "SIGHUP.*$dir/default.crt"; then
        ok "$dp: SIGHUP with a broken certificate file: one error line naming the file"
    else
        not_ok "$dp: SIGHUP with a broken certificate file: one error line naming the file" "new log lines: $(printf '%s' "$got" | head -3 | tr '\n' '|')"
    fi
    gets_cert "$dp: after the failed reload, new connections still get the previous certificate" reload3
    expect "$dp: after the failed reload, the server still serves over TLS" 0 "^\\|2 200$" \
        cli curl -sS -k --http2 -w "|%{http_version} %{http_code}" "$turl/healthz"
    cp "$CERTS/default.crt" "$dir/default.crt" # the next servers start from the default pair
    cp "$CERTS/default.key" "$dir/default.key"
}

# begin_drain_check: an HTTP/2 download over TLS, rate-limited to last a few seconds, in flight when
# the server is told to stop; end_drain_check, after the stop: it completed byte-exact
DRAIN_BYTES=$((24 << 20))
begin_drain_check() {
    DRAIN_SHA=$(cli curl -sS --http2-prior-knowledge "$1/bytes/$DRAIN_BYTES?seed=5" | sha)
    cli curl -sS -k --http2 --limit-rate 8M -o "$WORK/drain" "$2/bytes/$DRAIN_BYTES?seed=5" 2>"$WORK/drain.err" &
    DRAIN_PID=$!
    sleep 1
}
end_drain_check() {
    wait "$DRAIN_PID"
    local status=$?
    DRAIN_PID=""
    if [ $status -eq 0 ] && [ "$(sha <"$WORK/drain")" = "$DRAIN_SHA" ]; then
        ok "$1: an https download in flight at the stop completed"
    else
        not_ok "$1: an https download in flight at the stop completed" "$(head -c 200 "$WORK/drain.err") $(stat -c %s "$WORK/drain" 2>/dev/null) bytes"
    fi
    rm -f "$WORK/drain"
}

check_restarted_keys() { # 2, across processes: same ticket key file (resumes) or another (does not)
    local dp=$1 want=$2 v out
    for v in 13 12; do
        out=$(sclient "-tls1_${v#1}" -sess_in "$WORK/$dp-s$v" -ign_eof <"$WORK/get.req")
        if [ "$want" = Reused ]; then
            like "$dp: TLSv1.${v#1} session of the previous process resumed (same ticket key file)" "^Reused, TLSv1\\.${v#1}" "$out"
        else
            like "$dp: TLSv1.${v#1} session of a process with another ticket key file: a full handshake" "^New, TLSv1\\.${v#1}" "$out"
        fi
        like "$dp: ... and GET /healthz over it is HTTP/1.1 200 (TLSv1.${v#1}, $want)" "^HTTP/1.1 200" "$out"
    done
}

# stall LABEL BYTES: a connection to the TLS port that sends BYTES (or nothing) and no more must be
# reset by the server at handshake_timeout_ms (1000): after 0.8 s, within 1.5 s (the slack is for a
# loaded machine and ASan; on a steered service a silent client must not wait steer_hold_ms first)
stall() {
    local out ms
    # shellcheck disable=SC2016 # expanded by the inner bash
    out=$(cli bash -c 'exec 3<>"/dev/tcp/$1/$2" || exit 9
        [ -z "$3" ] || printf "%b" "$3" >&3
        s=$(date +%s%N)
        err=$(timeout 6 cat <&3 2>&1 >/dev/null)
        rc=$?
        echo "rc=$rc ms=$((($(date +%s%N) - s) / 1000000)) $err"' _ $SRV4 "$TPORT" "$2" 2>&1)
    ms=$(printf '%s' "$out" | sed -n 's/.* ms=\([0-9]*\) .*/\1/p')
    if [ -n "$ms" ] && [ "$ms" -ge 800 ] && [ "$ms" -le "$3" ] && printf '%s' "$out" | grep -qi 'reset'; then
        ok "$1 (after $ms ms)"
    else
        not_ok "$1" "$out"
    fi
}

check_handshake_timeout() { # 12
    local dp=$1 before d
    before=$(metric_sum sluice_app_handshake_timeout_total)
    # on xdp the service is steered: a connection that sends nothing first waits up to steer_hold_ms
    # (1000) for its route, and its handshake starts where the route puts it
    stall "$dp: a client that sends nothing is reset after handshake_timeout_ms 1000" "" \
        $([ "$dp" = xdp ] && echo 2500 || echo 1500)
    stall "$dp: a client that sends half a ClientHello is reset after handshake_timeout_ms 1000" \
        '\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10' 1500
    d=$(($(metric_sum sluice_app_handshake_timeout_total) - before))
    check "$dp: sluice_app_handshake_timeout_total counted both (+$d)" test $d -eq 2
}

check_sni_only() { # 8 without a default pair, and 11
    local dp=$1 turl=$2 out before d status
    before=$(metric_sum sluice_tls_fail_sni_total)
    out=$(sclient -servername unknown.example </dev/null)
    if ! printf '%s\n' "$out" | grep -qE '^(New|Reused), TLS'; then
        ok "$dp: without a default pair, SNI unknown.example fails the handshake ($(printf '%s\n' "$out" | grep -oE 'unrecognized name|alert number [0-9]+' | head -1))"
    else
        not_ok "$dp: without a default pair, SNI unknown.example fails the handshake" "$(printf '%s\n' "$out" | grep -E 'New,|subject' | head -2 | tr '\n' '|')"
    fi
    like "$dp: ... with alert unrecognized_name" "unrecognized name" "$out"
    d=$(($(metric_sum sluice_tls_fail_sni_total) - before))
    check "$dp: sluice_tls_fail_sni_total counted it (+$d)" test $d -eq 1
    gets_cert "$dp: without a default pair, SNI a.example gets a.example's certificate" a a.example
    expect "$dp: without a default pair, https://a.example/healthz" 0 "^\\|2 200$" \
        cli curl -sS -k --http2 --resolve "a.example:$TPORT:$SRV4" -w "|%{http_version} %{http_code}" "https://a.example:$TPORT/healthz"

    # malformed handshakes
    if [ ! -x "$TLS_PROBE" ]; then
        skip "$dp: malformed handshakes (tls_probe)" "$TLS_PROBE is not built"
        return
    fi
    before=$(metric_sum sluice_tls_fail_alpn_total)
    cli "$TLS_PROBE" $SRV4 "$TPORT" --bad-sni unknown.example --sni a.example >"$WORK/probe-$dp.log" 2>&1
    status=$?
    grep -E '^(ok|not ok|skip) - ' "$WORK/probe-$dp.log" | sed "s/^\(ok\|not ok\|skip\) - /\1 - $dp: tls_probe /"
    if [ $status -ne 0 ] && ! grep -q '^not ok - ' "$WORK/probe-$dp.log"; then
        not_ok "$dp: tls_probe ran to the end" "exit $status: $(grep -v -E '^(ok|not ok|skip) - ' "$WORK/probe-$dp.log" | tail -n 2 | tr '\n' '|')"
    fi
    # only alpn-mismatch offers no protocol of ours; the other attacks fail before ALPN, or offer h2
    d=$(($(metric_sum sluice_tls_fail_alpn_total) - before))
    check "$dp: tls_probe's alpn-mismatch counted in sluice_tls_fail_alpn_total (+$d)" test $d -eq 1
    expect "$dp: after tls_probe, the server still serves over TLS" 0 "^\\|2 200$" \
        cli curl -sS -k --http2 --max-time 10 --resolve "a.example:$TPORT:$SRV4" -w "|%{http_version} %{http_code}" "https://a.example:$TPORT/healthz"
    check "$dp: after tls_probe, the server is still running" kill -0 "$SERVER_PID"
    no_sanitizer_report "$dp-sni-only" "$dp: after tls_probe, no sanitizer report in the server's log"
}

run_datapath() {
    local dp=$1 url turl dir=$WORK/$1
    url=http://$SRV4:$PORT turl=https://$SRV4:$TPORT
    mkdir -p "$dir"
    cp "$CERTS/default.crt" "$CERTS/default.key" "$dir/" # the reload check replaces these
    local tls_main=(--http "$PORT" --https "$TPORT" --cert "$dir/default.crt" --key "$dir/default.key")

    start_server "$dp" "${tls_main[@]}" --ticket-key-file "$WORK/$dp-tickets-1" --max-early-data 16384 --config "$WORK/sni.conf"
    check_handshakes "$dp"
    check_resumption "$dp"
    check_early_data "$dp"
    check_replay "$dp"
    check_key_update "$dp"
    check_bodies "$dp" "$url" "$turl"
    check_tiny_segments "$dp"
    check_h2_clients "$dp" "$turl"
    check_conformance "$dp"
    check_sni "$dp"
    [ "$dp" = xdp ] && check_steering "$dp"
    check_loss "$dp" "$url" "$turl"
    check_reload "$dp" "$turl" "$dir"
    begin_drain_check "$url" "$turl"
    stop_server "$dp"
    end_drain_check "$dp"

    start_server "$dp-restart" "${tls_main[@]}" --ticket-key-file "$WORK/$dp-tickets-1" --config "$WORK/timeout.conf"
    check_restarted_keys "$dp" Reused
    check_handshake_timeout "$dp"
    stop_server "$dp-restart"

    start_server "$dp-rekeyed" "${tls_main[@]}" --ticket-key-file "$WORK/$dp-tickets-2" --config "$WORK/sni.conf"
    check_restarted_keys "$dp" New
    stop_server "$dp-rekeyed"

    start_server "$dp-sni-only" --http "$PORT" --https "$TPORT" --config "$WORK/sni.conf"
    check_sni_only "$dp" "$turl"
    stop_server "$dp-sni-only"
}

reset_state
topo_up $TOPO >/dev/null
for addr in ${FLOOD_SOURCES//,/ }; do
    cli ip addr add "$addr/24" dev "$CLI_DEV"
done
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080 TPORT=8443
        DP_ARGS=(--datapath socket)
        STOP_WANT="stopped"
        run_datapath socket
        ;;
    xdp)
        PORT=80 TPORT=443
        DP_ARGS=(--dev "$DEV")
        STOP_WANT="every frame returned"
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT >/dev/null
        check "xdp: port $TPORT registered as a TLS service with SNI steering" \
            agent service add --dev "$DEV" --addr $SRV4 --port $TPORT --tls --steer
        expect "xdp: service list shows port $TPORT with tls,steer" 0 "$TPORT +tls,steer" agent service list --dev "$DEV"
        run_datapath xdp
        agent unload --dev "$DEV" >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        ;;
    esac
done
