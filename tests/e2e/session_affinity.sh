#!/usr/bin/env bash
# sessionAffinity ClientIP: every connection of one client goes to the same
# backend (without affinity these 20 connections would spread over both).
. "$(dirname "$0")/lib.sh"

np_setup npe2
np_add_pod client 10.244.1.20
np_add_pod web-1 10.244.1.21
np_add_pod web-2 10.244.1.22
np_service web.yaml name=web clusterIP=10.96.1.20 port=80 targetPort=8080 affinity=ClientIP affinityTimeout=600
np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21 web-2=10.244.1.22
np_server web-1 http web-1 8080
np_server web-2 http web-2 8080
np_start

np_http_names client http://10.96.1.20/ 20 >"$NP_WORK/answers"
sort "$NP_WORK/answers" | uniq -c
if grep -q '^ERR' "$NP_WORK/answers"; then np_fail "requests failed: $(grep -m1 '^ERR' "$NP_WORK/answers")"; fi
n1=$(np_count web-1 "$NP_WORK/answers")
n2=$(np_count web-2 "$NP_WORK/answers")
((n1 + n2 == 20)) || np_fail "expected 20 answers, got web-1: $n1, web-2: $n2"
((n1 == 0 || n2 == 0)) || np_fail "sessionAffinity ClientIP broken: one client reached both backends (web-1: $n1, web-2: $n2)"
np_pass "sessionAffinity ClientIP: all 20 connections from 10.244.1.20 went to $(sort -u "$NP_WORK/answers")"
