#!/usr/bin/python3
"""NetworkPolicy generator for the perf harness (scenario 3) and the
classifier rule-scaling benchmark (np-bench-policy).

    perf/gen_policies.py --policies N --out DIR [--node node-a]

Writes DIR/50-policy-pods.yaml (Namespaces + Pods) and
DIR/60-policies.yaml (N NetworkPolicies), next to whatever Service
manifests DIR already holds. The world it describes:

  - the Service's 4 backends (namespace default, app=web, 10.244.1.11-14 on
    this node) are isolated for ingress by `allow-web`: TCP 8080 from
    ipBlock 172.16.0.0/12 (the harness's external clients, judged on the
    address before SNAT) and from pods role=client in any namespace;
  - N - 1 filler policies over 200 other local pods (10.244.1.20-219,
    namespaces ns-0..ns-9, app=app-K): policy i selects app-(i % 200),
    allows ingress from pods role=client-(i % 5) of its namespace (pods on
    another node, 10.244.2.x) and from ipBlock 10.(100 + i // 65536 % 100).(i // 256 % 256).(i % 256 ...)/32,
    on TCP port 1000 + i % 50000.  Every filler policy therefore compiles
    to at least one distinct rte_acl rule for this node (distinct port and
    CIDR), so rules ~ policies.
"""
import argparse
import os

APPS = 200
NAMESPACES = 10
CLIENT_ROLES = 5


def pod(name, namespace, labels, ip, node):
    label_text = ", ".join("%s: %s" % kv for kv in labels.items())
    return ("- apiVersion: v1\n  kind: Pod\n  metadata: {name: %s, namespace: %s, labels: {%s}}\n"
            "  spec:\n    nodeName: %s\n    containers:\n    - name: c\n      image: x\n"
            "  status: {phase: Running, podIP: %s}\n" % (name, namespace, label_text, node, ip))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--node", default="node-a")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    objects = []
    for n in range(NAMESPACES):
        objects.append("- apiVersion: v1\n  kind: Namespace\n  metadata: {name: ns-%d, labels: "
                       "{kubernetes.io/metadata.name: ns-%d, team: t%d}}\n" % (n, n, n))
    for i in range(4):
        objects.append(pod("web-%d" % i, "default", {"app": "web"}, "10.244.1.%d" % (11 + i), args.node))
    for a in range(APPS):
        objects.append(pod("app-%d" % a, "ns-%d" % (a % NAMESPACES), {"app": "app-%d" % a},
                           "10.244.1.%d" % (20 + a), args.node))
    for n in range(NAMESPACES):
        for r in range(CLIENT_ROLES):
            k = n * CLIENT_ROLES + r
            objects.append(pod("client-%d" % r, "ns-%d" % n, {"role": "client-%d" % r},
                               "10.244.2.%d" % (1 + k), "node-b"))
    with open(os.path.join(args.out, "50-policy-pods.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: List\nitems:\n" + "".join(objects))

    with open(os.path.join(args.out, "60-policies.yaml"), "w") as f:
        f.write("""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - ipBlock: {cidr: 172.16.0.0/12}
    - namespaceSelector: {}
      podSelector: {matchLabels: {role: client-0}}
    ports:
    - {protocol: TCP, port: 8080}
""")
        for i in range(args.policies - 1):
            a = i % APPS
            f.write("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                    "metadata: {name: p-%d, namespace: ns-%d}\n"
                    "spec:\n  podSelector: {matchLabels: {app: app-%d}}\n  policyTypes: [Ingress]\n"
                    "  ingress:\n  - from:\n    - podSelector: {matchLabels: {role: client-%d}}\n"
                    "    - ipBlock: {cidr: 10.%d.%d.%d/32}\n"
                    "    ports:\n    - {protocol: TCP, port: %d}\n" %
                    (i, a % NAMESPACES, a, i % CLIENT_ROLES, 100 + (i >> 16) % 100, (i >> 8) & 255, i & 255,
                     1000 + i % 50000))


if __name__ == "__main__":
    main()
