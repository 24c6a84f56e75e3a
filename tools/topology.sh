#!/usr/bin/env bash
# Network-namespace topology for nodeplane demos and end-to-end tests.
#
#   tools/topology.sh up   [PREFIX]   build the voting-app topology (default PREFIX: np)
#   tools/topology.sh down [PREFIX]   remove it (idempotent; kills what runs inside)
#   tools/topology.sh show [PREFIX]   list its namespaces and veths
#
# Sourced (". tools/topology.sh"), it only defines the topo_* functions, which
# tests/e2e/lib.sh uses to build smaller topologies.
#
# Every host is a network namespace "PREFIX-NAME" joined to the root namespace
# by a veth: "eth0" inside, "PREFIX-NAME" outside. The dataplane opens the
# outside ends with net_af_packet; the root kernel is kept out of the way on
# them (no ARP, no IPv6, no forwarding, strict reverse-path filter), so only
# the dataplane ever carries traffic between the namespaces.
#
#   PREFIX-user   192.168.100.1/24        the user, on the uplink's L2
#   PREFIX-node   192.168.100.10/32       the node's own kernel (host port)
#   PREFIX-<pod>  10.244.1.X/24 gw .1     one namespace per pod
#
# MACs are fixed and derived from the IP (02:00:<ip bytes>) so the node config
# can list each pod's MAC (podMAC) without asking the kernel.

TOPO_NODE_IP=${TOPO_NODE_IP:-192.168.100.10}
TOPO_USER_IP=${TOPO_USER_IP:-192.168.100.1}
TOPO_LAN_CIDR=${TOPO_LAN_CIDR:-192.168.100.0/24}
TOPO_POD_GW=${TOPO_POD_GW:-10.244.1.1}
TOPO_CLUSTER_CIDR=${TOPO_CLUSTER_CIDR:-10.244.0.0/16}
TOPO_SERVICE_CIDR=${TOPO_SERVICE_CIDR:-10.96.0.0/12}

# The voting app's pods: name, IP (the same as config/voting-app/*.yaml).
TOPO_VOTING_PODS=(
  "ingress 10.244.1.10"
  "vote-1  10.244.1.11"
  "vote-2  10.244.1.12"
  "result  10.244.1.13"
  "redis   10.244.1.14"
  "db      10.244.1.15"
  "worker  10.244.1.16"
)

topo_log() { echo "topology: $*" >&2; }

# 10.244.1.11 -> 02:00:0a:f4:01:0b
topo_mac_for_ip() {
  local IFS=.
  # shellcheck disable=SC2086
  set -- $1
  printf '02:00:%02x:%02x:%02x:%02x\n' "$1" "$2" "$3" "$4"
}

topo_ns() { echo "$1-$2"; }          # PREFIX NAME -> namespace
topo_if() { echo "$1-$2"; }          # PREFIX NAME -> root-side veth

topo_sysctl() { sysctl -qw "$@" >/dev/null 2>&1 || true; }

# Keep the root kernel off a root-side veth end: the dataplane owns it.
topo_quiet_root_end() {
  local dev=$1
  topo_sysctl "net.ipv6.conf.$dev.disable_ipv6=1"
  topo_sysctl "net.ipv4.conf.$dev.forwarding=0"
  topo_sysctl "net.ipv4.conf.$dev.rp_filter=1"
  topo_sysctl "net.ipv4.conf.$dev.accept_redirects=0"
  topo_sysctl "net.ipv4.conf.$dev.send_redirects=0"
  ip link set dev "$dev" arp off
  ip link set dev "$dev" multicast off
  ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip link set dev "$dev" up
}

