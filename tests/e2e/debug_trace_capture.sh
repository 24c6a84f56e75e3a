#!/usr/bin/env bash
# npctl trace and npctl capture against a running dataplane (issue "See the
# traffic"): a NodePort request from the user namespace, traced hop by hop
# (service, backend, DNAT, SNAT, tx) with its reply (un-NAT); then captures
# on the pod port while curl runs: tcpdump reads the files, the SYN arrives
# at the pod DNATed and SNATed, and --filter 'tcp port 8080' keeps the ARPs
# out.
. "$(dirname "$0")/lib.sh"

np_setup fcap
np_require_tools tcpdump
[[ -n $NP_NPCTL ]] || np_fail "npctl not found"
np_add_pod web-1 10.244.1.21
np_service web.yaml name=web clusterIP=10.96.1.41 port=80 targetPort=8080 type=NodePort nodePort=30090 etp=Cluster
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21
np_server web-1 http web-1 8080
np_start

user=$TOPO_USER_IP
node=$TOPO_NODE_IP
url="http://$node:30090/"

# --- trace: the request's SYN and the SYN-ACK, 2 packets ---------------------
np_npctl trace --src "$user" --dst "$node:30090" --protocol tcp -c 2 --timeout 10s \
  >"$NP_WORK/trace.txt" 2>"$NP_WORK/trace.err" &
trace_pid=$!
NP_PIDS+=("$trace_pid")
sleep 0.5
np_in user curl -sS --max-time 5 "$url" >/dev/null || np_fail "curl $url failed"
wait "$trace_pid" || np_fail "npctl trace failed: $(cat "$NP_WORK/trace.err")"
cat "$NP_WORK/trace.txt"
expect_line() {  # PATTERN WHAT
  grep -Eq -- "$1" "$NP_WORK/trace.txt" || np_fail "trace: no $2 (pattern: $1)"
}
expect_line "^packet 1  tcp $user:[0-9]+ → $node:30090 \[S\]  rx uplink" "SYN received on the uplink"
expect_line "^  service +default/web:[^ ]* via NodePort $node:30090" "NodePort service match"
expect_line "^  backend +10\.244\.1\.21:8080 \(maglev\)" "backend choice"
expect_line "^  DNAT +$node:30090 → 10\.244\.1\.21:8080" "DNAT"
expect_line "^  SNAT +$user:[0-9]+ → $node:[0-9]+" "SNAT to the node"
expect_line "^  tx +web-1 → " "tx on the pod port"
expect_line "^packet 2  tcp 10\.244\.1\.21:8080 → $node:[0-9]+ \[S\.\]  rx web-1" "the reply, received on the pod port"
expect_line "^  conntrack +hit, reply direction" "the reply's conntrack hit"
expect_line "^  un-DNAT +10\.244\.1\.21:8080 → $node:30090" "the reply's un-DNAT"
expect_line "^  tx +uplink → " "the reply sent on the uplink"
np_ok "npctl trace: the NodePort walk and its reply"

# --- capture: everything on web-1, then only tcp port 8080 -------------------
# capture NAME STOP [FILTER]: one curl while npctl capture runs; the pod
# forgets its gateway's MAC first, so that it ARPs during the capture. STOP:
# "sigint" (npctl is interrupted after the curl) or "-c N".
capture() {
  local name=$1 stop=$2 pid
  local args=(capture --port web-1 -w "$NP_WORK/$name.pcap")
  if [[ $stop == sigint ]]; then args+=(--duration 30s); else args+=($stop --duration 10s); fi
  [[ -n ${3:-} ]] && args+=(--filter "$3")
  np_in web-1 ip neigh flush all
  np_npctl "${args[@]}" 2>"$NP_WORK/$name.err" &
  pid=$!
  NP_PIDS+=("$pid")
  sleep 0.5
  np_in user curl -sS --max-time 3 "$url" >/dev/null || np_fail "curl $url failed during capture $name"
  if [[ $stop == sigint ]]; then sleep 0.3; kill -INT "$pid"; fi
  wait "$pid" || np_fail "npctl capture failed: $(cat "$NP_WORK/$name.err")"
  cat "$NP_WORK/$name.err" >&2
  grep -Eq "[0-9]+ packets captured .*[0-9]+ dropped" "$NP_WORK/$name.err" || np_fail "capture $name: no summary"
  tcpdump -nn -r "$NP_WORK/$name.pcap" >"$NP_WORK/$name.txt" 2>/dev/null || np_fail "tcpdump cannot read $name.pcap"
  cat "$NP_WORK/$name.txt"
}
capture all sigint
grep -Eq "IP $node\.[0-9]+ > 10\.244\.1\.21\.8080: Flags \[S\]" "$NP_WORK/all.txt" ||
  np_fail "capture: no SYN to the pod after DNAT and SNAT"
grep -q "ARP" "$NP_WORK/all.txt" || np_fail "capture: the pod's ARP for its gateway is missing"
capture web "-c 3" 'tcp port 8080'
(($(wc -l <"$NP_WORK/web.txt") == 3)) || np_fail "-c 3: $(wc -l <"$NP_WORK/web.txt") packets in the file"
grep -Eq "Flags \[S\]" "$NP_WORK/web.txt" || np_fail "filtered capture: no SYN"
grep -q "ARP" "$NP_WORK/web.txt" && np_fail "filtered capture: --filter 'tcp port 8080' let an ARP through"
# Nothing stays armed: a new capture can start at once.
np_npctl capture --port web-1 -w "$NP_WORK/none.pcap" --duration 200ms 2>"$NP_WORK/none.err" ||
  np_fail "a capture after the others was refused: $(cat "$NP_WORK/none.err")"
np_ok "npctl capture: readable by tcpdump, SYN after NAT, filter, -c and SIGINT"
np_pass "npctl trace and capture on a live dataplane"
