#!/usr/bin/env bash
# demo.sh — the end-to-end demo (`make demo`), in a topology it creates and always removes.
#
#   tools/demo.sh BUILD_DIR
#
# It shows the steering program loaded and attached in native mode on the server's veth by
# sluice-agent, its pinned maps, services and routes (one added by the agent, one by the exact
# bpftool line the agent prints), then sluice-server serving TCP from AF_XDP sockets with two
# workers to ordinary kernel clients in the client namespace (a 64 MiB download and upload with
# SHA-256, and 100 echo connections), HTTP/2 and HTTP/1.1 over the same AF_XDP sockets to curl,
# nghttp and h2load, stream-prefix steering (connections moved to the worker their :path is routed
# to, then the route changed live with the bpftool lines the agent prints and new connections
# following it), HTTPS (TLS 1.3 with ALPN h2, resumption, connections steered by their SNI before
# the handshake), the server's /metrics, the agent's per-worker counters, and a clean stop and unload.
set -eu

BUILD=${1:-build}
cd "$(dirname "$0")/.."
AGENT=$(realpath "$BUILD/bin/sluice-agent")
SERVER=$(realpath "$BUILD/bin/sluice-server")
CLIENT=$(realpath "$BUILD/tests/kernel_client")
SERVER_LOG=$(mktemp)
SCRATCH=$(mktemp -d)
SERVER_PID=""
TOPO=demo
DEV=$TOPO-s
# shellcheck source=tests/lib/topo.sh
. tests/lib/topo.sh # srv, cli, topo_up, topo_down

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
agent() { # topo.sh's agent, each command printed first
    printf '$ sluice-agent %s\n' "$*"
    srv "$AGENT" "$@"
}

run_bpftool_lines() { # each `bpftool map update|delete ...` line on stdin, run as printed
    local line
    while IFS= read -r line; do
        case $line in
        bpftool\ *)
            echo "$ $line"
            # shellcheck disable=SC2086
            srv $line
            ;;
        esac
    done
}

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    topo_down $TOPO
    rm -rf "$SERVER_LOG" "$SCRATCH" "${STATIC:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "topology: namespaces $TOPO-srv and $TOPO-cli joined by veth $DEV <-> $TOPO-c"
topo_up $TOPO
tools/topology.sh show $TOPO

step "load and attach the XDP steering program"
agent load --dev "$DEV"
agent status --dev "$DEV"
PROG_ID=$(srv "$AGENT" status --dev "$DEV" | sed -n 's/.*program *id \([0-9]*\).*/\1/p')

step "the kernel's view: bpftool prog show / bpftool net show (driver = native XDP)"
bpftool prog show id "$PROG_ID"
srv bpftool net show dev "$DEV" | sed -n '1,3p'

step "services: TCP ports 80 and 443 (TLS; both steered by stream prefix), 7 (echo), 9 (sink), 19 (source) on 10.77.0.1 belong to sluice"
agent service add --dev "$DEV" --addr 10.77.0.1 --port 80 --steer
agent service add --dev "$DEV" --addr 10.77.0.1 --port 443 --tls --steer
for port in 7 9 19; do agent service add --dev "$DEV" --addr 10.77.0.1 --port $port; done
agent service list --dev "$DEV"

step "routes: /heavy to worker 1 with the agent, /api to worker 0 with a plain bpftool line"
agent route add --dev "$DEV" --prefix /heavy --worker 1
echo "$ sluice-agent route add --dev $DEV --prefix /api --worker 0 --bpftool"
srv "$AGENT" route add --dev "$DEV" --prefix /api --worker 0 --bpftool | tee "$SCRATCH/bpftool-lines"
run_bpftool_lines <"$SCRATCH/bpftool-lines"
agent route list --dev "$DEV"

step "bpftool map dump pinned /sys/fs/bpf/sluice/$DEV/routes: prefixes as text"
bpftool map dump pinned "/sys/fs/bpf/sluice/$DEV/routes"

step "traffic from the client namespace"
echo "$ ping -c 3 10.77.0.1            (ICMP: passed to the kernel)"
cli ping -c 3 -i 0.2 -W 1 10.77.0.1 | tail -2
echo "$ curl http://10.77.0.1:81/      (not a service: the kernel answers, port closed)"
cli curl -sS --max-time 2 http://10.77.0.1:81/ 2>&1 | head -1 || true
echo "$ curl http://10.77.0.1:80/      (a service with no server yet: dropped in XDP, not reset)"
cli curl -sS --max-time 1 http://10.77.0.1:80/ 2>&1 | head -1 || true

