#!/usr/bin/env bash
# usdt_test.sh — the USDT probes (common/probes.h) and the request duration histograms of /metrics
# (server/http/latency.h), against sluice-server on both datapaths, in a topology of its own.
#
#   tests/http/usdt_test.sh BUILD_DIR [socket|xdp]...    (default: both)
#
#   - `bpftrace -l` lists every probe SLUICE_PROBE_NAMES declares, in sluice-server (and in libsluice
#     when the build has it);
#   - per datapath, a two-worker server (over AF_XDP with stream-prefix steering: /bytes on worker 1,
#     the rest on worker 0, so connections move) and three bpftrace processes attached by PID: a counting
#     script, and README's two one-liners as written there. The clients: curl over HTTP/1.1 (each call
#     one connection; /healthz, a 404, /sleep/300), curl over TLS (h2 and http/1.1), h2load (HTTP/2,
#     40 requests over 4 connections), then one /metrics scrape. The probes must have seen exactly the
#     connections (accept and close) and requests (start and end, with route, path and status) the
#     clients made, one TLS handshake per TLS connection, and (AF_XDP) as many hand-offs as the server
#     counted. The scrape's histograms must count per route and class what the clients asked (the
#     scrape itself is in flight: in the request counters, not yet in the histograms), with cumulative
#     buckets ending at _count and a _sum the buckets bound. README's per-route histogram must show the
#     routes, its slow-request line the one slow request;
#   - a server with [http] rate_limit_rps = 1: every 429 the client got fires `overload rate_limited`.
#
# bpftrace compiles and attaches in seconds: each is waited for (its "Attaching" line, at most 60 s)
# before a client starts, and stopped by PID with SIGINT (which makes it print its maps), at most 60 s.
# Needs root, bpftrace, curl, h2load, openssl, python3.
set -u

BUILD=${1:?usage: usdt_test.sh BUILD_DIR [socket|xdp]...}
shift
DATAPATHS=${*:-socket xdp}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
# shellcheck source=tests/lib/topo.sh
. "$ROOT/tests/lib/topo.sh"

TOPO=susdt
DEV=$TOPO-s
SRV4=10.77.0.1
AGENT=$(realpath "$ROOT/$BUILD/bin/sluice-agent")
SERVER=$(realpath "$ROOT/$BUILD/bin/sluice-server")
WORK=$(mktemp -d)
SERVER_PID=""
BT_PIDS=()
TOPO_CLI_TIMEOUT=60

reset_state() {
    for p in "${BT_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    BT_PIDS=()
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
    topo_down $TOPO
}
trap 'reset_state; if [ -n "${USDT_KEEP:-}" ]; then echo "# kept $WORK"; else rm -rf "$WORK"; fi' EXIT
trap 'exit 130' INT TERM

for tool in bpftrace curl h2load openssl python3; do
    if ! command -v $tool >/dev/null; then
        skip "usdt suite" "$tool is not installed (tools/deps.sh)"
        exit 0
    fi
done
ulimit -l unlimited 2>/dev/null # bpftrace's maps, on kernels that still charge them to RLIMIT_MEMLOCK

# ---- the probes, listed ---------------------------------------------------------------------------

WANT_PROBES=$(sed -n 's/^ *X(\([a-z_]*\)) *\\\?$/\1/p' "$ROOT/common/probes.h" | sort | tr '\n' ' ')
list_probes() { bpftrace -l "usdt:$1:*" 2>/dev/null | sed -n 's/^usdt:.*:sluice:\([a-z_]*\)$/\1/p' | sort | tr '\n' ' '; }
if [ -n "$WANT_PROBES" ] && [ "$(list_probes "$SERVER")" = "$WANT_PROBES" ]; then
    ok "bpftrace -l lists every probe of common/probes.h in sluice-server: $WANT_PROBES"
else
    not_ok "bpftrace -l lists every probe in sluice-server" "want '$WANT_PROBES', got '$(list_probes "$SERVER")'"
fi
LIB=$ROOT/$BUILD/lib/libsluice.so.0.1.0
# the library as this build makes it now (make is a no-op when it is up to date)
SANITIZE=0
nm "$SERVER" 2>/dev/null | grep -q __asan_init && SANITIZE=1
if make -s -C "$ROOT" BUILD="$BUILD" SANITIZE=$SANITIZE lib >"$WORK/make-lib.log" 2>&1; then
    if [ "$(list_probes "$LIB")" = "$WANT_PROBES" ]; then ok "bpftrace -l lists every probe in libsluice.so"; else not_ok "bpftrace -l lists every probe in libsluice.so" "got '$(list_probes "$LIB")'"; fi
