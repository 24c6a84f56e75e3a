#!/usr/bin/env bash
# See the traffic: the seed's voting app with real clients, the traffic map
# the control plane learns from the dataplane's flow records, and the
# NetworkPolicies `npctl map export` generates from it.
#   1. real traffic through the whole walk (user -> LoadBalancer VIP ->
#      ingress controller; ingress -> vote/result ClusterIPs; vote, worker ->
#      redis; worker, result -> db): `npctl map` shows exactly these 7 edges,
#      workloads named by their Deployment/StatefulSet;
#   2. `npctl map -o svg` is an SVG picture; `npctl flows` lists the flows
#      (and --follow streams them); Prometheus counts them per workload pair;
#   3. a restarted nodeplane-control keeps the map;
#   4. `npctl map export` -> `npctl apply -f` the NetworkPolicies: every
#      observed flow still works, vote -> db and result -> redis (never
#      observed) are denied with real connections, and the flows say so.
. "$(dirname "$0")/lib.sh"

np_setup fmap
np_require_tools dot
np_add_pod ingress 10.244.1.10
np_add_pod vote 10.244.1.11
np_add_pod vote2 10.244.1.12  # the second vote replica: one workload, one map node
np_add_pod result 10.244.1.13
np_add_pod redis 10.244.1.14
np_add_pod db 10.244.1.15
np_add_pod worker 10.244.1.16
cp "$NP_REPO"/config/voting-app/*.yaml "$NP_MANIFESTS"/
np_server ingress http ingress 80
np_server vote http vote 80
np_server vote2 http vote-2 80
np_server result http result 80
np_server redis tcp redis 6379
np_server db tcp db 5432
np_start

run_dir=${NODEPLANE_RUN_DIR:-/run/nodeplane}
for _ in $(seq 50); do
  [[ -e /dev/shm/nodeplane.$NP_INSTANCE.flows ]] && break
  sleep 0.2
done
if [[ ! -e /dev/shm/nodeplane.$NP_INSTANCE.flows ]]; then
  echo "SKIP: this dataplane does not produce flow records (no /dev/shm/nodeplane.$NP_INSTANCE.flows)"
  exit 77
fi

http_expect() {  # ok|denied POD URL WHAT
  local code
  code=$(np_in "$2" curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$3" || true)
  if [[ $1 == ok ]]; then
    [[ $code == 200 ]] || np_fail "$2 -> $3 ($4): expected 200, got $code"
  else
    [[ $code == 000 ]] || np_fail "$2 -> $3 ($4): expected no connection, got $code"
  fi
  np_ok "$2 -> $3 ($4): $1"
}

# The voting app's traffic, with real clients, through the Service addresses.
observed_traffic() {
  http_expect ok user http://192.168.100.200/ "user -> ingress LoadBalancer VIP"
  http_expect ok ingress http://10.96.0.11/ "ingress -> vote ClusterIP"
  http_expect ok ingress http://10.96.0.11/ "ingress -> vote ClusterIP (again: both replicas, maybe)"
  http_expect ok ingress http://10.96.0.12/ "ingress -> result ClusterIP"
  np_expect ok vote tcp 10.96.0.13 6379 "vote -> redis ClusterIP"
  np_expect ok vote2 tcp 10.96.0.13 6379 "vote (2nd replica) -> redis ClusterIP"
  np_expect ok worker tcp 10.96.0.13 6379 "worker -> redis ClusterIP"
  np_expect ok worker tcp 10.96.0.14 5432 "worker -> db ClusterIP"
  np_expect ok result tcp 10.96.0.14 5432 "result -> db ClusterIP"
}
# npctl flows --follow streams the events as they are logged.
np_bg node "$NP_WORK/follow.log" "$NP_NPCTL" --instance "$NP_INSTANCE" flows --follow -o json --workload worker
sleep 0.5
observed_traffic

# The map's edges as "CLIENT -> SERVER PORT/PROTO", sorted; `passed` keeps
# edges with at least one connection that was not denied.
map_edges() {  # [passed|denied]
  np_npctl map -o json | "$NP_PYTHON" -c '
import json, sys
want = sys.argv[1] if len(sys.argv) > 1 else ""
def label(peer):
    if peer["kind"] == "pod":
        return peer["namespace"] + "/" + peer["workload"]
    return peer["kind"] + " " + peer["workload"]
lines = set()
for edge in json.load(sys.stdin)["edges"]:
    passed = any(v != "denied" for v in edge["verdicts"])
    if want == "passed" and not passed: continue
    if want == "denied" and "denied" not in edge["verdicts"]: continue
    lines.add("%s -> %s %d/%s" % (label(edge["client"]), label(edge["server"]), edge["port"], edge["protocol"]))
print("\n".join(sorted(lines)))' "${1:-}"
}

expected_edges="external 192.168.100.1/32 -> ingress-nginx/ingress-nginx-controller 80/TCP
ingress-nginx/ingress-nginx-controller -> voting-app/result 80/TCP
ingress-nginx/ingress-nginx-controller -> voting-app/vote 80/TCP
voting-app/result -> voting-app/db 5432/TCP
voting-app/vote -> voting-app/redis 6379/TCP
voting-app/worker -> voting-app/db 5432/TCP
voting-app/worker -> voting-app/redis 6379/TCP"

# The collector drains every 150 ms and rewrites the map at most every 300 ms.
edges=
for _ in $(seq 40); do
  edges=$(map_edges 2>/dev/null || true)
  [[ $edges == "$expected_edges" ]] && break
  sleep 0.25
done
if [[ $edges != "$expected_edges" ]]; then
  np_npctl map >&2 || true
  np_fail "npctl map: expected exactly
$expected_edges
got
$edges"
fi
np_ok "npctl map: exactly the 7 edges of the voting app"
np_npctl map

svg=$NP_WORK/map.svg
np_npctl map -o svg >"$svg" || np_fail "npctl map -o svg failed"
"$NP_PYTHON" - "$svg" <<'PY' || np_fail "npctl map -o svg is not an SVG picture"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag.rsplit("}", 1)[-1] == "svg", root.tag
texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
for name in ("vote", "redis", "worker", "db", "result", "ingress-nginx-controller"):
    assert name in texts, name
PY
np_ok "npctl map -o svg: an SVG picture naming every workload ($(wc -c <"$svg") bytes)"

flows=$(np_npctl flows --workload vote -o json)
"$NP_PYTHON" -c '
import json, sys
flows = json.loads(sys.argv[1])
assert any(f["client"] == "voting-app/vote" and f["server"] == "voting-app/redis"
           and f["service"] == "voting-app/redis:redis" and f["backend"] == "10.244.1.14:6379" for f in flows), flows
assert all("voting-app/vote" in (f["client"], f["server"]) for f in flows), flows' "$flows" ||
  np_fail "npctl flows --workload vote: no vote -> redis flow through the redis Service"
np_ok "npctl flows --workload vote: vote -> redis via voting-app/redis:redis"
np_npctl flows --limit 5
grep -q '"server": *{[^}]*"workload": *"db"' "$NP_WORK/follow.log" ||
  np_fail "npctl flows --follow --workload worker: no worker -> db event streamed: $(head -c 600 "$NP_WORK/follow.log")"
grep -q '"workload": *"vote"' "$NP_WORK/follow.log" && np_fail "npctl flows --follow --workload worker: streamed a vote flow"
np_ok "npctl flows --follow: streamed worker's connections as they started ($(wc -l <"$NP_WORK/follow.log") events)"

# Prometheus: new connections per workload pair on the existing endpoint.
m=$(np_in node curl -sS --max-time 3 http://127.0.0.1:10249/metrics) || np_fail "no metrics on 127.0.0.1:10249"
grep -Eq '^nodeplane_flows_total\{verdict="no-policy",src_namespace="voting-app",src_workload="worker",dst_namespace="voting-app",dst_workload="db"\} [1-9]' <<<"$m" ||
  np_fail "metrics: no nodeplane_flows_total for worker -> db: $(grep '^nodeplane_flow' <<<"$m" | head -n 12)"
grep -Eq '^nodeplane_flows_total\{verdict="no-policy",src_namespace="",src_workload="external",dst_namespace="ingress-nginx",dst_workload="ingress-nginx-controller"\} [1-9]' <<<"$m" ||
  np_fail "metrics: no nodeplane_flows_total for external -> ingress"
grep -q '^nodeplane_flow_records_dropped_total 0$' <<<"$m" || np_fail "metrics: flow records were dropped"
np_ok "metrics: $(grep -c '^nodeplane_flows_total' <<<"$m") nodeplane_flows_total series, no record dropped"

# A restarted control plane keeps the map it learned (and goes on learning).
np_kill_control
np_start_control
for _ in $(seq 100); do
  grep -q "flows: kept the 7 edges" "$NP_WORK/control.log" && grep -q "reload: " <(tail -n 5 "$NP_WORK/control.log") && break
  np_check_alive
  sleep 0.1
done
grep -q "flows: kept the 7 edges" "$NP_WORK/control.log" || np_fail "the restarted control plane did not read back the map"
[[ $(map_edges) == "$expected_edges" ]] || np_fail "after a control restart, npctl map: $(map_edges)"
np_ok "nodeplane-control restarted: the map kept its 7 edges"

# Export, apply, and the same traffic again.
export_dir=$NP_WORK/export
np_npctl map export --dir "$export_dir" >/dev/null || np_fail "npctl map export failed"
ls "$export_dir"/networkpolicies/voting-app.yaml "$export_dir"/networkpolicies/ingress-nginx.yaml \
  "$export_dir"/clientintents/voting-app-vote.yaml >/dev/null || np_fail "npctl map export: files missing"
grep -q "^kind: ClientIntents" "$export_dir"/clientintents/voting-app-vote.yaml || np_fail "no ClientIntents for vote"
np_npctl apply -f "$export_dir/networkpolicies" --timeout 30s >"$NP_WORK/apply.txt" 2>&1 ||
  { cat "$NP_WORK/apply.txt" >&2; np_fail "npctl apply -f the exported policies failed"; }
np_policy_settle
np_ok "applied the $(cat "$export_dir"/networkpolicies/*.yaml | grep -c '^kind: NetworkPolicy') exported NetworkPolicies"

observed_traffic
np_expect denied vote tcp 10.96.0.14 5432 "vote -> db: never observed"
np_expect denied result tcp 10.96.0.13 6379 "result -> redis: never observed"
np_expect denied vote tcp 10.244.1.15 5432 "vote -> db pod directly"
http_expect denied worker http://10.96.0.11/ "worker -> vote: never observed"

# The flows agree: the observed edges passed again, the new ones were denied.
denied_expected="voting-app/result -> voting-app/redis 6379/TCP
voting-app/vote -> voting-app/db 5432/TCP
voting-app/worker -> voting-app/vote 80/TCP"
for _ in $(seq 40); do
  denied=$(map_edges denied 2>/dev/null || true)
  [[ $denied == "$denied_expected" ]] && break
  sleep 0.25
done
[[ $denied == "$denied_expected" ]] || np_fail "npctl map: expected the denied edges
$denied_expected
got
$denied"
[[ $(map_edges passed) == "$expected_edges" ]] || np_fail "npctl map: an observed edge no longer passes: $(map_edges passed)"
np_npctl flows --verdict denied --limit 10
np_pass "voting app: the traffic map shows its 7 edges; the exported policies keep them and deny vote->db, result->redis"
