#!/usr/bin/env bash
# The host port: the node's own kernel sits behind it. Host processes reach
# ClusterIPs through the dataplane (load-balanced like any client), and
# traffic for the node itself — here nodeplane-control's kube-proxy-style
# healthz — reaches the kernel from pods and from outside.
. "$(dirname "$0")/lib.sh"

np_setup npe9
np_add_pod web-1 10.244.1.21
np_add_pod web-2 10.244.1.22
np_service web.yaml name=web clusterIP=10.96.1.10 port=80 targetPort=8080
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21 web-2=10.244.1.22
np_server web-1 http web-1 8080
np_server web-2 http web-2 8080
np_start

# Host process -> ClusterIP, both replicas, and the backends see the node IP.
answers=$(np_http_names node http://10.96.1.10/ 16)
grep -q '^ERR' <<<"$answers" && np_fail "the node could not reach the ClusterIP: $(grep -m1 '^ERR' <<<"$answers")"
n1=$(grep -c web-1 <<<"$answers" || true)
n2=$(grep -c web-2 <<<"$answers" || true)
((n1 > 0 && n2 > 0)) || np_fail "node -> ClusterIP was not load-balanced (web-1 $n1, web-2 $n2)"
grep -q "peer=$TOPO_NODE_IP:" "$NP_WORK/web-1.log" "$NP_WORK/web-2.log" ||
  np_fail "the backends did not see the node's address"
np_ok "host processes reach the ClusterIP (web-1 x$n1, web-2 x$n2)"

# Pod -> node IP and user -> node IP: the exception path to the kernel.
code=$(np_in web-1 curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$TOPO_NODE_IP:10256/healthz" || true)
[[ $code == 200 ]] || np_fail "pod -> node healthz answered '$code', expected 200"
code=$(np_in user curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$TOPO_NODE_IP:10256/healthz" || true)
[[ $code == 200 ]] || np_fail "user -> node healthz answered '$code', expected 200"
to_host=$(np_npctl get counters -o json | "$NP_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["datapath"]["to_host"])')
((to_host > 0)) || np_fail "npctl counts no packet sent to the host port"
np_log "packets sent to the host port: $to_host"
np_pass "host port: node -> ClusterIP load-balanced; pods and users reach the node's healthz"
