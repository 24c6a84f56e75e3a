#!/usr/bin/env bash
# Allow DNS egress, as the seed article does after default deny: namespace
# "shop" is default-deny (ingress and egress) plus the shipped allow-dns
# policy (config/voting-app-policies/10-allow-dns.yaml, applied to "shop"):
# egress to pods k8s-app=kube-dns IN namespace kube-system on 53/UDP and
# 53/TCP. A real UDP+TCP "dns" server in kube-system answers the shop's
# client on both protocols; everything else stays closed: another port of
# the dns pod, a pod of kube-system without the label, a pod labelled
# k8s-app=kube-dns in another namespace (namespaceSelector AND
# podSelector), and the shop's own pods. `npctl policy probe` agrees.
. "$(dirname "$0")/lib.sh"

np_setup npp2
np_add_pod client 10.244.1.41
np_add_pod dns 10.244.1.42
np_add_pod kubeother 10.244.1.43
np_add_pod fakedns 10.244.1.44
np_add_pod peer 10.244.1.45
np_namespace_manifest shop
np_namespace_manifest kube-system
np_namespace_manifest elsewhere
np_pod_manifest client 10.244.1.41 shop "app: client"
np_pod_manifest peer 10.244.1.45 shop "app: peer"
np_pod_manifest dns 10.244.1.42 kube-system "k8s-app: kube-dns" \
  "{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53, protocol: TCP}"
np_pod_manifest kubeother 10.244.1.43 kube-system "k8s-app: metrics-server"
np_pod_manifest fakedns 10.244.1.44 elsewhere "k8s-app: kube-dns"
np_server dns udp dns-udp 53
np_server dns tcp dns-tcp 53
np_server dns udp dns-udp-other 5353
np_server kubeother udp kubeother-udp 53
np_server fakedns udp fakedns-udp 53
np_server peer tcp peer-tcp 53
np_start

np_expect ok client udp 10.244.1.42 53 "no policy"
np_expect ok client udp 10.244.1.44 53 "no policy"

# default deny + allow-dns, for namespace shop, in one step.
{
  cat <<'MANIFEST'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: shop
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
MANIFEST
  # The shipped policy, retargeted from voting-app to shop.
  "$NP_PYTHON" -c '
import sys
docs = open(sys.argv[1]).read().split("\n---\n")
print([d for d in docs if "namespace: voting-app" in d][0].replace("namespace: voting-app", "namespace: shop"))
' "$NP_REPO/config/voting-app-policies/10-allow-dns.yaml"
} | np_policy_step 50-shop-policies.yaml
grep -q "k8s-app: kube-dns" "$NP_MANIFESTS/50-shop-policies.yaml" || np_fail "allow-dns was not written"

np_expect ok client udp 10.244.1.42 53 "DNS over UDP"
np_expect ok client tcp 10.244.1.42 53 "DNS over TCP"
np_expect denied client udp 10.244.1.42 5353 "the dns pod, another port"
np_expect denied client udp 10.244.1.43 53 "kube-system pod without k8s-app=kube-dns"
np_expect denied client udp 10.244.1.44 53 "k8s-app=kube-dns outside kube-system"
np_expect denied client tcp 10.244.1.45 53 "a pod of the same namespace"
np_expect ok kubeother udp 10.244.1.42 53 "kube-system is not isolated"
np_probe_expect shop/client kube-system/dns 53/UDP allow
np_probe_expect shop/client kube-system/dns 53/TCP allow
np_probe_expect shop/client kube-system/kubeother 53/UDP deny
np_probe_expect shop/client elsewhere/fakedns 53/UDP deny
np_probe_expect shop/client shop/peer 53/TCP deny
np_pass "DNS egress allowed to kube-system/k8s-app=kube-dns only, UDP and TCP, with real servers"