# topo_add_host PREFIX NAME MAC: namespace + veth, eth0 up inside with MAC.
topo_add_host() {
  local prefix=$1 name=$2 mac=$3
  local ns dev
  ns=$(topo_ns "$prefix" "$name")
  dev=$(topo_if "$prefix" "$name")
  if (( ${#dev} > 15 )); then
    topo_log "interface name '$dev' is longer than 15 characters: shorten the prefix or the name"
    return 1
  fi
  ip netns add "$ns"
  ip link add "$dev" type veth peer name eth0 netns "$ns"
  topo_quiet_root_end "$dev"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.default.rp_filter=2 >/dev/null
  ip netns exec "$ns" sysctl -qw net.ipv4.conf.eth0.rp_filter=2 >/dev/null 2>&1 || true
  # Ephemeral ports clear of the dataplane's SNAT range (61000-65535), so
  # that the 5-tuples stay easy to read.
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="32768 60999" >/dev/null 2>&1 || true
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 address "$mac"
  # af_packet would hand the dataplane packets with partial checksums.
  ip netns exec "$ns" ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n "$ns" link set eth0 up
}

# topo_add_user PREFIX [IP]: the user on the uplink's L2 segment.
topo_add_user() {
  local prefix=$1 ip=${2:-$TOPO_USER_IP}
  local ns
  ns=$(topo_ns "$prefix" user)
  topo_add_host "$prefix" user "$(topo_mac_for_ip "$ip")" || return 1
  ip -n "$ns" addr add "$ip/${TOPO_LAN_CIDR#*/}" dev eth0
}

# topo_add_node PREFIX [IP]: the node's own kernel behind the host port.
topo_add_node() {
  local prefix=$1 ip=${2:-$TOPO_NODE_IP}
  local ns
  ns=$(topo_ns "$prefix" node)
  topo_add_host "$prefix" node "$(topo_mac_for_ip "$ip")" || return 1
  ip -n "$ns" addr add "$ip/32" dev eth0
  # The dataplane proxy-ARPs for everything on the host port.
  ip -n "$ns" route add "$TOPO_LAN_CIDR" dev eth0 src "$ip"
  ip -n "$ns" route add "$TOPO_CLUSTER_CIDR" dev eth0 src "$ip"
  ip -n "$ns" route add "$TOPO_SERVICE_CIDR" dev eth0 src "$ip"
}

# topo_add_pod PREFIX NAME IP: a pod, default route via the pod gateway.
topo_add_pod() {
  local prefix=$1 name=$2 ip=$3
  local ns
  ns=$(topo_ns "$prefix" "$name")
  topo_add_host "$prefix" "$name" "$(topo_mac_for_ip "$ip")" || return 1
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" route add default via "$TOPO_POD_GW" dev eth0
}

# topo_down PREFIX: kill every process inside the PREFIX-* namespaces (all of
# them were started there by our scripts), delete the namespaces and veths.
topo_down() {
  local prefix=$1 ns dev pids
  [[ -n $prefix ]] || { topo_log "topo_down needs a prefix"; return 1; }
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}-" || true); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086
      kill $pids 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -z $pids ]] && break
        sleep 0.1
      done
      # shellcheck disable=SC2086
      [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
  done
  for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${prefix}-" || true); do
    ip link del "$dev" 2>/dev/null || true
  done
}

topo_show() {
  local prefix=$1
  ip netns list | grep -E "^${prefix}-" || true
  ip -br link show | grep -E "^${prefix}-" || true
}

# The voting-app topology of tools/demo (config/demo/node.yaml).
topo_up_voting() {
  local prefix=$1 entry name ip
  topo_add_user "$prefix" || return 1
  topo_add_node "$prefix" || return 1
  for entry in "${TOPO_VOTING_PODS[@]}"; do
    read -r name ip <<<"$entry"
    topo_add_pod "$prefix" "$name" "$ip" || return 1
  done
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  [[ $(id -u) == 0 ]] || { echo "topology.sh: run as root (it creates network namespaces)" >&2; exit 1; }
  cmd=${1:-}
  prefix=${2:-np}
  case $cmd in
    up)
      topo_down "$prefix"
      if ! topo_up_voting "$prefix"; then
        topo_down "$prefix"
        exit 1
      fi
      topo_show "$prefix"
      ;;
    down) topo_down "$prefix" ;;
    show) topo_show "$prefix" ;;
    *) echo "usage: $0 up|down|show [PREFIX]" >&2; exit 2 ;;
  esac
fi
