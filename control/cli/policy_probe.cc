#include "control/cli/policy_probe.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common/policy_image.h"
#include "common/section_image.h"
#include "control/k8s/ip.h"
#include "control/k8s/loader.h"
#include "control/policy/selector.h"

namespace np::cli {
namespace {

using k8s::NamespacedName;
using policy::Labels;

constexpr const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

const char* ProtoText(uint8_t protocol) {
  switch (protocol) {
    case abi::kProtoTcp: return "TCP";
    case abi::kProtoUdp: return "UDP";
    case abi::kProtoSctp: return "SCTP";
    default: return "ANY";
  }
}

uint8_t ProtoNumber(k8s::Protocol protocol) {
  switch (protocol) {
    case k8s::Protocol::kUDP: return abi::kProtoUdp;
    case k8s::Protocol::kSCTP: return abi::kProtoSctp;
    case k8s::Protocol::kTCP: break;
  }
  return abi::kProtoTcp;
}

std::string PodName(const NamespacedName& id) { return id.namespace_ + "/" + id.name; }

// --- explanation helpers (trace only; verdicts always come from PolicyTables) ---

Labels NamespaceLabels(const k8s::ClusterState& state, const std::string& name) {
  Labels labels;
  auto it = state.namespaces.find(NamespacedName{"", name});
  if (it != state.namespaces.end()) labels = it->second.meta.labels;
  labels[kNamespaceNameLabel] = name;
  return labels;
}

struct Side {
  uint32_t ipv4 = 0;
  const k8s::Pod* pod = nullptr;  // null: not a probed pod
  NamespacedName id;
  std::string Describe() const {
    return pod ? PodName(id) + " (" + k8s::Ipv4ToString(ipv4) + ")" : k8s::Ipv4ToString(ipv4);
  }
};

std::string DescribePeer(const k8s::NetworkPolicyPeer& peer) {
  if (peer.ip_block) {
    std::string text = "ipBlock " + peer.ip_block->cidr.ToString();
    if (!peer.ip_block->except.empty()) {
      text += " except";
      for (const k8s::IpCidr& except : peer.ip_block->except) text += " " + except.ToString();
    }
    return text;
  }
  std::string text;
  if (peer.namespace_selector) text += "namespaceSelector " + policy::ToString(*peer.namespace_selector);
  if (peer.pod_selector) text += std::string(text.empty() ? "" : " AND ") + "podSelector " + policy::ToString(*peer.pod_selector);
  return text;
}

std::string DescribePort(const k8s::NetworkPolicyPort& port) {
  std::string text;
  if (!port.port) text = "any port";
  else if (port.port->is_name) text = "port \"" + port.port->name + "\"";
  else if (port.end_port) text = "ports " + std::to_string(port.port->number) + "-" + std::to_string(*port.end_port);
  else text = "port " + std::to_string(port.port->number);
  return text + "/" + k8s::ProtocolName(port.protocol);
}

bool PeerMatches(const k8s::ClusterState& state, const k8s::NetworkPolicyPeer& peer, const std::string& policy_namespace,
                 const Side& other) {
  if (peer.ip_block) {
    const k8s::IpAddress ip = k8s::IpAddress::V4(other.ipv4);
    if (!peer.ip_block->cidr.is_v4() || !peer.ip_block->cidr.Contains(ip)) return false;
    for (const k8s::IpCidr& except : peer.ip_block->except)
      if (except.is_v4() && except.Contains(ip)) return false;
    return true;
  }
  if (other.pod == nullptr) return false;
  if (peer.namespace_selector) {
    if (!policy::Matches(*peer.namespace_selector, NamespaceLabels(state, other.id.namespace_))) return false;
  } else if (other.id.namespace_ != policy_namespace) {
    return false;
  }
  return !peer.pod_selector || policy::Matches(*peer.pod_selector, other.pod->meta.labels);
}

// Does `port` admit the probed port, the destination being `destination`?
bool PortMatches(const k8s::NetworkPolicyPort& port, const ProbePort& probe, const Side& destination, std::string* why) {
  if (ProtoNumber(port.protocol) != probe.protocol) {
    *why = "protocol " + std::string(k8s::ProtocolName(port.protocol));
    return false;
  }
  if (!port.port) return true;
  if (port.port->is_name) {
    if (destination.pod != nullptr)
      for (const k8s::Container& container : destination.pod->containers)
        for (const k8s::ContainerPort& container_port : container.ports)
          if (container_port.name == port.port->name && container_port.protocol == port.protocol) {
            if (container_port.container_port == probe.port) return true;
            *why = "named port \"" + port.port->name + "\" is " + std::to_string(container_port.container_port) +
                   " on the destination";
            return false;
          }
    *why = "the destination defines no containerPort \"" + port.port->name + "\"/" + k8s::ProtocolName(port.protocol);
    return false;
  }
  const uint16_t low = port.port->number;
  const uint16_t high = port.end_port.value_or(low);
  if (probe.port >= low && probe.port <= high) return true;
  *why = DescribePort(port);
  return false;
}

struct RuleCheck {
  bool peer_ok = false;
  bool port_ok = false;
  std::string peer_text;  // the matching peer, or why none
  std::string port_text;  // the matching port entry, or why none
};

RuleCheck CheckRule(const k8s::ClusterState& state, const k8s::NetworkPolicyRule& rule, const std::string& policy_namespace,
                    bool ingress, const Side& peer, const ProbePort& probe, const Side& destination) {
  RuleCheck check;
  const char* peer_word = ingress ? "from" : "to";
  if (rule.peers.empty()) {
    check.peer_ok = true;
    check.peer_text = std::string("every peer (no ") + peer_word + ")";
  } else {
    for (size_t i = 0; i < rule.peers.size() && !check.peer_ok; ++i)
      if (PeerMatches(state, rule.peers[i], policy_namespace, peer)) {
        check.peer_ok = true;
        check.peer_text = std::string(peer_word) + "[" + std::to_string(i) + "] " + DescribePeer(rule.peers[i]);
      }
    if (!check.peer_ok) {
      check.peer_text = std::string("no ") + peer_word + " peer matches " + peer.Describe() + " (";
      for (size_t i = 0; i < rule.peers.size(); ++i)
        check.peer_text += (i ? "; " : "") + DescribePeer(rule.peers[i]);
      check.peer_text += ")";
    }
  }
  if (rule.ports.empty()) {
    check.port_ok = true;
    check.port_text = "every port (no ports)";
  } else {
    std::string misses;
    for (size_t i = 0; i < rule.ports.size() && !check.port_ok; ++i) {
      std::string why;
      if (PortMatches(rule.ports[i], probe, destination, &why)) {
        check.port_ok = true;
        check.port_text = "ports[" + std::to_string(i) + "] " + DescribePort(rule.ports[i]);
      } else {
        misses += (misses.empty() ? "" : "; ") + why;
      }
    }
    if (!check.port_ok) check.port_text = probe.text + " not admitted (" + misses + ")";
  }
  return check;
}

std::string PolicyTypesText(const k8s::NetworkPolicy& policy) {
  std::string text;
  if (policy.affects_ingress) text += "Ingress";
  if (policy.affects_egress) text += std::string(text.empty() ? "" : ",") + "Egress";
  return text.empty() ? "none" : text;
}

// One direction of the trace: the subject's isolation and the rule that allowed, or why none did.
void TraceDirection(std::ostringstream& out, const ProbeWorld& world, bool ingress, const Side& subject, const Side& peer,
                    const ProbePort& probe, const Side& destination, bool judged, uint32_t image_rule) {
  const char* direction = ingress ? "ingress" : "egress";
  out << direction << " of " << subject.Describe() << ": ";
  if (subject.pod == nullptr) {
    out << "not a pod this probe knows: not judged\n";
    return;
  }
  std::vector<std::pair<NamespacedName, const k8s::NetworkPolicy*>> selecting;
  for (const auto& [id, policy] : world.state.network_policies)
    if (id.namespace_ == subject.id.namespace_ && policy::Matches(policy.pod_selector, subject.pod->meta.labels))
      selecting.emplace_back(id, &policy);
  std::vector<std::pair<NamespacedName, const k8s::NetworkPolicy*>> isolating;
  for (const auto& entry : selecting)
    if (ingress ? entry.second->affects_ingress : entry.second->affects_egress) isolating.push_back(entry);

  if (!judged) {
    out << "not isolated (no policy with policyType " << (ingress ? "Ingress" : "Egress")
        << " selects it): allowed\n";
    for (const auto& [id, policy] : selecting)
      out << "  selected by " << id.ToString() << " (policyTypes " << PolicyTypesText(*policy) << ")\n";
    if (!isolating.empty()) out << "  NOTE: the manifests say it is isolated, the classifier does not (inconsistency)\n";
    return;
  }
  out << "isolated by";
  for (const auto& [id, policy] : isolating) out << " " << id.ToString();
  if (isolating.empty()) out << " (no policy found in the manifests: inconsistency)";
  out << "\n";
  for (const auto& [id, policy] : selecting)
    if (!(ingress ? policy->affects_ingress : policy->affects_egress))
      out << "  also selected by " << id.ToString() << " (policyTypes " << PolicyTypesText(*policy)
          << ": no say on " << direction << ")\n";

  if (image_rule != policy::kNoRule && image_rule < world.tables->image().rules.size()) {
    const abi::PolicyRuleRecord& record = world.tables->image().rules[image_rule];
    const std::vector<std::string>& names = world.tables->image().policy_names;
    const std::string policy_name = record.policy_index < names.size() ? names[record.policy_index] : "?";
    out << "  ALLOWED by " << policy_name << " " << direction << " rule " << record.rule_index << " (classifier rule "
        << image_rule << ": " << ProtoText(record.protocol) << " " << record.port_min << "-" << record.port_max
        << ((record.peer_flags & abi::kPeerAnyIdentity) ? "" : ", peer identity set")
        << ((record.peer_flags & abi::kPeerAnyAddress) ? "" : ", peer CIDR set") << ")\n";
    // Which peer and port entry of the spec that is, for the reader.
    const auto slash = policy_name.find('/');
    const NamespacedName key{policy_name.substr(0, slash), slash == std::string::npos ? "" : policy_name.substr(slash + 1)};
    auto policy = world.state.network_policies.find(key);
    if (policy != world.state.network_policies.end()) {
      const auto& rules = ingress ? policy->second.ingress : policy->second.egress;
      if (record.rule_index < rules.size()) {
        const RuleCheck check = CheckRule(world.state, rules[record.rule_index], key.namespace_, ingress, peer, probe,
                                          destination);
        out << "    peer: " << check.peer_text << "\n    port: " << check.port_text << "\n";
        if (!check.peer_ok || !check.port_ok) out << "    NOTE: the spec re-read disagrees with the classifier\n";
      }
    }
    return;
  }
  out << "  DENIED: no " << direction << " rule of these policies admits it\n";
  for (const auto& [id, policy] : isolating) {
    const auto& rules = ingress ? policy->ingress : policy->egress;
    if (rules.empty()) {
      out << "    " << id.ToString() << ": no " << direction << " rules (denies all)\n";
      continue;
    }
    for (size_t i = 0; i < rules.size(); ++i) {
      const RuleCheck check = CheckRule(world.state, rules[i], id.namespace_, ingress, peer, probe, destination);
      out << "    " << id.ToString() << " " << direction << " rule " << i << ": ";
      if (check.peer_ok && check.port_ok)
        out << "matches by the spec (" << check.peer_text << ", " << check.port_text
            << ") but not in the classifier: inconsistency\n";
      else
        out << (check.peer_ok ? "" : check.peer_text) << (!check.peer_ok && !check.port_ok ? "; " : "")
            << (check.port_ok ? "" : check.port_text) << "\n";
    }
  }
}

std::optional<Side> ResolveSide(const ProbeWorld& world, const std::string& text, std::string* error) {
  Side side;
  if (std::optional<k8s::IpAddress> ip = k8s::ParseIp(text); ip && ip->is_v4()) {
    side.ipv4 = ip->v4;
    for (const ProbePod& pod : world.pods)
      if (pod.ipv4 == ip->v4) {
        side.id = pod.id;
        side.pod = &world.state.pods.at(pod.id);
      }
    return side;
  }
  const auto slash = text.find('/');
  const NamespacedName id = slash == std::string::npos ? NamespacedName{"default", text}
                                                       : NamespacedName{text.substr(0, slash), text.substr(slash + 1)};
  for (const ProbePod& pod : world.pods)
    if (pod.id == id) {
      side.id = id;
      side.ipv4 = pod.ipv4;
      side.pod = &world.state.pods.at(id);
      return side;
    }
  for (const std::string& skipped : world.skipped)
    if (skipped.rfind(PodName(id) + ":", 0) == 0) {
      *error = "Pod " + skipped;
      return std::nullopt;
    }
  *error = "no Pod " + PodName(id) + " in the manifests (give NS/POD or an IPv4 address)";
  return std::nullopt;
}

std::string IdentityText(const ProbeWorld& world, uint32_t identity) {
  switch (identity) {
    case abi::kIdentityHost: return "host (this node)";
    case abi::kIdentityWorld: return "world";
    case abi::kIdentityUnknownCluster: return "unknown-cluster";
    default: break;
  }
  const PolicyImage& image = world.tables->image();
  for (size_t i = 0; i < image.identities.size(); ++i)
    if (image.identities[i].id == identity)
      return std::to_string(identity) + " " + (i < image.identity_names.size() ? image.identity_names[i] : "");
  return std::to_string(identity);
}

}  // namespace

Result<std::vector<ProbePort>> ParseProbePorts(const std::string& text) {
  std::vector<ProbePort> ports;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) continue;
    const auto slash = item.find('/');
    const std::string number = item.substr(0, slash);
    const std::string protocol = slash == std::string::npos ? "TCP" : Upper(item.substr(slash + 1));
    char* end = nullptr;
    const long value = std::strtol(number.c_str(), &end, 10);
    if (number.empty() || *end != '\0' || value < 1 || value > 65535)
      return MakeError("--ports: \"" + item + "\": the port must be a number 1-65535 (named ports are resolved by the policies, not the probe)");
    ProbePort port;
    port.port = static_cast<uint16_t>(value);
    if (protocol == "TCP") port.protocol = abi::kProtoTcp;
    else if (protocol == "UDP") port.protocol = abi::kProtoUdp;
    else if (protocol == "SCTP") port.protocol = abi::kProtoSctp;
    else return MakeError("--ports: \"" + item + "\": protocol must be TCP, UDP or SCTP");
    port.text = std::to_string(port.port) + "/" + protocol;
    ports.push_back(port);
  }
  if (ports.empty()) return MakeError("--ports: no port given");
  return ports;
}