else
    not_ok "make lib builds libsluice.so" "$(tail -3 "$WORK/make-lib.log" | tr '\n' '|')"
fi

# ---- helpers --------------------------------------------------------------------------------------

# bt_start NAME SCRIPT: bpftrace on the server's PID, output in $WORK/bt-NAME.out, PID in BT_PIDS; waits
# until BEGIN has fired (every probe attached; 60 s at most)
bt_start() {
    local name=$1 script=$2 out=$WORK/bt-$1.out
    # bpftrace prints "Attaching" before the probes are live; BEGIN fires once they all are
    bpftrace -B line -p "$SERVER_PID" -e "$script BEGIN { printf(\"attached\\n\"); }" >"$out" 2>"$WORK/bt-$name.err" &
    BT_PIDS+=($!)
    for _ in $(seq 600); do
        grep -q '^attached' "$out" && return 0
        kill -0 "${BT_PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    not_ok "bpftrace $name attached" "$(grep -v RLIMIT_MEMLOCK "$WORK/bt-$name.err" | head -3 | tr '\n' '|')"
    return 1
}

# bt_stop: SIGINT to every bpftrace at once (each prints its maps, detaches and exits: seconds on a busy
# machine), then up to 60 s for each; one still running then is killed, and says so
bt_stop() {
    for p in "${BT_PIDS[@]}"; do
        kill -INT "$p" 2>/dev/null
    done
    for p in "${BT_PIDS[@]}"; do
        if ! timeout 60 tail --pid="$p" -f /dev/null; then
            echo "# bpftrace $p did not exit within 60 s of SIGINT: killed"
            kill -KILL "$p" 2>/dev/null
        fi
        wait "$p" 2>/dev/null
    done
    BT_PIDS=()
}

# map FILE NAME: the value of bpftrace's scalar map @NAME (0 when it never fired)
map() { sed -n "s/^@$2: \([0-9]*\)$/\1/p" "$1" | awk '{ s += $1 } END { print s + 0 }'; }

