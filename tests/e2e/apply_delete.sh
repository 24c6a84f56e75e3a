#!/usr/bin/env bash
# npctl apply -f / delete -f: a new Service (its manifests written outside
# the watched directory) starts working as soon as `npctl apply -f DIR`
# returns, which prints how long the dataplane took to apply it; deleting
# its EndpointSlice with `npctl delete -f` makes connections fail fast
# (ICMP port unreachable: ECONNREFUSED), deleting the Service removes it.
. "$(dirname "$0")/lib.sh"

np_setup npi3a
np_add_pod client 10.244.1.20
np_add_pod web-1 10.244.1.21
np_service base.yaml name=base clusterIP=10.96.3.10 port=80 targetPort=8080
np_slice base-slice.yaml base 8080 TCP web-1=10.244.1.21
np_server web-1 http web-1 8080
np_start
[[ -n $NP_NPCTL ]] || np_fail "npctl not found"

# The new Service, written into a directory of its own (not the watched one).
src=$NP_WORK/src
mkdir -p "$src"
NP_MANIFESTS=$src np_service web.yaml name=web clusterIP=10.96.3.20 port=80 targetPort=8080
NP_MANIFESTS=$src np_slice web-slice.yaml web 8080 TCP web-1=10.244.1.21

if np_in client curl -sS --max-time 1 http://10.96.3.20/ >/dev/null 2>&1; then
  np_fail "10.96.3.20 answered before the Service was applied"
fi

out=$(np_npctl apply -f "$src" 2>&1) || np_fail "npctl apply failed: $out"
echo "$out"
grep -q '^npctl-web.yaml: created$' <<<"$out" || np_fail "apply did not report npctl-web.yaml created"
grep -q '^npctl-web-slice.yaml: created$' <<<"$out" || np_fail "apply did not report npctl-web-slice.yaml created"
ms=$(sed -n 's/^applied in \([0-9.]*\) ms.*/\1/p' <<<"$out")
[[ -n $ms ]] || np_fail "apply did not print how long it took"
[[ -f $NP_MANIFESTS/npctl-web.yaml ]] || np_fail "no copy in the manifests directory"
# No sleep: once apply returned, the dataplane has the Service.
answer=$(np_in client curl -sS --max-time 3 http://10.96.3.20/ 2>&1) || np_fail "the applied Service does not answer: $answer"
[[ $answer == name=web-1* ]] || np_fail "unexpected answer: $answer"
np_ok "npctl apply -f: Service web applied in $ms ms, curl -> $answer"

out=$(np_npctl apply -f "$src" 2>&1) || np_fail "npctl apply (again) failed: $out"
grep -q '^unchanged' <<<"$out" || np_fail "applying the same files again should change nothing: $out"

# Delete the EndpointSlice: no endpoints -> rejected at once.
out=$(np_npctl delete -f "$src/web-slice.yaml" 2>&1) || np_fail "npctl delete failed: $out"
echo "$out"
grep -q '^npctl-web-slice.yaml: deleted$' <<<"$out" || np_fail "delete did not report the slice deleted"
grep -q '^applied in ' <<<"$out" || np_fail "delete did not print how long it took"
start=$(date +%s%N)
if answer=$(np_in client curl -sS --max-time 5 http://10.96.3.20/ 2>&1); then
  np_fail "the Service still answered after its EndpointSlice was deleted: $answer"
fi
took=$((($(date +%s%N) - start) / 1000000))
((took < 1000)) || np_fail "the client waited $took ms after delete: no fast reject ($answer)"
np_ok "npctl delete -f the EndpointSlice: curl failed in $took ms ($answer)"

# Delete the Service too: the copies are gone, the ClusterIP is no Service.
out=$(np_npctl delete -f "$src" 2>&1) || np_fail "npctl delete -f DIR failed: $out"
echo "$out"
[[ ! -e $NP_MANIFESTS/npctl-web.yaml ]] || np_fail "delete left the copy of web.yaml"
np_npctl get services >"$NP_WORK/services.txt"
grep -q '10.96.3.20' "$NP_WORK/services.txt" && np_fail "npctl get services still lists 10.96.3.20"
if answer=$(np_in client curl -sS --max-time 2 http://10.96.3.20/ 2>&1); then
  np_fail "the deleted Service still answered: $answer"
fi
# The other Service was never disturbed.
answer=$(np_in client curl -sS --max-time 3 http://10.96.3.10/ 2>&1) || np_fail "Service base broke: $answer"
out=$(np_npctl delete -f "$src/web.yaml" 2>&1) && np_fail "deleting twice should fail: $out"
grep -q 'nothing to delete' <<<"$out" || np_fail "unexpected error for a second delete: $out"
np_pass "npctl apply -f: curl works on return ($ms ms); delete -f: refused in $took ms, then Service gone"