Result<k8s::ClusterState> LoadProbeManifests(const std::filesystem::path& path) {
  k8s::LoadResult load;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    Result<k8s::LoadResult> loaded = k8s::LoadManifestDirectory(path);
    if (!loaded) return loaded.error();
    load = std::move(loaded).value();
  } else if (std::filesystem::exists(path, ec)) {
    k8s::LoadManifestFile(path, load);
  } else {
    return MakeError(path.string() + ": no such file or directory");
  }
  if (!load.failures.empty()) {
    std::string message = path.string() + ": " + std::to_string(load.failures.size()) + " object(s) failed to load:";
    for (const k8s::LoadFailure& failure : load.failures)
      for (const std::string& line : failure.messages) message += "\n  " + line;
    return MakeError(message);
  }
  return std::move(load.state);
}

Result<ProbeWorld> BuildProbeWorld(k8s::ClusterState state) {
  ProbeWorld world;
  world.state = std::move(state);
  NodeImage node;  // no node addresses, no cluster CIDR: every pod is judged as if local
  policy::PolicyCompileOptions options;
  options.enforce_all_pods = true;
  world.compilation = policy::CompilePolicies(world.state, node, options);
  const std::vector<uint8_t> bytes = EncodePolicySection(world.compilation.image);
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  Result<PolicyImage> decoded = DecodePolicySection(bytes.data(), bytes.size(), &crc);
  if (!decoded) return MakeError("policy section refused: " + decoded.error().message);
  auto tables = policy::PolicyTables::Build(std::move(decoded).value());
  if (!tables) return MakeError("policy tables: " + tables.error().message);
  world.tables = std::move(tables).value();
  world.compilation.image = PolicyImage{};  // the tables hold the decoded copy

  for (const auto& [id, pod] : world.state.pods) {
    auto it = world.compilation.pod_identity.find(id);
    if (it != world.compilation.pod_identity.end() && pod.pod_ip && pod.pod_ip->is_v4()) {
      world.pods.push_back({id, pod.pod_ip->v4, it->second});
      continue;
    }
    std::string why = !pod.pod_ip ? "no status.podIP"
                      : !pod.pod_ip->is_v4() ? "IPv6 podIP (IPv4 only)"
                      : pod.phase == "Succeeded" || pod.phase == "Failed" ? "phase " + pod.phase
                                                                          : "its address belongs to another pod or a node";
    world.skipped.push_back(PodName(id) + ": " + why);
  }
  std::sort(world.pods.begin(), world.pods.end(),
            [](const ProbePod& a, const ProbePod& b) { return PodName(a.id) < PodName(b.id); });
  return world;
}