# metric FILE NAME: a counter summed over the workers
metric() { awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { print s + 0 }' "$1"; }

# The counting script: per probe, what the checks below compare with the clients' counts.
COUNT_SCRIPT='
usdt:SERVER:sluice:conn_accept { @accept = count(); @accept_dp[str(arg2)] = count(); }
usdt:SERVER:sluice:conn_close { @close = count(); }
usdt:SERVER:sluice:request_start { @start[str(arg3), str(arg4), arg5] = count(); }
usdt:SERVER:sluice:request_end { @end[str(arg1), str(arg2), str(arg3), arg4] = count(); @end_ns[str(arg3)] = min(arg5); }
usdt:SERVER:sluice:tls_handshake_done { @tls[str(arg2), str(arg4)] = count(); }
usdt:SERVER:sluice:handoff { @handoff = count(); @handoff_to[arg1] = count(); }
usdt:SERVER:sluice:handoff_done { @handoff_done = count(); }
usdt:SERVER:sluice:overload { @overload[str(arg3), str(arg4), arg5] = count(); }'

# README's one-liners, as written there, pointed at this build's server
readarray -t ONE_LINERS < <(sed -n "s/^bpftrace -e '\(usdt:\/usr\/local\/bin\/sluice-server:sluice:request_end .*\)'$/\1/p" "$ROOT/README.md")
if [ ${#ONE_LINERS[@]} = 2 ]; then ok "README has the two bpftrace one-liners"; else not_ok "README has the two bpftrace one-liners" "found ${#ONE_LINERS[@]}"; fi

# ---- the runs -------------------------------------------------------------------------------------

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=usdt.test \
    -addext subjectAltName=DNS:usdt.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >"$WORK/openssl.log" 2>&1 ||
    not_ok "a self-signed certificate" "$(tail -2 "$WORK/openssl.log" | tr '\n' '|')"

topo_down $TOPO
topo_up $TOPO >/dev/null
for dp in $DATAPATHS; do
    case $dp in
    socket)
        PORT=8080 TPORT=8443
        ARGS=(--datapath socket --http $PORT --https $TPORT)
        STOPPED="stopped"
        ;;
    xdp)
        PORT=80 TPORT=443
        ARGS=(--dev "$DEV" --http $PORT --https $TPORT)
        STOPPED="every frame returned"
        agent load --dev "$DEV" >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $PORT --steer >/dev/null
        agent service add --dev "$DEV" --addr $SRV4 --port $TPORT --tls >/dev/null
        agent route add --dev "$DEV" --prefix /bytes --worker 1 >/dev/null
        agent route add --dev "$DEV" --prefix / --worker 0 >/dev/null
        ;;
    *)
        not_ok "datapath $dp" "expected socket or xdp"
        continue
        ;;
    esac
    URL=http://$SRV4:$PORT
    topo_start_server "$dp" 2 "${ARGS[@]}" --cert "$WORK/cert.pem" --key "$WORK/key.pem"
    rm -f "$WORK"/bt-*.out
    bt_start count "${COUNT_SCRIPT//SERVER/$SERVER}" &&
        bt_start hist "${ONE_LINERS[0]//\/usr\/local\/bin\/sluice-server/$SERVER}" &&
        bt_start slow "${ONE_LINERS[1]//\/usr\/local\/bin\/sluice-server/$SERVER}" || {
        bt_stop
        topo_stop_server "$dp" "$STOPPED"
        continue
    }

    # the clients: 5 HTTP/1.1 connections, 2 TLS ones, 4 of h2load, then the scrape's
    codes=""
    for path in /healthz /healthz /healthz /nope /sleep/300; do
        codes="$codes $(cli curl -sS -m 10 -o /dev/null -w '%{http_code}' "$URL$path" 2>&1)"
    done
    codes="$codes $(cli curl -sS -m 10 -k -o /dev/null -w '%{http_code}' --http2 --resolve usdt.test:$TPORT:$SRV4 "https://usdt.test:$TPORT/healthz" 2>&1)"
    codes="$codes $(cli curl -sS -m 10 -k -o /dev/null -w '%{http_code}' --http1.1 --resolve usdt.test:$TPORT:$SRV4 "https://usdt.test:$TPORT/healthz" 2>&1)"
    h2=$(cli h2load -n 40 -c 4 -m 2 "$URL/bytes/100" 2>&1)
    h2ok=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' <<<"$h2")
    cli curl -sS -m 10 -o "$WORK/metrics-$dp" "$URL/metrics"
    if [ "$codes" = " 200 200 200 404 200 200 200" ] && [ "${h2ok:-0}" = 40 ]; then
        ok "$dp: clients answered: curl$codes, h2load 40 of 40"
    else
        not_ok "$dp: clients answered" "curl$codes, h2load ${h2ok:-?} 2xx: $(grep -E 'requests:|status codes' <<<"$h2" | tr '\n' '|')"
    fi
    sleep 0.5 # the scrape's own request_end and close: after its last byte reached curl
    bt_stop
    C=$WORK/bt-count.out M=$WORK/metrics-$dp

    # connections: 5 + 2 + 4 + 1
    acc=$(map "$C" accept) cls=$(map "$C" close)
    dpname=$dp
    [ "$dp" = socket ] || dpname=xdp
    if [ "$acc" = 12 ] && [ "$cls" = 12 ] && grep -q "^@accept_dp\[$dpname\]: 12$" "$C"; then
        ok "$dp: conn_accept and conn_close fired once per client connection (12, datapath $dpname)"
    else
        not_ok "$dp: conn_accept and conn_close once per client connection" "accept $acc, close $cls (want 12): $(grep accept_dp "$C" | tr '\n' ' ')"
    fi
    accepted=$(metric "$M" sluice_app_accepted_total)
    if [ "$accepted" = 12 ]; then ok "$dp: sluice_app_accepted_total is 12 too"; else not_ok "$dp: sluice_app_accepted_total is 12 too" "$accepted"; fi

    # requests, each with its route, method, path and status
    want_end="@end[GET /bytes/:n, GET, /bytes/100, 200]: 40
