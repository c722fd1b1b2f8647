#!/bin/sh
# topology.sh — the test topology: a server and a client network namespace joined by a veth pair.
#
#   tools/topology.sh up   [NAME]        (re)create it; idempotent; TOPO_MTU sets both ends' MTU
#                                        (default 1500; up to 65535 on veth), TOPO_QUEUES both ends'
#                                        RX and TX queues (default 1; veth delivers a packet on the
#                                        receiver's RX queue of the sender's TX queue)
#   tools/topology.sh down [NAME]        remove it; leaves nothing behind, fine if absent
#   tools/topology.sh exec NAME srv|cli CMD...   run CMD in a namespace
#   tools/topology.sh show [NAME]        print the names and addresses, shell-sourceable
#
# NAME (default "sl") prefixes everything, so tests and the demo can each have their own:
#   namespaces NAME-srv and NAME-cli, veth NAME-s (server side) and NAME-c (client side),
#   server 10.77.0.1/24 and fd00:77::1/64, client 10.77.0.2/24 and fd00:77::2/64.
# Commands enter a namespace with `nsenter --net` rather than `ip netns exec`: the latter remounts
# /sys and so hides the BPF filesystem where sluice's maps are pinned.
set -eu

usage() {
    echo "usage: topology.sh up|down|show [NAME] | exec NAME srv|cli CMD..." >&2
    exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
name=${1:-sl}
case "$name" in
*[!a-z0-9]* | "") echo "topology.sh: error: NAME must be lowercase letters and digits: '$name'" >&2; exit 2 ;;
esac
case "${TOPO_QUEUES:-1}" in
*[!0-9]* | "" | 0) echo "topology.sh: error: TOPO_QUEUES must be a number of queues, 1 or more: '$TOPO_QUEUES'" >&2; exit 2 ;;
esac
[ ${#name} -le 10 ] || { echo "topology.sh: error: NAME '$name' is longer than 10 characters" >&2; exit 2; }

SRV_NS=$name-srv
CLI_NS=$name-cli
SRV_IF=$name-s
CLI_IF=$name-c
SRV_IP4=10.77.0.1
CLI_IP4=10.77.0.2
SRV_IP6=fd00:77::1
CLI_IP6=fd00:77::2

down() {
    ip netns del "$SRV_NS" 2>/dev/null || true
    ip netns del "$CLI_NS" 2>/dev/null || true
    ip link del "$SRV_IF" 2>/dev/null || true
    ip link del "$CLI_IF" 2>/dev/null || true
}

up() {
    down
    ip netns add "$SRV_NS"
    ip netns add "$CLI_NS"
    q=${TOPO_QUEUES:-1}
    ip link add "$SRV_IF" numrxqueues "$q" numtxqueues "$q" type veth peer name "$CLI_IF" \
        numrxqueues "$q" numtxqueues "$q"
    ip link set "$SRV_IF" netns "$SRV_NS"
    ip link set "$CLI_IF" netns "$CLI_NS"
    for side in srv cli; do
        if [ $side = srv ]; then ns=$SRV_NS if=$SRV_IF ip4=$SRV_IP4 ip6=$SRV_IP6
        else ns=$CLI_NS if=$CLI_IF ip4=$CLI_IP4 ip6=$CLI_IP6; fi
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$ip4/24" dev "$if"
        ip -n "$ns" addr add "$ip6/64" dev "$if" nodad
        ip -n "$ns" link set "$if" mtu "${TOPO_MTU:-1500}" up
    done
    # The client's kernel would leave TCP checksums for "hardware" to fill in (veth offload), and
    # XDP hands the server's AF_XDP sockets the frame as it is: make the client compute them.
    nsenter --net="/run/netns/$CLI_NS" ethtool -K "$CLI_IF" tx off >/dev/null
}

case "$cmd" in
up) up ;;
down) down ;;
show)
    echo "SRV_NS=$SRV_NS CLI_NS=$CLI_NS SRV_IF=$SRV_IF CLI_IF=$CLI_IF"
    echo "SRV_IP4=$SRV_IP4 CLI_IP4=$CLI_IP4 SRV_IP6=$SRV_IP6 CLI_IP6=$CLI_IP6"
    ;;
exec)
    [ $# -ge 3 ] || usage
    side=$2
    shift 2
    case "$side" in
    srv) exec nsenter --net="/run/netns/$SRV_NS" -- "$@" ;;
    cli) exec nsenter --net="/run/netns/$CLI_NS" -- "$@" ;;
    *) usage ;;
    esac
    ;;
*) usage ;;
esac
