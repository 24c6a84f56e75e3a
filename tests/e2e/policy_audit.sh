#!/usr/bin/env bash
# Policy audit mode with real curl: namespace "audit" is annotated
# nodeplane.io/policy-audit: "true", so a default-deny policy there lets the
# connection through - recorded as "would deny": the would-deny counter
# rises, npctl get policy-drops shows a would-deny sample, and the policy
# denied-packet counter does not move. Removing the annotation makes the
# same policy deny the connection.
. "$(dirname "$0")/lib.sh"

np_setup faud
np_add_pod client 10.244.1.41
np_add_pod web 10.244.1.42

np_namespace_manifest audit '' 'nodeplane.io/policy-audit: "true"'
np_pod_manifest client 10.244.1.41 audit "app: client"
np_pod_manifest web 10.244.1.42 audit "app: web" "{name: http, containerPort: 8080, protocol: TCP}"
np_server web http web-1 8080
np_start

counter() {  # NAME: a datapath counter of npctl get counters
  np_npctl get counters -o json | "$NP_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["datapath"]["'"$1"'"])'
}
curl_web() { np_in client curl -sS --max-time 3 http://10.244.1.42:8080/ 2>&1; }

out=$(curl_web) && [[ $out == name=web-1* ]] || np_fail "no policy: curl got '$out'"
np_ok "no policy: $out"

np_policy_step 50-default-deny.yaml <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: audit
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
MANIFEST
np_policy_settle
would_before=$(counter policy_would_deny_connections)
denied_before=$(np_npctl get counters -o json | "$NP_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["policy_denied"])')
out=$(curl_web) && [[ $out == name=web-1* ]] || np_fail "audit mode: the default-deny policy must let curl through, got '$out'"
np_ok "audit mode: default deny, curl still works: $out"
would_after=$(counter policy_would_deny_connections)
denied_after=$(np_npctl get counters -o json | "$NP_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["policy_denied"])')
((would_after > would_before)) || np_fail "policy_would_deny_connections did not rise ($would_before -> $would_after)"
((denied_after == denied_before)) || np_fail "policy_denied drops rose in audit mode ($denied_before -> $denied_after)"
np_ok "policy_would_deny_connections $would_before -> $would_after, policy_denied unchanged ($denied_after)"
drops=$(np_npctl get policy-drops)
grep -q "would-deny" <<<"$drops" || np_fail "npctl get policy-drops shows no would-deny sample: $drops"
np_ok "npctl get policy-drops shows the would-deny connection"

# The annotation goes: the same policy now denies.
before=$(np_policy_generation)
np_namespace_manifest audit
np_wait_policy $((before + 1))
np_policy_settle
if out=$(curl_web); then np_fail "annotation removed: curl must fail, got '$out'"; fi
np_ok "annotation removed: curl denied ($out)"
denied_final=$(np_npctl get counters -o json | "$NP_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["policy_denied"])')
((denied_final > denied_after)) || np_fail "policy_denied did not rise after the annotation was removed"
np_pass "audit mode passes and counts would-deny connections; without the annotation they are denied"
