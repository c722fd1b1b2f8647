#!/usr/bin/env bash
# demo.sh — the end-to-end demo (`make demo`), in a topology it creates and always removes.
#
#   tools/demo.sh BUILD_DIR
#
# Today it shows the XDP side: the steering program loaded and attached in native mode on the
# server's veth by sluice-agent, its pinned maps, a service and routes (one added by the agent,
# one by the exact bpftool line the agent prints), real traffic from the client namespace and
# the counters it moved, then a clean unload. The server joins the demo as it is built.
set -eu

BUILD=${1:-build}
cd "$(dirname "$0")/.."
AGENT=$(realpath "$BUILD/bin/sluice-agent")
TOPO=demo
DEV=$TOPO-s

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
srv() { tools/topology.sh exec $TOPO srv "$@"; }
cli() { tools/topology.sh exec $TOPO cli "$@"; }
agent() {
    printf '$ sluice-agent %s\n' "$*"
    srv "$AGENT" "$@"
}

cleanup() {
    srv "$AGENT" unload --dev "$DEV" --force >/dev/null 2>&1 || true
    tools/topology.sh down $TOPO
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "topology: namespaces $TOPO-srv and $TOPO-cli joined by veth $DEV <-> $TOPO-c"
tools/topology.sh up $TOPO
tools/topology.sh show $TOPO

step "load and attach the XDP steering program"
agent load --dev "$DEV"
agent status --dev "$DEV"
PROG_ID=$(srv "$AGENT" status --dev "$DEV" | sed -n 's/.*program *id \([0-9]*\).*/\1/p')

step "the kernel's view: bpftool prog show / bpftool net show (driver = native XDP)"
bpftool prog show id "$PROG_ID"
srv bpftool net show dev "$DEV" | sed -n '1,3p'

step "a service: TCP port 80 on 10.77.0.1 belongs to sluice, with stream-prefix steering"
agent service add --dev "$DEV" --addr 10.77.0.1 --port 80 --steer
agent service list --dev "$DEV"

step "routes: /heavy to worker 1 with the agent, /api to worker 0 with a plain bpftool line"
agent route add --dev "$DEV" --prefix /heavy --worker 1
LINE=$(srv "$AGENT" route add --dev "$DEV" --prefix /api --worker 0 --bpftool)
echo "$ sluice-agent route add --dev $DEV --prefix /api --worker 0 --bpftool"
echo "$LINE"
echo "$ $LINE"
$LINE
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

step "counters: every packet ends in exactly one verdict"
agent stats --dev "$DEV"

step "unload: nothing stays attached or pinned"
agent unload --dev "$DEV"
srv bpftool net show dev "$DEV" | sed -n '1,2p'
ls /sys/fs/bpf/sluice 2>/dev/null || echo "(no pins under /sys/fs/bpf/sluice)"
