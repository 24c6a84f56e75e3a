#!/usr/bin/env bash
# NodePort and LoadBalancer VIP from the user namespace (outside the cluster):
#   externalTrafficPolicy Local   -> the backend sees the user's IP
#   externalTrafficPolicy Cluster -> the backend sees the node IP (SNAT)
. "$(dirname "$0")/lib.sh"

np_setup npe3
np_add_pod web-1 10.244.1.21
np_service local.yaml name=web-local clusterIP=10.96.1.31 port=80 targetPort=8080 type=LoadBalancer \
  nodePort=30081 lbIP=192.168.100.201 etp=Local healthCheckNodePort=32081
np_slice local-slice.yaml web-local 8080 TCP web-1=10.244.1.21
np_service cluster.yaml name=web-cluster clusterIP=10.96.1.32 port=80 targetPort=8080 type=LoadBalancer \
  nodePort=30082 lbIP=192.168.100.202 etp=Cluster
np_slice cluster-slice.yaml web-cluster 8080 TCP web-1=10.244.1.21
np_server web-1 http web-1 8080
np_start

user=$TOPO_USER_IP
node=$TOPO_NODE_IP
# check NAME URL EXPECTED_PEER_IP
check() {
  local name=$1 url=$2 want=$3 out peer
  out=$(np_in user curl -sS --max-time 5 "$url" 2>&1) || np_fail "$name: $url failed: $out"
  peer=$(sed -n 's/.* peer=\([0-9.]*\):.*/\1/p' <<<"$out")
  [[ $peer == "$want" ]] || np_fail "$name: $url: the backend saw $peer, expected $want ($out)"
  grep -q "peer=$want:" "$NP_WORK/web-1.log" || np_fail "$name: web-1's log has no peer $want"
  np_ok "$name: $url -> web-1 saw $peer"
}
check "LB VIP, externalTrafficPolicy Local" http://192.168.100.201/ "$user"
check "NodePort, externalTrafficPolicy Local" "http://$node:30081/" "$user"
check "LB VIP, externalTrafficPolicy Cluster" http://192.168.100.202/ "$node"
check "NodePort, externalTrafficPolicy Cluster" "http://$node:30082/" "$node"
# The health-check node port of the Local service (served by nodeplane-control
# in the node namespace, reached through the dataplane's host port): informative.
if hc=$(np_in user curl -sS --max-time 3 "http://$node:32081/" 2>&1); then
  np_log "healthCheckNodePort 32081 answered: $(tr -d '\n' <<<"$hc" | head -c 200)"
else
  np_log "healthCheckNodePort 32081 did not answer (informative only): $hc"
fi
np_pass "externalTrafficPolicy Local keeps the client IP, Cluster SNATs to the node IP"
