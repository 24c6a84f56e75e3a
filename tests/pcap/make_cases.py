#!/usr/bin/python3
"""Generates the golden pcap cases under cases/: what is sent, and what the
dataplane must transmit, each expected frame built independently here with
scapy (addresses rewritten by hand, checksums computed by scapy).

Run from anywhere: /usr/bin/python3 tests/pcap/make_cases.py
Commit the script with the cases it writes.
"""
import os
import shutil
import textwrap

from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPOption_NOP, IPOption_RR, Raw, fragment, wrpcap
from scapy.layers.inet import IPerror, TCPerror, UDPerror

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")

# Ring ports get 02:6e:70:00:00:<dpdk port id + 1>, in node.yaml order.
UPLINK_MAC, PODA_MAC_PORT, PODB_MAC_PORT = "02:6e:70:00:00:01", "02:6e:70:00:00:02", "02:6e:70:00:00:03"
CLIENT_MAC = "02:cc:00:00:00:01"
PODA_MAC, PODB_MAC = "02:aa:00:00:00:11", "02:bb:00:00:00:12"
CLIENT, NODE, VIP = "192.168.100.1", "192.168.100.10", "192.168.100.200"
GATEWAY, PODA, PODB = "10.244.1.1", "10.244.1.11", "10.244.1.12"
WEB, EMPTY, DNS = "10.96.0.10", "10.96.0.20", "10.96.0.53"
# The first SNAT port the allocator picks for each flow (seeded by
# maglevSeed 7): pinned here so the cases are exact.
NODEPORT_SNAT_PORT = 63046
LB_SNAT_PORT = 62673
HAIRPIN_SNAT_PORT = 65239
# With two workers, worker 0 owns the even offsets of the range.
TWO_WORKER_SNAT_PORT = 65092
EXTERNAL_IP_SNAT_PORT = 62350

NODE_YAML = """\
apiVersion: nodeplane.io/v1alpha1
kind: NodeConfig
node:
  name: node-a
  addresses: [192.168.100.10]
  podCIDR: 10.244.1.0/24
  clusterCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
dataplane:
  conntrackCapacity: 4096
  snatPortRange: "61000-65535"
  maglevSeed: 7
ports:
  - name: uplink
    role: uplink
    devargs: net_ring_uplink
  - name: poda
    role: pod
    devargs: net_ring_poda
    podIP: 10.244.1.11
  - name: podb
    role: pod
    devargs: net_ring_podb
    podIP: 10.244.1.12
"""

MANIFESTS = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  externalTrafficPolicy: Cluster
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
    nodePort: 30080
  selector:
    app: web
status:
  loadBalancer:
    ingress:
    - ip: 192.168.100.200
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  namespace: default
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: [10.244.1.12]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
ports:
- name: http
  port: 8080
  protocol: TCP
---
apiVersion: v1
kind: Service
metadata:
  name: empty
  namespace: default
spec:
  type: ClusterIP
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: dns
  namespace: default
spec:
  type: ClusterIP
  clusterIP: 10.96.0.53
  clusterIPs: [10.96.0.53]
  ports:
  - name: dns
    port: 53
    protocol: UDP
    targetPort: 5353
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: dns-xyz
  namespace: default
  labels:
    kubernetes.io/service-name: dns
addressType: IPv4
endpoints:
- addresses: [10.244.1.12]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
ports:
- name: dns
  port: 5353
  protocol: UDP
