#include "control/flows/policy_export.h"

#include <set>
#include <tuple>
#include <vector>

namespace np::flows {
namespace {

struct PortKey {
  uint16_t port;
  std::string protocol;
  friend auto operator<=>(const PortKey&, const PortKey&) = default;
};

// Peers of one policy, each with the ports observed with it.
using PeerPorts = std::map<std::string, std::pair<FlowPeer, std::set<PortKey>>>;

// Subjects of the directional policies (key: FlowPeer::Key()), each with its peers.
using PeersBySubject = std::map<std::string, std::pair<FlowPeer, PeerPorts>>;

// Notes that `subject` exchanged traffic with `peer` on `port`.
void AddPeerPort(PeersBySubject& by_subject, const FlowPeer& subject, const FlowPeer& peer, const PortKey& port) {
  auto& [subject_entry, peers] = by_subject[subject.Key()];
  subject_entry = subject;
  auto& [peer_entry, ports] = peers[peer.Key()];
  peer_entry = peer;
  ports.insert(port);
}

bool IsPod(const FlowPeer& peer) { return peer.kind == "pod"; }
bool Exportable(const FlowPeer& peer) { return peer.kind == "pod" || peer.kind == "external"; }

void WriteLabels(std::string& out, const std::map<std::string, std::string>& labels, const std::string& indent) {
  if (labels.empty()) {
    out += " {}\n";
    return;
  }
  out += "\n" + indent + "matchLabels:\n";
  for (const auto& [key, value] : labels) out += indent + "  " + DoubleQuote(key) + ": " + DoubleQuote(value) + "\n";
}

// One "- podSelector/namespaceSelector" or "- ipBlock" list item at `indent`.
void WritePeer(std::string& out, const FlowPeer& peer, const std::string& indent) {
  if (peer.kind == "external") {
    out += indent + "- ipBlock:\n" + indent + "    cidr: " + peer.workload + "\n";
    return;
  }
  out += indent + "- podSelector:";
  WriteLabels(out, peer.pod_labels, indent + "    ");
  out += indent + "  namespaceSelector:\n" + indent + "    matchLabels:\n" + indent +
         "      kubernetes.io/metadata.name: " + DoubleQuote(peer.namespace_) + "\n";
}

void WritePorts(std::string& out, const std::set<PortKey>& ports, const std::string& indent) {
  out += indent + "ports:\n";
  for (const PortKey& port : ports)
    out += indent + "- protocol: " + port.protocol + "\n" + indent + "  port: " + std::to_string(port.port) + "\n";
}

std::string PolicyHeader(const std::string& name, const std::string& ns, const std::string& why) {
  return "# " + why + "\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\n  labels:\n    app.kubernetes.io/managed-by: npctl-map-export\nspec:\n";
}

std::string DirectionalPolicy(const FlowPeer& subject, const PeerPorts& peers, bool ingress) {
  const std::string name = subject.workload + (ingress ? "-ingress" : "-egress");
  std::string out = PolicyHeader(name, subject.namespace_,
                                 std::string(ingress ? "Observed clients of " : "Observed servers of ") +
                                     subject.namespace_ + "/" + subject.workload + " (" + subject.workload_kind +
                                     ")");
  out += "  podSelector:";
  WriteLabels(out, subject.pod_labels, "    ");
  out += std::string("  policyTypes:\n  - ") + (ingress ? "Ingress" : "Egress") + "\n";
  out += std::string("  ") + (ingress ? "ingress" : "egress") + ":\n";
  for (const auto& [key, peer_ports] : peers) {
    out += std::string("  - ") + (ingress ? "from" : "to") + ":\n";
    WritePeer(out, peer_ports.first, "    ");
    WritePorts(out, peer_ports.second, "    ");
  }
  return out;
}

std::string NamespaceBaseline(const std::string& ns) {
  std::string out = PolicyHeader("default-deny", ns, "Zero trust: every pod of " + ns + " isolated both ways.");
  out += "  podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n---\n";
  out += PolicyHeader("allow-dns-egress", ns,
                      "Every pod may resolve names: the cluster DNS pods (kube-system, k8s-app=kube-dns).");
  out +=
      "  podSelector: {}\n  policyTypes:\n  - Egress\n  egress:\n  - to:\n    - namespaceSelector:\n"
      "        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n      podSelector:\n"
      "        matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - protocol: UDP\n      port: 53\n"
      "    - protocol: TCP\n      port: 53\n";
  return out;
}

std::string ClientIntents(const FlowPeer& client, const std::set<std::string>& calls) {
  std::string out = "# What " + client.namespace_ + "/" + client.workload +
                    " was seen calling (Otterize network-mapper style).\n"
                    "apiVersion: k8s.otterize.com/v1alpha3\nkind: ClientIntents\nmetadata:\n  name: " +
                    client.workload + "\n  namespace: " + client.namespace_ + "\nspec:\n  service:\n    name: " +
                    client.workload + "\n  calls:\n";
  for (const std::string& call : calls) out += "  - name: " + call + "\n";
  return out;
}

}  // namespace

ExportedManifests ExportPolicies(const TrafficMapFile& map) {
  ExportedManifests out;
  PeersBySubject ingress_by_server;  // key: server Key()
  PeersBySubject egress_by_client;
  std::map<std::string, std::pair<FlowPeer, std::set<std::string>>> intents;
  std::set<std::string> namespaces;
  for (const MapEdge& edge : map.edges) {
    if (!edge.Passed()) continue;
    if (!Exportable(edge.client) || !Exportable(edge.server)) continue;
    const FlowPeer* unselectable = IsPod(edge.client) && edge.client.pod_labels.empty()   ? &edge.client
                                   : IsPod(edge.server) && edge.server.pod_labels.empty() ? &edge.server
                                                                                          : nullptr;
    if (unselectable != nullptr) {
      out.skipped.push_back(edge.client.Label() + " -> " + edge.server.Label() + " " + std::to_string(edge.port) +
                            "/" + edge.protocol + ": " + unselectable->Label() +
                            " has no labels to select its pods by");
      continue;
    }
    const PortKey port{edge.port, edge.protocol};
    if (IsPod(edge.server)) {
      namespaces.insert(edge.server.namespace_);
      AddPeerPort(ingress_by_server, edge.server, edge.client, port);
    }
    if (IsPod(edge.client)) {
      namespaces.insert(edge.client.namespace_);
      AddPeerPort(egress_by_client, edge.client, edge.server, port);
      auto& [intent_client, calls] = intents[edge.client.Key()];
      intent_client = edge.client;
      if (IsPod(edge.server))
        calls.insert(edge.server.namespace_ == edge.client.namespace_
                         ? edge.server.workload
                         : edge.server.workload + "." + edge.server.namespace_);
    }
  }
  for (const std::string& ns : namespaces) {
    std::string text = NamespaceBaseline(ns);
    for (const auto& [key, entry] : ingress_by_server)
      if (entry.first.namespace_ == ns) text += "---\n" + DirectionalPolicy(entry.first, entry.second, true);
    for (const auto& [key, entry] : egress_by_client)
      if (entry.first.namespace_ == ns) text += "---\n" + DirectionalPolicy(entry.first, entry.second, false);
    out.files["networkpolicies/" + ns + ".yaml"] = std::move(text);
  }
  for (const auto& [key, entry] : intents)
    if (!entry.second.empty())
      out.files["clientintents/" + entry.first.namespace_ + "-" + entry.first.workload + ".yaml"] =
          ClientIntents(entry.first, entry.second);
  return out;
}

}  // namespace np::flows
