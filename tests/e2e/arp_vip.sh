#!/usr/bin/env bash
# ARP for LoadBalancer VIPs (MetalLB's L2 mode): the user namespace resolves
# the VIP and the node IP to the dataplane's uplink MAC; the dataplane does
# not answer for addresses it does not own.
. "$(dirname "$0")/lib.sh"

np_setup npe7
np_add_pod web-1 10.244.1.21
np_service lb.yaml name=web clusterIP=10.96.1.70 port=80 targetPort=8080 type=LoadBalancer \
  nodePort=30087 lbIP=192.168.100.207
np_slice lb-slice.yaml web 8080 TCP web-1=10.244.1.21
np_server web-1 http web-1 8080
np_start

uplink_mac=$(cat "/sys/class/net/$(topo_if "$NP_PREFIX" user)/address")
out=$(np_in user curl -sS --max-time 5 http://192.168.100.207/ 2>&1) || np_fail "the VIP did not answer: $out"
np_ok "curl http://192.168.100.207/ -> $out"
neigh=$(np_in user ip neigh show 192.168.100.207 dev eth0)
echo "ip neigh: $neigh"
[[ $neigh == *"lladdr $uplink_mac"* ]] || np_fail "the VIP is not resolved to the uplink's MAC $uplink_mac: '$neigh'"
if command -v arping >/dev/null 2>&1; then
  for ip in 192.168.100.207 "$TOPO_NODE_IP"; do
    out=$(np_in user arping -c 2 -w 3 -I eth0 "$ip" 2>&1) || np_fail "arping $ip: no reply: $out"
    grep -qi "$uplink_mac" <<<"$out" || np_fail "arping $ip answered by another MAC: $out"
    np_ok "arping $ip -> $uplink_mac"
  done
  if out=$(np_in user arping -c 2 -w 2 -I eth0 192.168.100.250 2>&1); then
    np_fail "the dataplane answered ARP for 192.168.100.250, which it does not own: $out"
  fi
  np_ok "no ARP answer for 192.168.100.250 (not owned)"
else
  np_log "arping not installed: only the ip neigh check ran"
fi
np_pass "the VIP 192.168.100.207 resolves to the dataplane's uplink MAC $uplink_mac"