"""


def garp():
    return [Ether(src=UPLINK_MAC, dst="ff:ff:ff:ff:ff:ff") /
            ARP(op=1, hwsrc=UPLINK_MAC, psrc=VIP, hwdst="00:00:00:00:00:00", pdst=VIP) /
            Raw(b"\x00" * 18)]


def arp_request(mac, ip, target):
    return Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=ip, pdst=target)


def arp_reply(port_mac, ip, requester_mac, requester_ip):
    return (Ether(src=port_mac, dst=requester_mac) /
            ARP(op=2, hwsrc=port_mac, psrc=ip, hwdst=requester_mac, pdst=requester_ip) / Raw(b"\x00" * 18))


def rebuilt(packet):
    """Forces scapy to recompute lengths and checksums of every layer."""
    for layer in (IP, TCP, UDP, ICMP):
        if packet.haslayer(layer):
            del packet[layer].chksum
    if packet.haslayer(IP):
        del packet[IP].len
    if packet.haslayer(UDP):
        del packet[UDP].len
    return Ether(bytes(packet))


def pod_arps():
    """Pods ARP for their gateway first: the dataplane learns their MACs."""
    return {
        "poda": ([arp_request(PODA_MAC, PODA, GATEWAY)], [arp_reply(PODA_MAC_PORT, GATEWAY, PODA_MAC, PODA)]),
        "podb": ([arp_request(PODB_MAC, PODB, GATEWAY)], [arp_reply(PODB_MAC_PORT, GATEWAY, PODB_MAC, PODB)]),
    }


def write_case(name, description, steps, files, node_yaml=NODE_YAML, manifests=MANIFESTS, kept=()):
    """`kept`: files of the case this script does not write (the trace text
    the dataplane printed, pinned with np-pcap-replay --write-actual): kept
    as they are."""
    path = os.path.join(CASES, name)
    kept_content = {}
    for file_name in kept:
        if os.path.exists(os.path.join(path, file_name)):
            with open(os.path.join(path, file_name), "rb") as kept_file:
                kept_content[file_name] = kept_file.read()
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.join(path, "manifests"))
    with open(os.path.join(path, "node.yaml"), "w") as out:
        out.write(node_yaml)
    with open(os.path.join(path, "manifests", "services.yaml"), "w") as out:
        out.write(manifests)
    for file_name, packets in files.items():
        for index, packet in enumerate(packets):  # fixed timestamps: regenerating changes nothing
            packet.time = index
        wrpcap(os.path.join(path, file_name), packets, linktype=1)
    with open(os.path.join(path, "steps"), "w") as out:
        out.write("# " + "\n# ".join(textwrap.wrap(description, 76)) + "\n")
        out.write("\n".join(steps) + "\n")
    for file_name, content in kept_content.items():
        with open(os.path.join(path, file_name), "wb") as kept_file:
            kept_file.write(content)


def prologue(files):
    """GARP for the VIP at publication, then both pods' ARPs."""
    files["garp.pcap"] = garp()
    steps = ["expect uplink garp.pcap"]
    for pod, (sent, answered) in pod_arps().items():
        files[f"{pod}_arp.pcap"] = sent
        files[f"{pod}_arp_reply.pcap"] = answered
        steps += [f"in {pod} {pod}_arp.pcap", f"expect {pod} {pod}_arp_reply.pcap"]
    return steps


def case_arp():
    files = {"garp.pcap": garp()}
    files["who_has.pcap"] = [arp_request(CLIENT_MAC, CLIENT, NODE), arp_request(CLIENT_MAC, CLIENT, VIP),
                             arp_request(CLIENT_MAC, CLIENT, "192.168.100.99")]
    files["answers.pcap"] = [arp_reply(UPLINK_MAC, NODE, CLIENT_MAC, CLIENT),
                             arp_reply(UPLINK_MAC, VIP, CLIENT_MAC, CLIENT)]
    write_case("001_arp_node_and_vip",
               "ARP: the uplink answers for the node IP and the LoadBalancer VIP it owns (announced with a "
               "gratuitous ARP when the Service appears), and not for other addresses.",
               ["expect uplink garp.pcap", "in uplink who_has.pcap", "expect uplink answers.pcap",
                "counter arp_replies 2", "counter not_for_us 1"], files)