std::vector<std::string> ProbeLines(const ProbeWorld& world, const std::vector<ProbePort>& ports) {
  std::vector<policy::FlowQuery> queries;
  std::vector<std::string> prefixes;
  queries.reserve(world.pods.size() * world.pods.size() * ports.size());
  for (const ProbePod& src : world.pods)
    for (const ProbePod& dst : world.pods)
      for (const ProbePort& port : ports) {
        queries.push_back({src.ipv4, dst.ipv4, port.port, port.protocol, 0});
        prefixes.push_back(PodName(src.id) + " " + PodName(dst.id) + " " + port.text);
      }
  std::vector<policy::FlowVerdict> verdicts(queries.size());
  if (!queries.empty()) world.tables->Check(queries.data(), static_cast<uint32_t>(queries.size()), verdicts.data());
  std::vector<std::string> lines;
  lines.reserve(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) lines.push_back(prefixes[i] + (verdicts[i].allowed ? " allow" : " deny"));
  std::sort(lines.begin(), lines.end());
  return lines;
}

Result<std::string> TraceFlow(const ProbeWorld& world, const std::string& from, const std::string& to,
                              const ProbePort& port) {
  std::string error;
  std::optional<Side> src = ResolveSide(world, from, &error);
  if (!src) return MakeError(error);
  std::optional<Side> dst = ResolveSide(world, to, &error);
  if (!dst) return MakeError(error);

  const policy::FlowQuery query{src->ipv4, dst->ipv4, port.port, port.protocol, 0};
  policy::FlowVerdict verdict{};
  world.tables->Check(&query, 1, &verdict);
  const policy::AddressInfo src_info = world.tables->Lookup(src->ipv4);
  const policy::AddressInfo dst_info = world.tables->Lookup(dst->ipv4);

  std::ostringstream out;
  out << "flow: " << src->Describe() << " -> " << dst->Describe() << " port " << port.text << "\n";
  out << "source identity: " << IdentityText(world, verdict.src_identity) << "\n";
  out << "destination identity: " << IdentityText(world, verdict.dst_identity) << "\n";
  const char* reason = "";
  switch (verdict.reason) {
    case policy::Reason::kNotJudged: reason = "neither side is isolated for this direction"; break;
    case policy::Reason::kSelf: reason = "a pod reaching itself is always allowed"; break;
    case policy::Reason::kHost: reason = "traffic between a pod and its node is always allowed"; break;
    case policy::Reason::kAllowedByRule: reason = "every judged direction has a rule allowing it"; break;
    case policy::Reason::kDeniedIngress: reason = "the destination's ingress allows nothing matching"; break;
    case policy::Reason::kDeniedEgress: reason = "the source's egress allows nothing matching"; break;
  }
  out << "verdict: " << (verdict.allowed ? "allow" : "deny") << " (" << reason << ")\n";
  if (verdict.reason == policy::Reason::kSelf || verdict.reason == policy::Reason::kHost) return out.str();

  const bool egress_judged = (src_info.ip_flags & abi::kIpLocalPod) && (src_info.identity_flags & abi::kIdentityIsolatedEgress);
  const bool ingress_judged = (dst_info.ip_flags & abi::kIpLocalPod) && (dst_info.identity_flags & abi::kIdentityIsolatedIngress);
  TraceDirection(out, world, false, *src, *dst, port, *dst, egress_judged, verdict.egress_rule);
  TraceDirection(out, world, true, *dst, *src, port, *dst, ingress_judged, verdict.ingress_rule);
  return out.str();
}

