#!/usr/bin/env bash
# Rolling out default-deny safely, the way audit mode is meant to be used:
#   1. namespace "shop" is annotated nodeplane.io/policy-audit: "true" and
#      gets a default deny: the app keeps working, its connections are
#      recorded as "would deny" flows;
#   2. `npctl map export` turns what was observed into NetworkPolicies
#      (would-deny flows included);
#   3. the exported policies are applied and the annotation removed
#      (enforcement): the observed flow still works, a flow that was never
#      observed (web -> client, shop's new pod "other" -> web) is denied.
. "$(dirname "$0")/lib.sh"

np_setup frol
np_add_pod client 10.244.1.51
np_add_pod web 10.244.1.52
np_add_pod other 10.244.1.53

np_namespace_manifest shop '' 'nodeplane.io/policy-audit: "true"'
np_pod_manifest client 10.244.1.51 shop "app: client"
np_pod_manifest web 10.244.1.52 shop "app: web" "{name: http, containerPort: 8080, protocol: TCP}"
np_pod_manifest other 10.244.1.53 shop "app: other"
np_server web http web-1 8080
np_server client http client-1 8081
np_start
if [[ ! -e /dev/shm/nodeplane.$NP_INSTANCE.flows ]]; then
  echo "SKIP: this dataplane does not produce flow records"
  exit 77
fi

curl_from() { np_in "$1" curl -sS --max-time 3 "$2" 2>&1; }

# 1. Audit: a default deny that denies nothing yet.
np_policy_step 40-audit-default-deny.yaml <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: audit-default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
MANIFEST
np_policy_settle
for _ in 1 2 3; do
  out=$(curl_from client http://10.244.1.52:8080/) && [[ $out == name=web-1* ]] ||
    np_fail "audit mode: client -> web must pass, got '$out'"
done
np_ok "audit mode, default deny: client -> web still works ($out)"
would=""
for _ in $(seq 40); do
  would=$(np_npctl flows --verdict would-deny -o json 2>/dev/null |
    "$NP_PYTHON" -c 'import json,sys; print(sum(1 for f in json.load(sys.stdin) if f.get("verdict") == "would-deny"))' 2>/dev/null || true)
  [[ -n $would && $would -gt 0 ]] && break
  sleep 0.25
done
[[ -n $would && $would -gt 0 ]] || np_fail "npctl flows --verdict would-deny shows no would-deny connection: $(np_npctl flows --limit 5 2>&1)"
np_ok "npctl flows --verdict would-deny: $would connection(s) the default deny would have denied"

# 2. Export what was observed.
export_dir=$NP_WORK/export
np_npctl map export --dir "$export_dir" >"$NP_WORK/export.txt" 2>&1 || np_fail "npctl map export: $(cat "$NP_WORK/export.txt")"
grep -q "shop" "$export_dir"/networkpolicies/shop.yaml 2>/dev/null || np_fail "no exported policies for namespace shop"
np_ok "exported $(grep -c '^kind: NetworkPolicy' "$export_dir/networkpolicies/shop.yaml") NetworkPolicies for shop"

# 3. Enforce: the exported policies in, the audit policy and annotation out.
np_npctl apply -f "$export_dir/networkpolicies" --timeout 30s >"$NP_WORK/apply.txt" 2>&1 ||
  { cat "$NP_WORK/apply.txt" >&2; np_fail "npctl apply -f the exported policies failed"; }
before=$(np_policy_generation)
rm -f "$NP_MANIFESTS/40-audit-default-deny.yaml"
np_namespace_manifest shop
np_wait_policy $((before + 1))
np_policy_settle
out=$(curl_from client http://10.244.1.52:8080/) && [[ $out == name=web-1* ]] ||
  np_fail "enforced: the observed client -> web must still work, got '$out'"
np_ok "enforced with the exported policies: client -> web works ($out)"
if out=$(curl_from other http://10.244.1.52:8080/); then np_fail "enforced: other -> web was never observed, got '$out'"; fi
np_ok "enforced: other -> web (never observed) is denied"
if out=$(curl_from web http://10.244.1.51:8081/); then np_fail "enforced: web -> client was never observed, got '$out'"; fi
np_ok "enforced: web -> client (never observed) is denied"
np_pass "audit, export, enforce: the observed traffic keeps working, everything else is denied"