def case_clusterip():
    files = {}
    steps = prologue(files)
    syn = Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / IP(src=PODA, dst=WEB, ttl=64, id=1) / TCP(sport=40000, dport=80, flags="S", seq=1000)
    files["syn.pcap"] = [syn]
    files["syn_dnat.pcap"] = [rebuilt(Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(src=PODA, dst=PODB, ttl=63, id=1) /
                                      TCP(sport=40000, dport=8080, flags="S", seq=1000))]
    synack = Ether(src=PODB_MAC, dst=PODB_MAC_PORT) / IP(src=PODB, dst=PODA, ttl=64, id=2) / TCP(sport=8080, dport=40000, flags="SA", seq=5000, ack=1001)
    files["synack.pcap"] = [synack]
    files["synack_unnat.pcap"] = [rebuilt(Ether(src=PODA_MAC_PORT, dst=PODA_MAC) / IP(src=WEB, dst=PODA, ttl=63, id=2) /
                                          TCP(sport=80, dport=40000, flags="SA", seq=5000, ack=1001))]
    steps += ["in poda syn.pcap", "expect podb syn_dnat.pcap", "in podb synack.pcap", "expect poda synack_unnat.pcap",
              "counter conntrack_inserts 1"]
    write_case("002_clusterip_dnat_and_reply",
               "ClusterIP: a pod's SYN to web's ClusterIP is DNATed to the backend (port 80 -> 8080, TTL "
               "decremented, checksums updated); the backend's SYN-ACK is un-NATed back to the ClusterIP.",
               steps, files)


def external_case(name, description, destination, dport, snat_port, workers=None, vlan=None, node_yaml=NODE_YAML,
                  trace=None):
    """An external client's SYN through a node frontend, SNATed to the node
    IP, and the backend's SYN-ACK back; on `vlan` when the uplink is tagged.
    `trace` ("SRC DST PROTO"): the walk is traced too, and must print as
    trace.txt says."""
    def uplink(src, dst):
        return Ether(src=src, dst=dst) / Dot1Q(vlan=vlan) if vlan else Ether(src=src, dst=dst)

    files = {}
    steps = prologue(files)
    if vlan:
        files["garp.pcap"] = [uplink(UPLINK_MAC, "ff:ff:ff:ff:ff:ff") /
                              ARP(op=1, hwsrc=UPLINK_MAC, psrc=VIP, hwdst="00:00:00:00:00:00", pdst=VIP) / Raw(b"\x00" * 14)]
    if workers:
        steps = [f"workers {len(workers)}", f"worker {workers[0]}"] + steps
    syn = uplink(CLIENT_MAC, UPLINK_MAC) / IP(src=CLIENT, dst=destination, ttl=64, id=7) / TCP(sport=50000, dport=dport, flags="S", seq=1)
    files["syn.pcap"] = [syn]
    files["syn_nat.pcap"] = [rebuilt(Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(src=NODE, dst=PODB, ttl=63, id=7) /
                                     TCP(sport=snat_port, dport=8080, flags="S", seq=1))]
    synack = Ether(src=PODB_MAC, dst=PODB_MAC_PORT) / IP(src=PODB, dst=NODE, ttl=64, id=8) / TCP(sport=8080, dport=snat_port, flags="SA", seq=9, ack=2)
    files["synack.pcap"] = [synack]
    files["synack_unnat.pcap"] = [rebuilt(uplink(UPLINK_MAC, CLIENT_MAC) / IP(src=destination, dst=CLIENT, ttl=63, id=8) /
                                          TCP(sport=dport, dport=50000, flags="SA", seq=9, ack=2))]
    steps += ["in uplink syn.pcap", "expect podb syn_nat.pcap"]
    if workers:
        steps.append(f"worker {workers[1]}")
    steps += ["in podb synack.pcap", "expect uplink synack_unnat.pcap"]
    if trace:
        steps = [f"trace {trace}"] + steps + ["expect-trace trace.txt"]
    write_case(name, description, steps, files, node_yaml, kept=["trace.txt"] if trace else ())


def case_hairpin():
    files = {}
    steps = prologue(files)
    syn = Ether(src=PODB_MAC, dst=PODB_MAC_PORT) / IP(src=PODB, dst=WEB, ttl=64, id=3) / TCP(sport=40001, dport=80, flags="S", seq=1)
    files["syn.pcap"] = [syn]
    files["syn_hairpin.pcap"] = [rebuilt(Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(src=GATEWAY, dst=PODB, ttl=63, id=3) /
                                         TCP(sport=HAIRPIN_SNAT_PORT, dport=8080, flags="S", seq=1))]
    synack = Ether(src=PODB_MAC, dst=PODB_MAC_PORT) / IP(src=PODB, dst=GATEWAY, ttl=64, id=4) / TCP(sport=8080, dport=HAIRPIN_SNAT_PORT, flags="SA", seq=5, ack=2)
    files["synack.pcap"] = [synack]
    files["synack_unnat.pcap"] = [rebuilt(Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(src=WEB, dst=PODB, ttl=63, id=4) /
                                          TCP(sport=80, dport=40001, flags="SA", seq=5, ack=2))]
    steps += ["in podb syn.pcap", "expect podb syn_hairpin.pcap", "in podb synack.pcap", "expect podb synack_unnat.pcap"]
    write_case("005_hairpin_snat_to_gateway",
               "Hairpin: a pod reaching itself through its own Service is DNATed to itself and SNATed to the "
               "pod gateway 10.244.1.1, so its answer comes back through the dataplane to be un-NATed.",
               steps, files)


