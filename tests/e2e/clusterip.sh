#!/usr/bin/env bash
# ClusterIP from a client pod to 2 backend pods: ~20 requests, each a new
# connection, must all succeed and reach both replicas.
. "$(dirname "$0")/lib.sh"

np_setup npe1
np_add_pod client 10.244.1.20
np_add_pod web-1 10.244.1.21
np_add_pod web-2 10.244.1.22
np_service web.yaml name=web clusterIP=10.96.1.10 port=80 targetPort=8080
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21 web-2=10.244.1.22
np_server web-1 http web-1 8080
np_server web-2 http web-2 8080
np_start

np_http_names client http://10.96.1.10/ 20 >"$NP_WORK/answers"
sort "$NP_WORK/answers" | uniq -c
grep -q '^ERR' "$NP_WORK/answers" && np_fail "some requests to the ClusterIP failed: $(grep -m1 '^ERR' "$NP_WORK/answers")"
n1=$(np_count web-1 "$NP_WORK/answers")
n2=$(np_count web-2 "$NP_WORK/answers")
((n1 + n2 == 20)) || np_fail "expected 20 answers from web-1/web-2, got $n1 + $n2"
((n1 > 0 && n2 > 0)) || np_fail "one replica got every connection (web-1: $n1, web-2: $n2)"
# The backends saw the client's own address (no SNAT for in-cluster traffic).
grep -q 'peer=10.244.1.20:' "$NP_WORK/web-1.log" || np_fail "web-1 did not see the client pod's IP"
np_pass "ClusterIP 10.96.1.10:80 -> web-1 x$n1, web-2 x$n2"
