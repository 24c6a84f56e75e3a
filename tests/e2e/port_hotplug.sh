#!/usr/bin/env bash
# Ports come and go while the dataplane runs (as a CNI attaching pods will
# make them): a pod port added to the node config is attached and serves its
# Service without a restart; a removed one is detached while the others keep
# forwarding.
. "$(dirname "$0")/lib.sh"

np_setup npe8
np_add_pod client 10.244.1.20
np_add_pod web-1 10.244.1.21
np_service web.yaml name=web clusterIP=10.96.1.10 port=80 targetPort=8080
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21
np_server web-1 http web-1 8080
np_start

# wait_node_generation_above N: until the dataplane applied a newer node config.
wait_node_generation_above() {
  local old=$1 start=$SECONDS
  while (($(np_generation node applied) <= old)); do
    np_check_alive
    np_check_refused
    ((SECONDS - start < 30)) || np_fail "the node config change was not applied within 30s"
    sleep 0.2
  done
}

answers=$(np_http_names client http://10.96.1.10/ 4)
[[ $(grep -c web-1 <<<"$answers") == 4 ]] || np_fail "before the change, web-1 should answer every request: $answers"

# Add a pod and its port at run time.
np_add_pod web-2 10.244.1.22
np_server web-2 http web-2 8080
node_before=$(np_generation node applied)
services_before=$(np_generation services applied)
np_write_node_config "$NP_WORK/node.yaml.tmp" && mv -f "$NP_WORK/node.yaml.tmp" "$NP_WORK/node.yaml"
wait_node_generation_above "$node_before"
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21 web-2=10.244.1.22
np_wait_reapplied "$services_before"
grep -q "attaching\|applied node generation" "$NP_WORK/dataplane.log" || true
answers=$(np_http_names client http://10.96.1.10/ 16)
grep -q '^ERR' <<<"$answers" && np_fail "requests failed after adding a port: $(grep -m1 '^ERR' <<<"$answers")"
n2=$(grep -c web-2 <<<"$answers" || true)
((n2 > 0)) || np_fail "the pod on the new port never answered: $answers"
np_ok "added port web-2 serves (web-2 answered $n2 of 16)"

# Remove web-1: first from the Service, then its port.
services_before=$(np_generation services applied)
np_slice web-slice.yaml web 8080 TCP web-2=10.244.1.22
np_wait_reapplied "$services_before"
node_before=$(np_generation node applied)
kept=()
for entry in "${NP_PORTS[@]}"; do
  [[ $entry == "  - name: web-1"$'\n'* ]] || kept+=("$entry")
done
NP_PORTS=("${kept[@]}")
np_write_node_config "$NP_WORK/node.yaml.tmp" && mv -f "$NP_WORK/node.yaml.tmp" "$NP_WORK/node.yaml"
wait_node_generation_above "$node_before"
grep -q "detaching port web-1" "$NP_WORK/dataplane.log" || np_fail "the dataplane did not detach web-1"
answers=$(np_http_names client http://10.96.1.10/ 8)
grep -q '^ERR' <<<"$answers" && np_fail "requests failed after removing a port: $(grep -m1 '^ERR' <<<"$answers")"
[[ $(grep -c web-2 <<<"$answers") == 8 ]] || np_fail "web-2 should answer every request now: $answers"
np_npctl get ports | grep -q '^web-1 ' && np_fail "npctl still lists the removed port web-1"
np_pass "ports attached and detached at run time without a restart"