def case_no_endpoints():
    files = {}
    steps = prologue(files)
    syn = Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / IP(src=PODA, dst=EMPTY, ttl=64, id=5) / TCP(sport=40002, dport=80, flags="S", seq=1)
    files["syn.pcap"] = [syn]
    quoted = bytes(syn[IP])[:28]
    files["unreachable.pcap"] = [rebuilt(Ether(src=PODA_MAC_PORT, dst=PODA_MAC) /
                                         IP(src=EMPTY, dst=PODA, ttl=64, id=0, tos=0xc0, proto=1) /
                                         ICMP(type=3, code=3) / Raw(quoted))]
    steps += ["in poda syn.pcap", "expect poda unreachable.pcap", "counter no_endpoints 1", "counter conntrack_inserts 0"]
    write_case("006_no_endpoints_port_unreachable",
               "A Service without endpoints answers at once with ICMP port unreachable from the ClusterIP "
               "(kube-proxy's REJECT), quoting the offending header and 8 bytes.", steps, files)


def case_icmp_error():
    files = {}
    steps = prologue(files)
    query = Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / IP(src=PODA, dst=DNS, ttl=64, id=9) / UDP(sport=5000, dport=53) / Raw(b"query")
    files["query.pcap"] = [query]
    files["query_dnat.pcap"] = [rebuilt(Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(src=PODA, dst=PODB, ttl=63, id=9) /
                                        UDP(sport=5000, dport=5353) / Raw(b"query"))]
    # The backend's kernel has nothing on 5353 and says so about the DNATed packet.
    dnated = IP(src=PODA, dst=PODB, ttl=63, id=9) / UDP(sport=5000, dport=5353) / Raw(b"query")
    dnated = IP(bytes(rebuilt(Ether() / dnated)[IP]))
    error = Ether(src=PODB_MAC, dst=PODB_MAC_PORT) / IP(src=PODB, dst=PODA, ttl=64, id=10) / ICMP(type=3, code=3) / Raw(bytes(dnated)[:28])
    files["error.pcap"] = [rebuilt(error)]
    original = IP(bytes(rebuilt(Ether() / IP(src=PODA, dst=DNS, ttl=64, id=9) / UDP(sport=5000, dport=53) / Raw(b"query"))[IP]))
    # What the client must see: the error about the packet it sent, from the
    # address it sent it to (the inner TTL stays as the backend quoted it).
    inner = IP(bytes(original))
    inner.ttl = 63
    del inner.chksum
    files["error_unnat.pcap"] = [rebuilt(Ether(src=PODA_MAC_PORT, dst=PODA_MAC) / IP(src=DNS, dst=PODA, ttl=63, id=10) /
                                         ICMP(type=3, code=3) / Raw(bytes(inner)[:28]))]
    steps += ["in poda query.pcap", "expect podb query_dnat.pcap", "in podb error.pcap", "expect poda error_unnat.pcap"]
    write_case("007_icmp_error_inner_header_unnat",
               "ICMP errors about a NATed flow are matched to it through the quoted header, and both the "
               "outer and the quoted headers are translated back (UDP to the dns ClusterIP).", steps, files)