step "sluice-server: two workers serving HTTP, echo, sink and source from AF_XDP sockets"
STATIC=$(mktemp -d)
printf '<!doctype html><title>sluice</title><p>served from a mapped file, zero-copy\n' >"$STATIC/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=demo.example \
    -addext "subjectAltName=DNS:demo.example,DNS:a.example" -keyout "$SCRATCH/key.pem" -out "$SCRATCH/cert.pem" 2>/dev/null
echo "$ sluice-server --dev $DEV --workers 2 --http 80 --https 443 --cert cert.pem --key key.pem --static $STATIC --echo 7 --sink 9 --source 19"
nsenter --net=/run/netns/$TOPO-srv -- "$SERVER" --dev "$DEV" --workers 2 --http 80 --static "$STATIC" \
    --https 443 --cert "$SCRATCH/cert.pem" --key "$SCRATCH/key.pem" --echo 7 --sink 9 --source 19 >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do grep -q ready "$SERVER_LOG" && break; sleep 0.1; done
cat "$SERVER_LOG"
agent workers --dev "$DEV"

step "kernel clients in the client namespace, every byte checked"
for args in "download --port 19 --bytes 67108864 --seed 42" "upload --port 9 --bytes 67108864" \
    "echo --port 7 --conns 100 --bytes 100000"; do
    echo "$ kernel_client $args --addr 10.77.0.1"
    # shellcheck disable=SC2086
    cli "$CLIENT" $args --addr 10.77.0.1
done

step "HTTP over AF_XDP from the client namespace: HTTP/2, HTTP/1.1, the h2c upgrade"
echo "$ curl --http2-prior-knowledge http://10.77.0.1/healthz"
cli curl -sS --http2-prior-knowledge -w '  (HTTP/%{http_version} %{http_code})\n' http://10.77.0.1/healthz
echo "$ curl --http1.1 http://10.77.0.1/static/index.html"
cli curl -sS --http1.1 -w '  (HTTP/%{http_version} %{http_code}, %{content_type})\n' http://10.77.0.1/static/index.html
echo "$ curl --http2 http://10.77.0.1/bytes/1000000 | sha256sum     (upgrade: h2c)"
cli curl -sS --http2 -o /dev/null -w '%{size_download} bytes over HTTP/%{http_version}\n' http://10.77.0.1/bytes/1000000
echo "$ head -c 16M /dev/urandom | curl --http2-prior-knowledge --data-binary @- http://10.77.0.1/echo   (SHA-256 both ways)"
head -c $((16 << 20)) /dev/urandom >"$STATIC/upload"
echo "sent $(sha256sum <"$STATIC/upload" | cut -c1-16)… got $(cli curl -sS --http2-prior-knowledge --data-binary "@$STATIC/upload" http://10.77.0.1/echo | sha256sum | cut -c1-16)…"
echo "$ nghttp -ns -m 100 http://10.77.0.1/bytes/13     (100 concurrent streams on one connection)"
cli nghttp -nv -m 100 http://10.77.0.1/bytes/13 | grep -c ':status: 200' | sed 's/$/ responses with status 200/'
echo "$ h2load -n 100000 -c 16 -m 32 http://10.77.0.1/bytes/13"
cli h2load -n 100000 -c 16 -m 32 http://10.77.0.1/bytes/13 | grep -E '^(finished|requests|status codes)'
step "stream-prefix steering: XDP reads each connection's :path, the connection moves to the routed worker"
served() { # requests each worker has served so far, "w0 w1"
    cli curl -sS --http2-prior-knowledge http://10.77.0.1/metrics |
        sed -n 's/^sluice_http_requests_total{worker="\([01]\)"} \([0-9]*\)$/\2/p' | tr '\n' ' '
}
five_connections() { # five connections to /bytes/13; which worker served them
    local b a
    read -r -a b <<<"$(served)"
    for _ in 1 2 3 4 5; do cli curl -sS --http2-prior-knowledge -o /dev/null http://10.77.0.1/bytes/13; done
    read -r -a a <<<"$(served)"
    echo "  worker 0 served $((a[0] - b[0] - 1)), worker 1 served $((a[1] - b[1]))   (one /metrics request aside)"
}
agent route add --dev "$DEV" --prefix /metrics --worker 0 # where the counting below is read
agent route add --dev "$DEV" --prefix /bytes --worker 1
echo "$ curl --http2-prior-knowledge http://10.77.0.1/bytes/13     (x5, new connections, SYNs hashed to either worker)"
five_connections
echo "(the route changed live with bpftool: its text key and its HPACK Huffman key)"
srv "$AGENT" route add --dev "$DEV" --prefix /bytes --worker 0 --bpftool >"$SCRATCH/bpftool-lines"
run_bpftool_lines <"$SCRATCH/bpftool-lines"
echo "$ curl --http2-prior-knowledge http://10.77.0.1/bytes/13     (x5)"
five_connections
agent route list --dev "$DEV"