@end[GET /healthz, GET, /healthz, 200]: 5
@end[GET /metrics, GET, /metrics, 200]: 1
@end[GET /sleep/:ms, GET, /sleep/300, 200]: 1
@end[none, GET, /nope, 404]: 1"
    got_end=$(grep '^@end\[' "$C" | sort)
    if [ "$got_end" = "$want_end" ]; then
        ok "$dp: request_end fired once per request with its route, method, path and status (48)"
    else
        not_ok "$dp: request_end once per request with route, method, path, status" "$(tr '\n' '|' <<<"$got_end")"
    fi
    want_start="@start[GET, /bytes/100, 20]: 40
@start[GET, /healthz, 11]: 4
@start[GET, /healthz, 20]: 1
@start[GET, /metrics, 11]: 1
@start[GET, /nope, 11]: 1
@start[GET, /sleep/300, 11]: 1"
    got_start=$(grep '^@start\[' "$C" | sort)
    if [ "$got_start" = "$want_start" ]; then ok "$dp: request_start fired once per request with method, path and version"; else not_ok "$dp: request_start once per request" "$(tr '\n' '|' <<<"$got_start")"; fi
    slow_ns=$(sed -n 's|^@end_ns\[/sleep/300\]: \([0-9]*\)$|\1|p' "$C")
    if [ "${slow_ns:-0}" -ge 300000000 ] && [ "$slow_ns" -lt 10000000000 ]; then ok "$dp: request_end's duration of /sleep/300 is ${slow_ns} ns"; else not_ok "$dp: request_end's duration of /sleep/300" "${slow_ns:-none} ns"; fi

    got_tls=$(grep '^@tls\[' "$C" | sort | tr '\n' '|')
    if [ "$got_tls" = "@tls[TLSv1.3, h2]: 1|@tls[TLSv1.3, http/1.1]: 1|" ]; then ok "$dp: tls_handshake_done once per TLS connection, with version and ALPN"; else not_ok "$dp: tls_handshake_done once per TLS connection" "$got_tls"; fi

    if [ "$dp" = xdp ]; then
        ho=$(map "$C" handoff) hod=$(map "$C" handoff_done)
        out=$(metric "$M" sluice_afxdp_steer_moved_out_total) in=$(metric "$M" sluice_afxdp_steer_moved_in_total)
        if [ "$ho" -gt 0 ] && [ "$ho" = "$out" ] && [ "$hod" = "$in" ]; then
            ok "$dp: handoff and handoff_done fired once per moved connection ($ho out, $hod in)"
        else
            not_ok "$dp: handoff and handoff_done once per moved connection" "probes $ho out, $hod in; counters $out out, $in in"
        fi
    fi

    # the histograms against the counters and the clients
    if out=$(python3 - "$M" <<'EOF'
import re, sys
hist, counters = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'sluice_http_request_duration_seconds_(bucket|sum|count)\{route="([^"]*)",code="(\dxx)"(?:,le="([^"]*)")?\} (\S+)$', line)
    if m:
        kind, route, code, le, v = m.groups()
        h = hist.setdefault((route, code), {'buckets': []})
        if kind == 'bucket':
            h['buckets'].append((float('inf') if le == '+Inf' else float(le), int(v)))
        else:
            h[kind] = float(v) if kind == 'sum' else int(v)
        continue
    m = re.match(r'(sluice_http_\w+_total)\{worker="\d+"\} (\d+)$', line)
    if m:
        counters[m.group(1)] = counters.get(m.group(1), 0) + int(m.group(2))
want = {('GET /bytes/:n', '2xx'): 40, ('GET /healthz', '2xx'): 5, ('GET /sleep/:ms', '2xx'): 1, ('none', '4xx'): 1}
got = {k: h.get('count') for k, h in hist.items()}
errors = []
if got != want:
    errors.append(f'counts per route and class {got}, want {want}')
for (route, code), h in hist.items():
    b = h['buckets']
    les = [le for le, _ in b]
    if les != sorted(les) or les[-1] != float('inf') or any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
        errors.append(f'{route} {code}: buckets not cumulative: {b}')
    if b[-1][1] != h.get('count'):
        errors.append(f'{route} {code}: +Inf {b[-1][1]} != _count {h.get("count")}')
    lo = hi = 0.0
    for i, (le, c) in enumerate(b):
        n = c - (b[i - 1][1] if i else 0)
        if n:
            lo += n * (b[i - 1][0] if i else 0.0)
            hi += n * le
    if not lo <= h.get('sum', -1) <= hi:
        errors.append(f'{route} {code}: _sum {h.get("sum")} outside what its buckets allow [{lo}, {hi}]')