def case_fragments():
    files = {}
    steps = prologue(files)
    payload = bytes(range(256)) * 8
    datagram = IP(src=PODA, dst=DNS, ttl=64, id=77) / UDP(sport=5001, dport=53) / Raw(payload)
    sent = [Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / f for f in fragment(IP(bytes(datagram)), fragsize=800)]
    files["fragments.pcap"] = sent
    expected_datagram = IP(bytes(IP(src=PODA, dst=PODB, ttl=63, id=77) / UDP(sport=5001, dport=5353) / Raw(payload)))
    files["fragments_dnat.pcap"] = [Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / f
                                    for f in fragment(expected_datagram, fragsize=800)]
    orphan = IP(src=PODA, dst=DNS, ttl=64, id=78, frag=100, flags=0, proto=17) / Raw(b"x" * 16)
    files["orphan.pcap"] = [Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / orphan]
    steps += ["in poda fragments.pcap", "expect podb fragments_dnat.pcap",
              "in poda orphan.pcap", "expect-none podb", "counter fragment_without_head 1", "counter fragments 4"]
    write_case("008_fragments_follow_first",
               "IP fragments: later fragments (no UDP header) follow the first fragment's DNAT; a fragment "
               "whose first fragment was never seen is dropped and counted, never forwarded unNATed.",
               steps, files)


def case_vlan():
    node_yaml = NODE_YAML.replace("    devargs: net_ring_uplink\n", "    devargs: net_ring_uplink\n    vlan: 100\n")
    external_case("009_vlan_uplink_tagging",
                  "An uplink on VLAN 100: tagged traffic is untagged towards the pod and the reply is tagged "
                  "again on its way out; the gratuitous ARP is tagged too.",
                  VIP, 80, LB_SNAT_PORT, vlan=100, node_yaml=node_yaml)


def case_source_ranges():
    manifests = MANIFESTS.replace("  externalTrafficPolicy: Cluster\n",
                                  "  externalTrafficPolicy: Cluster\n  loadBalancerSourceRanges: [10.0.0.0/8]\n"
                                  "  externalIPs: [192.168.100.201]\n")
    files = {}
    steps = prologue(files)
    files["garp.pcap"] = garp() + [
        Ether(src=UPLINK_MAC, dst="ff:ff:ff:ff:ff:ff") /
        ARP(op=1, hwsrc=UPLINK_MAC, psrc="192.168.100.201", hwdst="00:00:00:00:00:00", pdst="192.168.100.201") /
        Raw(b"\x00" * 18)]
    to_vip = Ether(src=CLIENT_MAC, dst=UPLINK_MAC) / IP(src=CLIENT, dst=VIP, id=1) / TCP(sport=50001, dport=80, flags="S")
    to_external_ip = Ether(src=CLIENT_MAC, dst=UPLINK_MAC) / IP(src=CLIENT, dst="192.168.100.201", id=2) / TCP(sport=50002, dport=80, flags="S")
    files["to_vip.pcap"] = [to_vip]
    files["to_external_ip.pcap"] = [to_external_ip]
    files["forwarded.pcap"] = [rebuilt(Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(src=NODE, dst=PODB, ttl=63, id=2) /
                                       TCP(sport=EXTERNAL_IP_SNAT_PORT, dport=8080, flags="S"))]
    steps += ["in uplink to_vip.pcap", "expect-none podb", "counter source_range_denied 1",
              "in uplink to_external_ip.pcap", "counter conntrack_inserts 1"]
    write_case("012_lb_source_ranges_and_external_ips",
               "loadBalancerSourceRanges: a client outside 10.0.0.0/8 is refused at the LoadBalancer VIP (counted); "
               "the ranges do not apply to the Service's externalIPs, which are owned (announced) and balanced.",
               steps + ["# the SYN to the external IP was DNATed+SNATed to the backend", "expect podb forwarded.pcap"],
               files, manifests=manifests)


POLICY_MANIFESTS = MANIFESTS + """---
apiVersion: v1
kind: Pod
metadata: {name: poda, namespace: default, labels: {app: client}}
spec:
  nodeName: node-a
  containers: [{name: main, ports: [{containerPort: 5000}]}]
status: {phase: Running, podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: podb, namespace: default, labels: {app: web}}
spec:
  nodeName: node-a
  containers: [{name: main, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 10.244.1.12}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 8080}]
"""