step "HTTPS over AF_XDP: TLS 1.3 with ALPN h2, tickets, and connections steered by their SNI"
echo "$ openssl s_client -connect 10.77.0.1:443 -alpn h2 -sess_out S; then -sess_in S   (resumption from a ticket)"
(sleep 0.5) | # the tickets come after the handshake: s_client stays for them
    cli openssl s_client -connect 10.77.0.1:443 -servername demo.example -alpn h2 -sess_out "$SCRATCH/sess" 2>/dev/null |
    grep -E '^(New|Reused),|ALPN protocol'
cli openssl s_client -connect 10.77.0.1:443 -servername demo.example -alpn h2 -sess_in "$SCRATCH/sess" </dev/null 2>/dev/null |
    grep -E '^(New|Reused),'
echo "$ curl -k --http2 https://10.77.0.1/bytes/1000000 | sha256sum    (against the same over cleartext)"
echo "https $(cli curl -sSk --http2 https://10.77.0.1/bytes/1000000 | sha256sum | cut -c1-16)… http $(cli curl -sS --http2-prior-knowledge http://10.77.0.1/bytes/1000000 | sha256sum | cut -c1-16)…"
echo "$ h2load -n 100000 -c 16 -m 32 https://10.77.0.1/bytes/13"
cli h2load -n 100000 -c 16 -m 32 https://10.77.0.1/bytes/13 | grep -E '^(TLS Protocol|finished|requests)'
handshakes() { # TLS handshakes each worker has done so far, "w0 w1"
    cli curl -sS --http2-prior-knowledge http://10.77.0.1/metrics |
        sed -n 's/^sluice_tls_handshakes_total{worker="\([01]\)"} \([0-9]*\)$/\2/p' | tr '\n' ' '
}
agent route add --dev "$DEV" --kind sni --prefix a.example --worker 1
read -r -a b <<<"$(handshakes)"
echo "$ curl -k https://a.example/healthz     (x5, new connections: XDP reads the ClientHello's SNI)"
for _ in 1 2 3 4 5; do cli curl -sSk -o /dev/null --resolve a.example:443:10.77.0.1 https://a.example/healthz; done
read -r -a a <<<"$(handshakes)"
echo "  handshakes: worker 0 $((a[0] - b[0])), worker 1 $((a[1] - b[1]))"

echo "$ curl http://10.77.0.1/metrics   (an excerpt)"
cli curl -sS --http2-prior-knowledge http://10.77.0.1/metrics |
    grep -E '^sluice_(http_requests_total|http_h2_connections_total|http_body_bytes_copied_total|tcp_segs_in_total|afxdp_rx_packets_total|afxdp_steer_moved_in_total|afxdp_steer_latency_ns_total|steer_redirects_total|steer_prefix_routed_total|tls_handshakes_total|tls_resumed_total|tls_own_records_total)'

step "counters: every packet ends in exactly one verdict; service packets were redirected per worker"
agent stats --dev "$DEV"

step "stop the server: connections drain, sockets deregister, every UMEM frame is accounted for"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
SERVER_PID=""
grep -E "^sluice-server|^worker|tcp_segs|app_accepted" "$SERVER_LOG"
agent workers --dev "$DEV"

step "unload: nothing stays attached or pinned"
agent unload --dev "$DEV"
srv bpftool net show dev "$DEV" | sed -n '1,2p'
ls /sys/fs/bpf/sluice 2>/dev/null || echo "(no pins under /sys/fs/bpf/sluice)"
