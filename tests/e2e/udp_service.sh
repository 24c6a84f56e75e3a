#!/usr/bin/env bash
# A UDP Service: datagrams to the ClusterIP reach a backend and its replies
# come back from the ClusterIP (the client's socket is connected to it).
. "$(dirname "$0")/lib.sh"

np_setup npe4
np_add_pod client 10.244.1.20
np_add_pod dns-1 10.244.1.21
np_add_pod dns-2 10.244.1.22
np_service dns.yaml name=dns clusterIP=10.96.1.40 port=53 protocol=UDP targetPort=5353
np_slice dns-slice.yaml dns 5353 UDP dns-1=10.244.1.21 dns-2=10.244.1.22
np_server dns-1 udp dns-1 5353
np_server dns-2 udp dns-2 5353
np_start

: >"$NP_WORK/answers"
for i in $(seq 10); do
  # a new client port each time: a new flow
  out=$(np_in client "$NP_PYTHON" -B "$NP_E2E_DIR/client.py" udp 10.96.1.40 53 "query-$i" 2>&1) ||
    np_fail "UDP datagram $i to 10.96.1.40:53 got no reply: $out"
  [[ $out == *": query-$i" ]] || np_fail "unexpected reply to query-$i: $out"
  echo "${out%%:*}" >>"$NP_WORK/answers"
done
sort "$NP_WORK/answers" | uniq -c
grep -q 'peer=10.244.1.20:' "$NP_WORK/dns-1.log" "$NP_WORK/dns-2.log" || np_fail "the backends did not see the client's IP"
np_pass "UDP ClusterIP 10.96.1.40:53: 10/10 datagrams answered ($(sort -u "$NP_WORK/answers" | tr '\n' ' '))"