def case_policy_no_bypass(name="013_policy_no_bypass", description=None, trace=False):
    """`trace`: the denials and then the allowed connection are traced (to
    the web pod), and must print as denied.txt and allowed.txt say."""
    files = {}
    steps = prologue(files)
    syn = IP(src=CLIENT, dst=PODB, ttl=64, id=90) / TCP(sport=50090, dport=8080, flags="S") / Raw(b"x" * 64)
    pieces = fragment(IP(bytes(syn)), fragsize=48)  # the first carries the whole TCP header
    files["fragments.pcap"] = [Ether(src=CLIENT_MAC, dst=UPLINK_MAC) / piece for piece in pieces]
    files["options.pcap"] = [Ether(src=CLIENT_MAC, dst=UPLINK_MAC) /
                             IP(src=CLIENT, dst=PODB, ttl=64, id=91, options=[IPOption_RR(routers=["0.0.0.0"]), IPOption_NOP()]) /
                             TCP(sport=50091, dport=8080, flags="S")]
    quoted = bytes(IP(src=PODB, dst=CLIENT, id=5) / TCP(sport=8080, dport=50092, flags="SA"))[:28]
    files["icmp_error.pcap"] = [Ether(src=CLIENT_MAC, dst=UPLINK_MAC) / IP(src=CLIENT, dst=PODB, ttl=64, id=92) /
                                ICMP(type=3, code=3) / Raw(quoted)]
    files["bare_ack.pcap"] = [Ether(src=CLIENT_MAC, dst=UPLINK_MAC) / IP(src=CLIENT, dst=PODB, ttl=64, id=93) /
                              TCP(sport=50093, dport=8080, flags="A", seq=1, ack=1)]
    files["spoofed.pcap"] = [Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / IP(src="10.244.1.99", dst=PODB, ttl=64, id=94) /
                             TCP(sport=50094, dport=8080, flags="S")]
    allowed = IP(src=PODA, dst=PODB, ttl=64, id=95, options=[IPOption_RR(routers=["0.0.0.0"]), IPOption_NOP()]) / TCP(sport=50095, dport=8080, flags="S")
    files["allowed.pcap"] = [Ether(src=PODA_MAC, dst=PODA_MAC_PORT) / allowed]
    forwarded = IP(bytes(allowed))
    forwarded.ttl = 63
    del forwarded.chksum
    files["allowed_forwarded.pcap"] = [Ether(src=PODB_MAC_PORT, dst=PODB_MAC) / IP(bytes(forwarded))]
    trace_step = ["trace - " + PODB] if trace else []
    steps += trace_step + [
        "in uplink fragments.pcap", "in uplink options.pcap", "in uplink icmp_error.pcap", "in uplink bare_ack.pcap",
        "expect-none podb", "counter policy_denied %d" % (len(pieces) + 3), "counter conntrack_inserts 0"]
    steps += ["expect-trace denied.txt"] if trace else []
    steps += ["in poda spoofed.pcap", "expect-none podb", "counter spoofed_source 1"]
    steps += trace_step + ["in poda allowed.pcap", "expect podb allowed_forwarded.pcap", "counter conntrack_inserts 1"]
    steps += ["expect-trace allowed.txt"] if trace else []
    write_case(name, description or
               "NetworkPolicy admits only app=client to the web pod on TCP 8080. From outside, a fragmented SYN "
               "(both fragments), a SYN with IP options, an ICMP error about no known connection and a bare ACK "
               "are all denied and counted; a spoofed source from a pod port is dropped; the allowed client's "
               "SYN with IP options passes (options kept, TTL decremented) and is tracked.",
               steps, files, manifests=POLICY_MANIFESTS, kept=["denied.txt", "allowed.txt"] if trace else ())


