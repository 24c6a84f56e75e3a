#!/usr/bin/env bash
# Removing an endpoint (the EndpointSlice file is rewritten; the control
# plane picks it up) moves new connections only: a long-lived TCP connection
# to the remaining backend keeps working across the update, and every new
# connection goes to the remaining backend.
. "$(dirname "$0")/lib.sh"

np_setup npe5
np_add_pod client 10.244.1.20
np_add_pod echo-1 10.244.1.21
np_add_pod echo-2 10.244.1.22
np_service echo.yaml name=echo clusterIP=10.96.1.50 port=7000 targetPort=9000
np_slice echo-slice.yaml echo 9000 TCP echo-1=10.244.1.21 echo-2=10.244.1.22
np_server echo-1 tcp echo-1 9000
np_server echo-2 tcp echo-2 9000
np_start

# Long-lived connections until both backends hold one (at most 16 tries).
declare -A held=()
for i in $(seq 16); do
  dir=$NP_WORK/conn-$i
  mkdir -p "$dir"
  np_bg client "$dir/log" "$NP_PYTHON" -B "$NP_E2E_DIR/client.py" hold 10.96.1.50 7000 "$dir"
  for _ in $(seq 50); do [[ -f $dir/first || -f $dir/error ]] && break; sleep 0.1; done
  [[ -f $dir/error ]] && np_fail "connection $i: $(cat "$dir/error")"
  [[ -f $dir/first ]] || np_fail "connection $i: no answer within 5s"
  backend=$(cut -d: -f1 "$dir/first")
  [[ -n ${held[$backend]:-} ]] || held[$backend]=$dir
  np_log "connection $i: $(cat "$dir/first")"
  ((${#held[@]} == 2)) && break
done
((${#held[@]} == 2)) || np_fail "16 connections all went to ${!held[*]}: no spread over the 2 endpoints"

# Remove echo-2 from the EndpointSlice; keep echo-1.
old=$(np_generation services published)
np_slice echo-slice.yaml echo 9000 TCP echo-1=10.244.1.21
np_wait_reapplied "$old"

# The connection to the remaining backend survives and still exchanges data.
touch "${held[echo-1]}/go" "${held[echo-2]}/go"
for _ in $(seq 50); do [[ -f ${held[echo-1]}/second || -f ${held[echo-1]}/error ]] && break; sleep 0.1; done
[[ -f ${held[echo-1]}/error ]] && np_fail "the long-lived connection to echo-1 broke: $(cat "${held[echo-1]}/error")"
[[ $(cat "${held[echo-1]}/second" 2>/dev/null) == "echo-1: again" ]] ||
  np_fail "the long-lived connection to echo-1 got no answer after the update"
np_ok "the long-lived connection to echo-1 survived the update: $(cat "${held[echo-1]}/second")"
# The one to the removed backend: kube-proxy keeps established TCP flows to a
# removed endpoint until they close; informative only.
for _ in $(seq 30); do [[ -f ${held[echo-2]}/second || -f ${held[echo-2]}/error ]] && break; sleep 0.1; done
np_log "the connection to the removed echo-2 after the update: $(cat "${held[echo-2]}/second" "${held[echo-2]}/error" 2>/dev/null | head -1)"

# New connections only reach echo-1.
: >"$NP_WORK/after"
for i in $(seq 12); do
  out=$(np_in client "$NP_PYTHON" -B -c '
import socket, sys
s = socket.create_connection(("10.96.1.50", 7000), timeout=3)
s.sendall(b"new\n"); print(s.makefile().readline().strip())' 2>&1) || np_fail "new connection $i after the update failed: $out"
  echo "$out" >>"$NP_WORK/after"
done
sort "$NP_WORK/after" | uniq -c
n2=$(np_count echo-2 "$NP_WORK/after")
((n2 == 0)) || np_fail "$n2 of 12 new connections still went to the removed endpoint echo-2"
np_pass "endpoint removal: 12/12 new connections to echo-1, the established connection to echo-1 survived"
