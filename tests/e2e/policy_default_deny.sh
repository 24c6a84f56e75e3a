#!/usr/bin/env bash
# Zero trust with real connections: a default-deny-all policy (ingress and
# egress, every pod of namespace "shop") stops TCP and UDP between its pods;
# then exactly one flow is allowed (client -> server on 9000/TCP, by an
# ingress policy on the server AND an egress policy on the client): it
# works, and nothing else does - not UDP on the same port, not another
# client, not the reverse direction. `npctl policy probe` on the same
# manifests agrees with every connection tried. Removing the policies
# restores everything.
. "$(dirname "$0")/lib.sh"

np_setup npp1
np_add_pod client 10.244.1.31
np_add_pod server 10.244.1.32
np_add_pod other 10.244.1.33
np_namespace_manifest shop
np_pod_manifest client 10.244.1.31 shop "app: client"
np_pod_manifest server 10.244.1.32 shop "app: server" "{name: api, containerPort: 9000, protocol: TCP}"
np_pod_manifest other 10.244.1.33 shop "app: other"
np_server server tcp server-tcp 9000
np_server server udp server-udp 9000
np_server client tcp client-tcp 9000
np_server other tcp other-tcp 9000
np_start

np_expect ok client tcp 10.244.1.32 9000 "no policy"
np_expect ok client udp 10.244.1.32 9000 "no policy"
np_expect ok server tcp 10.244.1.31 9000 "no policy"

np_policy_step 50-default-deny.yaml <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
MANIFEST
np_expect denied client tcp 10.244.1.32 9000 "default deny"
np_expect denied client udp 10.244.1.32 9000 "default deny"
np_expect denied other tcp 10.244.1.32 9000 "default deny"
np_expect denied server tcp 10.244.1.31 9000 "default deny"
np_probe_expect shop/client shop/server 9000/TCP deny

# One flow: both ends must allow it (egress of the client, ingress of the server).
np_policy_step 60-allow-client-to-server.yaml <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: server-from-client
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: server}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchLabels: {app: client}
    ports:
    - {protocol: TCP, port: api}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: client-to-server
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: client}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector:
        matchLabels: {app: server}
    ports:
    - {protocol: TCP, port: 9000}
MANIFEST
np_expect ok client tcp 10.244.1.32 9000 "the allowed flow"
np_expect denied client udp 10.244.1.32 9000 "same port, UDP"
np_expect denied other tcp 10.244.1.32 9000 "another client"
np_expect denied server tcp 10.244.1.31 9000 "the reverse direction"
np_expect denied client tcp 10.244.1.33 9000 "the client elsewhere"
np_probe_expect shop/client shop/server 9000/TCP allow
np_probe_expect shop/client shop/server 9000/UDP deny
np_probe_expect shop/other shop/server 9000/TCP deny
np_probe_expect shop/server shop/client 9000/TCP deny
np_probe_expect shop/client shop/other 9000/TCP deny
trace=$("$NP_NPCTL" policy trace shop/client shop/server 9000/TCP --manifests "$NP_MANIFESTS" 2>&1)
grep -q "ALLOWED by shop/client-to-server egress rule 0" <<<"$trace" || np_fail "trace: $trace"
grep -q "ALLOWED by shop/server-from-client ingress rule 0" <<<"$trace" || np_fail "trace: $trace"
np_ok "npctl policy trace names both rules"

# Only the egress half: the server's ingress still denies.
before=$(np_policy_generation)
rm -f "$NP_MANIFESTS/60-allow-client-to-server.yaml"
np_wait_policy $((before + 1))
np_policy_settle
np_policy_step 61-egress-only.yaml <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: client-to-server
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: client}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector:
        matchLabels: {app: server}
MANIFEST
np_expect denied client tcp 10.244.1.32 9000 "egress allowed, ingress not"
np_probe_expect shop/client shop/server 9000/TCP deny

before=$(np_policy_generation)
rm -f "$NP_MANIFESTS/50-default-deny.yaml" "$NP_MANIFESTS/61-egress-only.yaml"
np_wait_policy $((before + 1))
np_policy_settle
np_expect ok client udp 10.244.1.32 9000 "policies removed"
np_expect ok server tcp 10.244.1.31 9000 "policies removed"
np_pass "default deny all, then exactly one flow allowed (both ends), probe agrees with real traffic"