def case_malformed():
    import random
    rng = random.Random(2024)
    good = bytes(Ether(src=CLIENT_MAC, dst=UPLINK_MAC) / IP(src=CLIENT, dst=VIP) / TCP(sport=1, dport=80, flags="S"))
    junk = [Raw(good[:length]) for length in (10, 14, 20, 33, 40, 53)]  # cut inside every header
    junk.append(Raw(good[:14] + b"\x4f" + good[15:]))                      # IHL 15 beyond the frame
    junk.append(Raw(good[:14] + b"\x45\x00\x00\x08" + good[18:]))          # total length < header
    junk.append(Ether(src=CLIENT_MAC, dst=UPLINK_MAC, type=0x88a8) / Raw(good[14:]))  # QinQ
    junk.append(Ether(src=CLIENT_MAC, dst=UPLINK_MAC, type=0x0806) / Raw(b"\x00\x06" + b"\x00" * 26))  # not IPv4 ARP
    for _ in range(40):
        junk.append(Raw(bytes(Ether(src=CLIENT_MAC, dst=UPLINK_MAC)) + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 120)))))
    ipv6 = Ether(src=CLIENT_MAC, dst=UPLINK_MAC, type=0x86dd) / Raw(bytes.fromhex("6000000000083a40") + b"\x00" * 32 + bytes(8))
    files = {"garp.pcap": garp(), "junk.pcap": junk, "ipv6.pcap": [ipv6]}
    write_case("010_malformed_frames_are_dropped_and_counted",
               "Truncated, inconsistent, QinQ, non-IPv4 ARP and random frames are dropped and counted "
               "(never forwarded, never a crash); IPv6 is parsed and counted as not forwarded yet.",
               ["expect uplink garp.pcap", "in uplink junk.pcap", "in uplink ipv6.pcap", "expect-none uplink",
                "expect-none poda", "expect-none podb", "counter ipv6_not_forwarded 1"], files)


def main():
    os.makedirs(CASES, exist_ok=True)
    case_arp()
    case_clusterip()
    external_case("003_nodeport_dnat_snat_and_reply",
                  "NodePort with externalTrafficPolicy Cluster: an external client's SYN to node:30080 is DNATed "
                  "to the backend and SNATed to the node IP (a port from the SNAT range); the reply is un-NATed "
                  "back to the client, whose MAC was learned from its SYN.", NODE, 30080, NODEPORT_SNAT_PORT)
    external_case("004_loadbalancer_vip_dnat_snat",
                  "LoadBalancer VIP: like NodePort, the VIP's port 80 is DNATed to the backend and SNATed to the "
                  "node IP; the reply leaves from the VIP.", VIP, 80, LB_SNAT_PORT)
    external_case("011_reply_on_another_worker",
                  "RSS may put a NATed connection's reply on another worker's queue: the SYN is handled by "
                  "worker 0 (which SNATs from its own share of the port range) and the SYN-ACK by worker 1, "
                  "which finds the same entry in the shared conntrack table through the reply key.",
                  NODE, 30080, TWO_WORKER_SNAT_PORT, workers=[0, 1])
    case_hairpin()
    case_no_endpoints()
    case_icmp_error()
    case_fragments()
    case_vlan()
    case_malformed()
    case_source_ranges()
    case_policy_no_bypass()
    # npctl trace's output, pinned (control/cli/trace.h formats it for both).
    external_case("014_trace_nodeport_walk",
                  "npctl trace of the NodePort walk (case 003's packets): the client's SYN to node:30080 is traced "
                  "by the filter; the backend's SYN-ACK, whose tuple after NAT no longer matches, is traced because "
                  "its conntrack entry carried a traced packet. The pod ARPs are outside the filter.",
                  NODE, 30080, NODEPORT_SNAT_PORT, trace=f"{CLIENT} {NODE}:30080 tcp")
    external_case("016_trace_reply_on_another_worker",
                  "npctl trace across workers (case 011's packets): worker 0 traces the SYN and remembers its "
                  "conntrack entry in the shared trace control block; worker 1, which gets the SYN-ACK, traces "
                  "it through that entry although its tuple matches no filter.",
                  NODE, 30080, TWO_WORKER_SNAT_PORT, workers=[0, 1], trace=f"{CLIENT} {NODE}:30080 tcp")
    case_policy_no_bypass("015_trace_policy_verdicts",
                          "npctl trace of NetworkPolicy verdicts (case 013's packets): every attempt of the outside "
                          "client on the isolated web pod is traced to its denial (no ingress rule, identities world "
                          "-> the web pod), fragments included; the allowed client's SYN names the policy and rule "
                          "that let it through. The spoofed packet happens outside both traces.", trace=True)


if __name__ == "__main__":
    main()