Status InitProbeEal() {
  static std::optional<std::string> failure;
  static bool started = false;
  if (started) return Ok{};
  if (failure) return MakeError(*failure);
  static std::vector<std::string> args = {"npctl",       "--no-huge",     "-m",           "256",
                                          "--no-pci",    "--no-shconf",   "--no-telemetry", "-l",
                                          "0",           "--log-level",   "*:error",      "--file-prefix",
                                          "npctl-probe-" + std::to_string(getpid())};
  static std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    failure = "rte_eal_init failed (rte_acl needs an EAL): " + std::string(rte_strerror(rte_errno));
    return MakeError(*failure);
  }
  rte_openlog_stream(stderr);  // keep stdout for the probe lines
  started = true;
  std::atexit([] {
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ec;
    if (!runtime_dir.empty() && runtime_dir.find("npctl-probe-") != std::string::npos)
      std::filesystem::remove_all(runtime_dir, ec);
  });
  return Ok{};
}

int RunPolicyCommand(const std::vector<std::string>& args) {
  constexpr const char* kPolicyUsage =
      "usage: npctl policy probe --manifests DIR|FILE [--ports 80/TCP,81/TCP,80/UDP,81/UDP,80/SCTP,81/SCTP]\n"
      "       npctl policy trace FROM TO PORT/PROTO --manifests DIR|FILE   (FROM/TO: NS/POD or IPv4)\n";
  std::vector<std::string> positional;
  std::string manifests;
  std::string ports_text = kDefaultProbePorts;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (arg == flag && i + 1 < args.size()) return args[++i];
      if (arg.rfind(flag + "=", 0) == 0) return arg.substr(flag.size() + 1);
      return std::nullopt;
    };
    if (auto v = value("--manifests")) manifests = *v;
    else if (auto p = value("--ports")) ports_text = *p;
    else if (arg == "-h" || arg == "--help") {
      std::fputs(kPolicyUsage, stdout);
      return 0;
    } else if (!arg.empty() && arg[0] == '-' && arg.size() > 1) {
      std::fprintf(stderr, "npctl policy: unknown flag %s\n%s", arg.c_str(), kPolicyUsage);
      return 2;
    } else {
      positional.push_back(arg);
    }
  }
  const std::string verb = positional.empty() ? "" : positional[0];
  const bool probe = verb == "probe" && positional.size() == 1;
  const bool trace = verb == "trace" && positional.size() == 4;
  if ((!probe && !trace) || manifests.empty()) {
    std::fputs(kPolicyUsage, stderr);
    return 2;
  }
  Result<std::vector<ProbePort>> ports = ParseProbePorts(trace ? positional[3] : ports_text);
  if (!ports) {
    std::fprintf(stderr, "npctl policy: %s\n", ports.error().message.c_str());
    return 2;
  }
  if (trace && ports->size() != 1) {
    std::fprintf(stderr, "npctl policy trace: one PORT/PROTO\n");
    return 2;
  }
  Result<k8s::ClusterState> state = LoadProbeManifests(manifests);
  if (!state) {
    std::fprintf(stderr, "npctl policy: %s\n", state.error().message.c_str());
    return 1;
  }
  if (Status eal = InitProbeEal(); !eal) {
    std::fprintf(stderr, "npctl policy: %s\n", eal.error().message.c_str());
    return 1;
  }
  Result<ProbeWorld> world = BuildProbeWorld(std::move(state).value());
  if (!world) {
    std::fprintf(stderr, "npctl policy: %s\n", world.error().message.c_str());
    return 1;
  }
  for (const std::string& warning : world->compilation.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  for (const std::string& skipped : world->skipped) std::fprintf(stderr, "not probed: %s\n", skipped.c_str());
  if (probe) {
    std::string text;
    for (const std::string& line : ProbeLines(*world, *ports)) text += line + "\n";
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  Result<std::string> explained = TraceFlow(*world, positional[1], positional[2], ports->front());
  if (!explained) {
    std::fprintf(stderr, "npctl policy trace: %s\n", explained.error().message.c_str());
    return 1;
  }
  std::fputs(explained->c_str(), stdout);
  return 0;
}

}  // namespace np::cli
