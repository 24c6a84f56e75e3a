#!/usr/bin/env bash
# The seed's voting app under the shipped zero-trust policies
# (config/voting-app-policies: default deny, allow DNS, db-access,
# redis-access, external-access-to-*, the egress halves) on the pods and
# labels of config/voting-app, with real servers: vote reaches redis,
# result does not; worker reaches db (and redis), vote does not reach db;
# the ingress controller pod reaches vote and result (directly and through
# their ClusterIPs, judged on the backend after DNAT) but not redis or db.
# `npctl policy probe` on the same manifests agrees with every flow tried.
. "$(dirname "$0")/lib.sh"

np_setup npp3
np_add_pod ingress 10.244.1.10
np_add_pod vote 10.244.1.11
np_add_pod vote2 10.244.1.12  # the second vote replica: the vote Service balances over both
np_add_pod result 10.244.1.13
np_add_pod redis 10.244.1.14
np_add_pod db 10.244.1.15
np_add_pod worker 10.244.1.16
cp "$NP_REPO"/config/voting-app/*.yaml "$NP_MANIFESTS"/
np_server vote http vote 80
np_server vote2 http vote-2 80
np_server result http result 80
np_server redis tcp redis 6379
np_server db tcp db 5432
np_server worker tcp worker 8080
np_start

np_expect ok result tcp 10.244.1.14 6379 "no policy yet"

before=$(np_policy_generation)
cp "$NP_REPO"/config/voting-app-policies/*.yaml "$NP_MANIFESTS"/
np_wait_policy $((before + 1))
np_policy_settle
grep -c "^kind: NetworkPolicy" "$NP_MANIFESTS"/*.yaml >/dev/null

# TCP connect + HTTP GET for the web pods, line echo for redis/db.
http_expect() {  # ok|denied POD URL WHAT
  local code
  code=$(np_in "$2" curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$3" || true)
  if [[ $1 == ok ]]; then
    [[ $code == 200 ]] || np_fail "$2 -> $3 ($4): expected 200, got $code"
  else
    [[ $code == 000 ]] || np_fail "$2 -> $3 ($4): expected no connection, got $code"
  fi
  np_ok "$2 -> $3 ($4): $1"
}
np_expect ok vote tcp 10.244.1.14 6379 "vote -> redis"
np_expect denied result tcp 10.244.1.14 6379 "result -> redis"
np_expect ok vote tcp 10.96.0.13 6379 "vote -> redis ClusterIP"
np_expect denied result tcp 10.96.0.13 6379 "result -> redis ClusterIP"
np_expect ok worker tcp 10.244.1.15 5432 "worker -> db"
np_expect ok worker tcp 10.244.1.14 6379 "worker -> redis"
np_expect ok result tcp 10.244.1.15 5432 "result -> db"
np_expect denied vote tcp 10.244.1.15 5432 "vote -> db"
np_expect denied ingress tcp 10.244.1.14 6379 "ingress -> redis"
np_expect denied ingress tcp 10.244.1.15 5432 "ingress -> db"
np_expect denied db tcp 10.244.1.16 8080 "db -> worker"
http_expect ok ingress http://10.244.1.11/ "ingress -> vote pod"
http_expect ok ingress http://10.244.1.13/ "ingress -> result pod"
http_expect ok ingress http://10.96.0.11/ "ingress -> vote ClusterIP"
http_expect ok ingress http://10.96.0.12/ "ingress -> result ClusterIP"
http_expect denied worker http://10.244.1.11/ "worker -> vote pod"
http_expect denied redis http://10.96.0.12/ "redis -> result ClusterIP"

# The probe (same manifests, same classifier code) says the same.
probe=$("$NP_NPCTL" policy probe --manifests "$NP_MANIFESTS" --ports 80/TCP,6379/TCP,5432/TCP,8080/TCP 2>/dev/null)
check() {  # FROM-pod TO-pod PORT allow|deny
  local from to line
  from=$(grep -oE "^voting-app/$1-[a-z0-9-]+|^ingress-nginx/$1-[a-z0-9-]+" <<<"$probe" | head -n 1)
  to=$(grep -oE " voting-app/$2-[a-z0-9-]+ | ingress-nginx/$2-[a-z0-9-]+ " <<<"$probe" | head -n 1 | tr -d ' ')
  [[ $2 == db ]] && to=voting-app/db-0
  [[ $1 == db ]] && from=voting-app/db-0
  line=$(grep -E "^$from $to $3 " <<<"$probe" || true)
  [[ $line == "$from $to $3 $4" ]] || np_fail "probe: expected '$from $to $3 $4', got '$line'"
  np_ok "probe: $line"
}
check vote redis 6379/TCP allow
check result redis 6379/TCP deny
check worker db 5432/TCP allow
check worker redis 6379/TCP allow
check result db 5432/TCP allow
check vote db 5432/TCP deny
check ingress redis 6379/TCP deny
check ingress db 5432/TCP deny
check db worker 8080/TCP deny
check ingress vote 80/TCP allow
check ingress result 80/TCP allow
check worker vote 80/TCP deny
np_pass "voting-app policies: vote->redis, worker->db, ingress->vote/result allowed; result->redis, vote->db denied"
