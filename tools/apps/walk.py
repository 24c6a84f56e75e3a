#!/usr/bin/env python3
"""Explains conntrack entries as steps of the packet walk (python3 stdlib only).

  npctl --instance demo get conntrack -o json | walk.py --seen FILE \
      --name 10.244.1.10=ingress-nginx-controller ... [--node-ip 192.168.100.10]

Prints the entries that are not in FILE yet (new connections since the last
call) and adds them to it. For each: who connected to what, which backend
the dataplane picked (DNAT), whether the source was rewritten (SNAT) and how
the replies are un-NATed.
"""
import argparse
import json
import sys


def endpoint(names, ip, port=None):
    label = names.get(ip)
    text = f"{ip}:{port}" if port is not None else ip
    return f"{text} ({label})" if label else text


def key(entry):
    o = entry["original"]
    return f'{entry["protocol"]} {o["src"]}:{o["srcPort"]}>{o["dst"]}:{o["dstPort"]}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seen", required=True, help="file of entries already shown")
    parser.add_argument("--name", action="append", default=[], help="IP=LABEL")
    parser.add_argument("--node-ip", default="192.168.100.10")
    parser.add_argument("--external-prefix", default="192.168.100.", help="addresses outside the cluster")
    parser.add_argument("--frontend", action="append", default=[], help="IP=KIND (LoadBalancer VIP, ...)")
    args = parser.parse_args()
    names = dict(item.split("=", 1) for item in args.name)
    frontends = dict(item.split("=", 1) for item in args.frontend)
    try:
        seen = set(open(args.seen).read().split("\n"))
    except FileNotFoundError:
        seen = set()
    data = json.load(sys.stdin)
    entries = [e for e in data.get("entries", []) if key(e) not in seen]
    # Outside-in: external clients first (the walk's first hop), then pods.
    entries.sort(key=lambda e: (not e["original"]["src"].startswith(args.external_prefix), e["original"]["src"],
                                e["original"]["srcPort"]))
    if not entries:
        print("    (no new connections in the conntrack table)")
    for e in entries:
        o, r = e["original"], e["reply"]
        dst = o["dst"]
        kind = frontends.get(dst) or ("NodePort" if dst == args.node_ip else
                                      "ClusterIP" if dst.startswith("10.96.") else "destination")
        service = e.get("service") or "-"
        print(f'  {e["protocol"]} {endpoint(names, o["src"], o["srcPort"])} -> {kind} {dst}:{o["dstPort"]}'
              f'   [Service {service}, {e.get("state", "")}]')
        nat = e.get("nat", "")
        if "DNAT" in nat:
            print(f'      DNAT: destination {dst}:{o["dstPort"]} -> backend {endpoint(names, r["src"], r["srcPort"])}')
        if "SNAT" in nat:
            print(f'      SNAT: source {o["src"]}:{o["srcPort"]} -> {r["dst"]}:{r["dstPort"]}'
                  f' (the node: the backend replies to this node, which un-NATs them)')
        elif "DNAT" in nat:
            print(f'      source kept: the backend sees {o["src"]}')
        print(f'      replies {r["src"]}:{r["srcPort"]} -> {r["dst"]}:{r["dstPort"]} are rewritten back to '
              f'{dst}:{o["dstPort"]} -> {o["src"]}:{o["srcPort"]}'
              f'   ({e.get("packetsOriginal", "?")}/{e.get("packetsReply", "?")} packets)')
    with open(args.seen, "a") as f:
        for e in entries:
            f.write(key(e) + "\n")


if __name__ == "__main__":
    main()