# the scrape is in flight: dispatched and answered 200, not over yet
total = sum(h.get('count', 0) for h in hist.values())
if total != counters.get('sluice_http_requests_total', 0) - 1:
    errors.append(f'histograms count {total}, requests_total {counters.get("sluice_http_requests_total")} (want one more: the scrape)')
for cls, code in (('responses_2xx', '2xx'), ('responses_4xx', '4xx'), ('responses_5xx', '5xx')):
    n = sum(h.get('count', 0) for (r, c), h in hist.items() if c == code)
    want_n = counters.get(f'sluice_http_{cls}_total', 0) - (1 if code == '2xx' else 0)
    if n != want_n:
        errors.append(f'{code}: histograms {n}, sluice_http_{cls}_total less the scrape {want_n}')
slow = hist.get(('GET /sleep/:ms', '2xx'), {})
if not 0.3 <= slow.get('sum', 0) < 10:
    errors.append(f'/sleep/300 _sum {slow.get("sum")} s')
print('; '.join(errors) if errors else f'{len(hist)} histograms, {total} requests')
sys.exit(1 if errors else 0)
EOF
    ); then
        ok "$dp: histograms: _count per route and class equals the clients' requests and the request counters, buckets cumulative, _sum within them ($out)"
    else
        not_ok "$dp: histograms against counters and clients" "$out"
    fi

    # README's one-liners
    H=$WORK/bt-hist.out S=$WORK/bt-slow.out
    missing=""
    for route in "GET /bytes/:n" "GET /healthz" "GET /metrics" "GET /sleep/:ms" "none"; do
        grep -qF "@us[$route]:" "$H" || missing="$missing [$route]"
    done
    if [ -z "$missing" ]; then ok "$dp: README's per-route latency one-liner shows a histogram per route"; else not_ok "$dp: README's per-route latency one-liner" "missing$missing: $(head -c 300 "$H" | tr '\n' '|')"; fi
    slow_lines=$(grep -E '^[0-9]+ ms ' "$S")
    if [ "$(grep -c . <<<"$slow_lines")" = 1 ] && grep -Eq '^([3-9][0-9]{2}|[0-9]{4,}) ms GET /sleep/300 200$' <<<"$slow_lines"; then
        ok "$dp: README's slow-request one-liner prints the slow request with its path: $slow_lines"
    else
        not_ok "$dp: README's slow-request one-liner prints the slow request alone" "$(tr '\n' '|' <<<"$slow_lines")"
    fi

    topo_stop_server "$dp" "$STOPPED"
    [ "$dp" = xdp ] && agent unload --dev "$DEV" >/dev/null 2>&1
done

# ---- overload: rate-limited requests fire `overload` -------------------------------------------------

printf '[http]\nrate_limit_rps = 1\nrate_limit_burst = 3\n' >"$WORK/limit.conf"
topo_start_server limit 1 --config "$WORK/limit.conf" --datapath socket --http 8080
if bt_start limit "usdt:$SERVER:sluice:overload { @overload[str(arg3), str(arg4), arg5] = count(); }"; then
    h2=$(cli h2load -n 20 -c 1 -m 1 "http://$SRV4:8080/healthz" 2>&1)
    s4=$(sed -n 's/^status codes: [0-9]* 2xx, [0-9]* 3xx, \([0-9]*\) 4xx.*/\1/p' <<<"$h2")
    sleep 0.3
    bt_stop
    sleep 1.2 # a token back at 1/s: the scrape is not limited itself
    cli curl -sS -m 10 -o "$WORK/metrics-limit" "http://$SRV4:8080/metrics"
    limited=$(metric "$WORK/metrics-limit" sluice_http_rate_limited_total)
    probes=$(sed -n 's/^@overload\[rate_limited, none, 429\]: \([0-9]*\)$/\1/p' "$WORK/bt-limit.out")
    if [ "${s4:-0}" -gt 0 ] && [ "$probes" = "$s4" ] && [ "$limited" -ge "$s4" ]; then
        ok "overload: one probe (rate_limited, route none, 429) per 429 the client got ($s4 of 20)"
    else
        not_ok "overload: one probe per 429" "client ${s4:-?} 429, probes ${probes:-none}, counter $limited: $(grep '^@' "$WORK/bt-limit.out" | tr '\n' '|')"
    fi
fi
topo_stop_server limit "stopped"
