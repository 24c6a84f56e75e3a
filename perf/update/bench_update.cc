// Update-latency benchmark (issue 3, "Benchmark"): nodeplane against
// kube-proxy's iptables and nftables modes, for N Services of 10 endpoints.
//
//   np-bench-update [--sizes 1000,10000,30000] [--reps R] [--netns-prefix P]
//                   [--node-config FILE] [--no-kernel] [--no-parse] [--keep-files DIR]
//
// stdout: exactly one line per size,
//   bench=update services=N full_resync_ms=X single_endpoint_ms=Y iptables_restore_ms=Z nft_ms=W
// stderr: the breakdown, kube-proxy's single-endpoint figures, the ratios,
// memory per Service (lines starting with '#').
//
// nodeplane's figure starts from the control plane's in-memory object model
// (k8s::ClusterState, objects already decoded, as a watch delivers them) and
// ends when the dataplane side has applied the generation:
//   compile (ServicesSync: ServicesModel::Update of the changed objects, on
//      up to kMaxCompileThreads threads when many changed, as
//      nodeplane-control does)
//   -> encode (EncodeServicesSection of the model's ports, or the delta)
//   -> publish (SectionPublisher::PublishIfChanged into a real TablesRegion in
//      /dev/shm: content compare, copy into the free slot, crc32, publication)
//   -> apply: what dataplane/runtime/loader.cc's Poll + ApplyServices do,
//      without DPDK: ClaimPublished, DecodeServicesSection with the crc check,
//      Release, ServiceTables construction, pointer swap, old snapshot
//      freed, ReportApplied. Left out: rte_rcu_qsbr_synchronize before the
//      free (no worker lcores here; with workers it waits one poll loop),
//      the stats slot directory and gratuitous ARPs (ClusterIP-only here).
// Parsing the manifest files (k8s::LoadManifestDirectory on the same
// objects written as YAML) is timed separately (--no-parse skips it).
// Like both daemons, this program allocates with jemalloc (meson's
// allocator_dep), so its figures are theirs.
//
// "full resync": every Service's endpoints changed (each slice's addresses
// rotated to a set no earlier run had, so no Maglev table can be taken from
// before), the whole state compiled, published and applied (steady state: a
// dataplane holding the previous generation). "single endpoint": one
// endpoint address of one Service replaced.
//
// kube-proxy: the same Services as kube-proxy writes them, applied inside
// scratch network namespaces this program creates and deletes:
//   iptables: `iptables-nft-restore --noflush` of the KUBE-SERVICES /
//     KUBE-SVC-* (statistic random probability) / KUBE-SEP-* (DNAT) nat
//     ruleset (proxier.go's layout); full = a resync over the same ruleset
//     already loaded; single endpoint = the partial restore kube-proxy >= 1.27
//     writes (MinimizeIPTablesRestore): the top-level chains in full (so
//     KUBE-SERVICES with one rule per Service), the changed KUBE-SVC chain,
//     the new KUBE-SEP chain, the stale one deleted.
//   nftables: `nft -f` of kube-proxy's nftables-mode table (service-ips
//     verdict map, per-service chains with `numgen random mod N vmap`,
//     per-endpoint DNAT chains); full = a resync (flush table, rewrite);
//     single endpoint = the transaction kube-proxy sends (new endpoint
//     chain, the service chain's rules rewritten, the old endpoint chain
//     flushed and deleted).
// Each kernel figure is one process run (fork, setns, exec), as kube-proxy
// runs them, timed from fork to exit.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/allocator_tuning.h"
#include "common/section_image.h"
#include "common/shm_region.h"
#include "control/compile/services_compiler.h"
#include "control/config/node_config.h"
#include "control/config/stable_id.h"
#include "control/daemon/section_publisher.h"
#include "control/k8s/cluster_state.h"
#include "control/k8s/ip.h"
#include "control/k8s/loader.h"
#include "control/k8s/manifest_cache.h"
#include "control/daemon/services_sync.h"
#include "dataplane/service/service_tables.h"
#include "dataplane/service/services_updater.h"

namespace np::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

std::string Ip(uint32_t address) { return k8s::Ipv4ToString(address); }

constexpr int kEndpoints = 10;
constexpr uint16_t kPort = 80, kTargetPort = 8080;

uint32_t ClusterIp(int i) { return (10u << 24) | (96u << 16) | static_cast<uint32_t>(1 + i); }  // 10.96.0.1 ...
// Endpoint j of Service i in "variant" v: distinct addresses in 10.128.0.0/9
// (outside the node's pod CIDR: every endpoint is remote, as on a big cluster).
uint32_t EndpointIp(int i, int j, int v) {
  const uint32_t index = static_cast<uint32_t>(i) * 16u + static_cast<uint32_t>((j + v) % 16);
  return (10u << 24) | (128u << 16) | index;  // 10.128.0.0 + index (< 2^23 for N <= 500k)
}

// --- the object model --------------------------------------------------------

std::string ServiceName(int i) { return "svc-" + std::to_string(i); }

k8s::ClusterState MakeCluster(int services) {
  k8s::ClusterState state;
  for (int i = 0; i < services; ++i) {
    k8s::Service service;
    service.meta.name = ServiceName(i);
    service.meta.namespace_ = "bench";
    service.cluster_ips = {k8s::IpAddress{false, ClusterIp(i), {}}};
    k8s::ServicePort port;
    port.name = "http";
    port.port = kPort;
    port.target_port.number = kTargetPort;
    service.ports = {port};
    service.selector = {{"app", ServiceName(i)}};
    state.services.emplace(k8s::NamespacedName{"bench", ServiceName(i)}, std::move(service));

    k8s::EndpointSlice slice;
    slice.meta.name = ServiceName(i) + "-abcde";
    slice.meta.namespace_ = "bench";
    slice.meta.labels = {{k8s::kServiceNameLabel, ServiceName(i)}};
    for (int j = 0; j < kEndpoints; ++j) {
      k8s::Endpoint endpoint;
      endpoint.addresses = {Ip(EndpointIp(i, j, 0))};
      endpoint.ip_addresses = {k8s::IpAddress{false, EndpointIp(i, j, 0), {}}};
      endpoint.ready = true;
      endpoint.node_name = "node-" + std::to_string(j);
      slice.endpoints.push_back(std::move(endpoint));
    }
    slice.ports = {k8s::EndpointPort{"http", kTargetPort, k8s::Protocol::kTCP}};
    state.endpoint_slices.emplace(k8s::NamespacedName{"bench", slice.meta.name}, std::move(slice));
  }
  return state;
}

// Endpoints of Service i as variant v (the watch delivering a changed slice).
void SetEndpoints(k8s::ClusterState& state, int i, int v) {
  k8s::EndpointSlice& slice = state.endpoint_slices.at(k8s::NamespacedName{"bench", ServiceName(i) + "-abcde"});
  for (int j = 0; j < kEndpoints; ++j) {
    slice.endpoints[static_cast<size_t>(j)].addresses = {Ip(EndpointIp(i, j, v))};
    slice.endpoints[static_cast<size_t>(j)].ip_addresses = {k8s::IpAddress{false, EndpointIp(i, j, v), {}}};
  }
}

// One endpoint of Service i replaced (pod rescheduled): v alternates.
void SetOneEndpoint(k8s::ClusterState& state, int i, int v) {
  k8s::EndpointSlice& slice = state.endpoint_slices.at(k8s::NamespacedName{"bench", ServiceName(i) + "-abcde"});
  const uint32_t ip = v % 2 ? (10u << 24) | (127u << 16) | static_cast<uint32_t>(i) : EndpointIp(i, 0, 0);
  slice.endpoints[0].addresses = {Ip(ip)};
  slice.endpoints[0].ip_addresses = {k8s::IpAddress{false, ip, {}}};
}

void WriteManifests(const fs::path& dir, int services) {
  fs::create_directories(dir);
  constexpr int kPerFile = 100;  // e.g. one file per app; the cached reload re-parses one file
  for (int first = 0; first < services; first += kPerFile) {
    std::ofstream out(dir / ("services-" + std::to_string(first / kPerFile) + ".yaml"));
    for (int i = first; i < std::min(services, first + kPerFile); ++i) {
      out << "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " << ServiceName(i)
          << "\n  namespace: bench\nspec:\n  type: ClusterIP\n  clusterIP: " << Ip(ClusterIp(i))
          << "\n  clusterIPs: [" << Ip(ClusterIp(i)) << "]\n  ports:\n  - name: http\n    port: " << kPort
          << "\n    protocol: TCP\n    targetPort: " << kTargetPort << "\n  selector:\n    app: " << ServiceName(i)
          << "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " << ServiceName(i)
          << "-abcde\n  namespace: bench\n  labels:\n    kubernetes.io/service-name: " << ServiceName(i)
          << "\naddressType: IPv4\nendpoints:\n";
      for (int j = 0; j < kEndpoints; ++j)
        out << "- addresses: [" << Ip(EndpointIp(i, j, 0)) << "]\n  conditions: {ready: true}\n  nodeName: node-" << j
            << "\n";
      out << "ports:\n- name: http\n  port: " << kTargetPort << "\n  protocol: TCP\n";
    }
  }
}

// --- nodeplane: control plane + the loader's apply, in-process ---------------

struct Stages {
  double compile_ms = 0, encode_ms = 0, publish_ms = 0, apply_ms = 0;
  double total() const { return compile_ms + encode_ms + publish_ms + apply_ms; }
};

// The dataplane side of loader.cc, minus DPDK (see the file comment): the
// same ServicesUpdater the loader runs.
class ApplySide {
 public:
  explicit ApplySide(const TablesRegion& region) : updater_(region) {}
  ~ApplySide() { delete current_.exchange(nullptr); }

  bool Poll() {
    std::string refusal;
    auto update = updater_.Poll(current_.load(), CounterSlotHooks{}, &refusal);
    if (!update) {
      if (!refusal.empty()) std::fprintf(stderr, "# %s\n", refusal.c_str());
      return false;
    }
    const ServiceTables* previous = current_.exchange(update->tables.release(), std::memory_order_acq_rel);
    updater_.ReportApplied(*update);
    // What the control plane sees: the generation is reported before the
    // previous tables are reclaimed (loader.cc: after rte_rcu_qsbr_synchronize).
    reported_at_ = Clock::now();
    delete previous;
    return true;
  }
  const ServiceTables* current() const { return current_.load(); }
  Clock::time_point reported_at() const { return reported_at_; }

 private:
  ServicesUpdater updater_;
  std::atomic<const ServiceTables*> current_{nullptr};
  Clock::time_point reported_at_;
};

class Nodeplane {
 public:
  Nodeplane(const std::string& instance, const NodeImage& node, uint64_t slot_bytes)
      : instance_(instance), node_(node) {
    RegionLayout layout = DefaultRegionLayout();
    layout.slot_capacity[static_cast<uint32_t>(abi::SectionKind::kServices)] = slot_bytes;
    auto region = TablesRegion::OpenOrCreate(instance_, layout);
    if (!region) throw std::runtime_error(region.error().message);
    region_.emplace(std::move(region).value());
    publisher_.emplace(*region_);
    sync_.emplace(*publisher_, std::map<std::string, uint32_t>{});
    apply_.emplace(*region_);
  }
  ~Nodeplane() {
    apply_.reset();
    sync_.reset();
    publisher_.reset();
    region_.reset();
    SharedMemoryFile::Remove(ShmName(instance_, "tables"));
  }

  // One update from the object model to applied: `changes` are the objects
  // a watch reported (null: compile everything). False if nothing changed.
  bool Update(const k8s::ClusterState& state, const compile::ServicesChanges* changes, Stages& stages,
              size_t* image_bytes = nullptr, abi::SectionKind* kind = nullptr) {
    auto outcome = sync_->Sync(state, node_, changes, nullptr);
    if (!outcome) throw std::runtime_error(outcome.error().message);
    stages.compile_ms = outcome->compile_ms;
    stages.encode_ms = outcome->encode_ms;
    stages.publish_ms = outcome->publish_ms;
    if (kind) *kind = outcome->kind;
    if (image_bytes) {
      std::optional<std::vector<uint8_t>> published = daemon::ReadPublishedImage(*region_, outcome->kind);
      *image_bytes = published ? published->size() : 0;
    }
    if (!outcome->published) return false;
    const auto start = Clock::now();
    while (region_->AppliedGeneration(outcome->kind) < outcome->generation)
      if (!apply_->Poll() && region_->AppliedGeneration(outcome->kind) < outcome->generation)
        throw std::runtime_error(std::string("the apply side did not apply ") + abi::SectionKindName(outcome->kind) +
                                 " generation " + std::to_string(outcome->generation));
    stages.apply_ms = std::chrono::duration<double, std::milli>(apply_->reported_at() - start).count();
    return true;
  }
  const ServiceTables* tables() const { return apply_->current(); }
  const TablesRegion& region() const { return *region_; }

 private:
  std::string instance_;
  NodeImage node_;
  std::optional<TablesRegion> region_;
  std::optional<daemon::SectionPublisher> publisher_;
  std::optional<daemon::ServicesSync> sync_;
  std::optional<ApplySide> apply_;
};


// --- kube-proxy's rulesets -----------------------------------------------------

// kube-proxy: base32(sha256(...))[:16]; any 16 base32 characters do here.
std::string Hash16(const std::string& text) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  uint64_t a = Fnv1a32(text), b = Fnv1a32(text + "#"), c = Fnv1a32("#" + text);
  uint64_t bits = (a << 32) | b;
  std::string out;
  for (int i = 0; i < 12; ++i, bits >>= 5) out += kAlphabet[bits & 31];
  for (int i = 0; i < 4; ++i, c >>= 5) out += kAlphabet[c & 31];
  return out;
}

std::string SvcPortName(int i) { return "bench/" + ServiceName(i) + ":http"; }
std::string SvcChain(int i) { return "KUBE-SVC-" + Hash16(SvcPortName(i) + "tcp"); }
std::string SepChain(int i, uint32_t ip) {
  return "KUBE-SEP-" + Hash16(SvcPortName(i) + "tcp" + Ip(ip) + ":" + std::to_string(kTargetPort));
}

// Endpoint addresses of Service i: variant v, optionally endpoint 0 replaced.
std::vector<uint32_t> Endpoints(int i, int v, std::optional<uint32_t> first = std::nullopt) {
  std::vector<uint32_t> out;
  for (int j = 0; j < kEndpoints; ++j) out.push_back(EndpointIp(i, j, v));
  if (first) out[0] = *first;
  std::sort(out.begin(), out.end());
  return out;
}

void IptablesServiceRules(std::ostream& out, int i, const std::vector<uint32_t>& endpoints) {
  const std::string name = SvcPortName(i), svc = SvcChain(i), ip = Ip(ClusterIp(i));
  out << "-A KUBE-SVC-" << svc.substr(9) << " -m comment --comment \"" << name << " cluster IP\" -m tcp -p tcp -d "
      << ip << "/32 --dport " << kPort << " ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ\n";
  for (size_t j = 0; j < endpoints.size(); ++j) {
    const std::string ep = Ip(endpoints[j]) + ":" + std::to_string(kTargetPort);
    out << "-A " << svc << " -m comment --comment \"" << name << " -> " << ep << "\"";
    if (j + 1 < endpoints.size()) {
      char probability[32];
      std::snprintf(probability, sizeof(probability), "%.10f", 1.0 / static_cast<double>(endpoints.size() - j));
      out << " -m statistic --mode random --probability " << probability;
    }
    out << " -j " << SepChain(i, endpoints[j]) << "\n";
  }
}

void IptablesSepRules(std::ostream& out, int i, uint32_t endpoint) {
  const std::string sep = SepChain(i, endpoint), name = SvcPortName(i), ip = Ip(endpoint);
  out << "-A " << sep << " -m comment --comment " << name << " -s " << ip << "/32 -j KUBE-MARK-MASQ\n";
  out << "-A " << sep << " -m comment --comment " << name << " -m tcp -p tcp -j DNAT --to-destination " << ip << ":"
      << kTargetPort << "\n";
}

void IptablesHeader(std::ostream& out) {
  out << "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]\n"
         ":KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n"
         "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
         "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
         "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
         "RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n"
         "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n";
}

void IptablesNatCommon(std::ostream& out) {
  out << "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
         "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
         "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE "
         "--random-fully\n"
         "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
}

void IptablesServicesJump(std::ostream& out, int i) {
  out << "-A KUBE-SERVICES -m comment --comment \"" << SvcPortName(i) << " cluster IP\" -m tcp -p tcp -d "
      << Ip(ClusterIp(i)) << "/32 --dport " << kPort << " -j " << SvcChain(i) << "\n";
}

const char* kNodePortsLast =
    "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this "
    "chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n";

std::string IptablesFull(int services, int v) {
  std::ostringstream out;
  IptablesHeader(out);
  for (int i = 0; i < services; ++i) {
    out << ":" << SvcChain(i) << " - [0:0]\n";
    for (uint32_t ep : Endpoints(i, v)) out << ":" << SepChain(i, ep) << " - [0:0]\n";
  }
  IptablesNatCommon(out);
  for (int i = 0; i < services; ++i) IptablesServicesJump(out, i);
  for (int i = 0; i < services; ++i) {
    const std::vector<uint32_t> eps = Endpoints(i, v);
    IptablesServiceRules(out, i, eps);
    for (uint32_t ep : eps) IptablesSepRules(out, i, ep);
  }
  out << kNodePortsLast << "COMMIT\n";
  return out.str();
}

// MinimizeIPTablesRestore: top-level chains in full, only the changed
// service's chains, the stale endpoint chain deleted.
std::string IptablesPartial(int services, int changed, uint32_t old_ep, uint32_t new_ep, int v) {
  std::ostringstream out;
  IptablesHeader(out);
  out << ":" << SvcChain(changed) << " - [0:0]\n:" << SepChain(changed, new_ep) << " - [0:0]\n:"
      << SepChain(changed, old_ep) << " - [0:0]\n";
  IptablesNatCommon(out);
  for (int i = 0; i < services; ++i) IptablesServicesJump(out, i);
  const std::vector<uint32_t> eps = Endpoints(changed, v, new_ep);
  IptablesServiceRules(out, changed, eps);
  IptablesSepRules(out, changed, new_ep);
  out << kNodePortsLast;
  out << "-X " << SepChain(changed, old_ep) << "\nCOMMIT\n";
  return out.str();
}

std::string NftSvcChain(int i) { return "service-" + Hash16(SvcPortName(i) + "tcp").substr(0, 8) + "-bench/" + ServiceName(i) + "/tcp/http"; }
std::string NftEpChain(int i, uint32_t ep) {
  return "endpoint-" + Hash16(SvcPortName(i) + Ip(ep)).substr(0, 8) + "-bench/" + ServiceName(i) + "/tcp/http__" +
         Ip(ep) + "/" + std::to_string(kTargetPort);
}

void NftServiceRules(std::ostream& out, int i, const std::vector<uint32_t>& eps, const std::string& prefix) {
  const std::string chain = NftSvcChain(i);
  out << prefix << "add rule ip kube-proxy " << chain << " ip daddr " << Ip(ClusterIp(i)) << " tcp dport " << kPort
      << " ip saddr != 10.244.0.0/16 jump mark-for-masquerade\n";
  out << prefix << "add rule ip kube-proxy " << chain << " numgen random mod " << eps.size() << " vmap { ";
  for (size_t j = 0; j < eps.size(); ++j) out << (j ? ", " : "") << j << " : goto " << NftEpChain(i, eps[j]);
  out << " }\n";
}

void NftEndpoint(std::ostream& out, int i, uint32_t ep) {
  const std::string chain = NftEpChain(i, ep);
  out << "add chain ip kube-proxy " << chain << "\n";
  out << "add rule ip kube-proxy " << chain << " ip saddr " << Ip(ep) << " jump mark-for-masquerade\n";
  out << "add rule ip kube-proxy " << chain << " meta l4proto tcp dnat to " << Ip(ep) << ":" << kTargetPort << "\n";
}

std::string NftFull(int services, int v, bool resync) {
  std::ostringstream out;
  out << "add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n";
  if (resync) out << "flush table ip kube-proxy\n";
  out << "add chain ip kube-proxy mark-for-masquerade\n"
         "add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000\n"
         "add chain ip kube-proxy masquerading\n"
         "add rule ip kube-proxy masquerading mark and 0x4000 == 0 return\n"
         "add rule ip kube-proxy masquerading mark set mark xor 0x4000\n"
         "add rule ip kube-proxy masquerading masquerade fully-random\n"
         "add chain ip kube-proxy services\n"
         "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority dstnat ; }\n"
         "add rule ip kube-proxy nat-prerouting jump services\n"
         "add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }\n"
         "add rule ip kube-proxy nat-output jump services\n"
         "add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority srcnat ; }\n"
         "add rule ip kube-proxy nat-postrouting jump masquerading\n"
         "add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "
         "\"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }\n"
         "add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips\n";
  for (int i = 0; i < services; ++i) {
    const std::vector<uint32_t> eps = Endpoints(i, v);
    for (uint32_t ep : eps) NftEndpoint(out, i, ep);
    out << "add chain ip kube-proxy " << NftSvcChain(i) << "\n";
    NftServiceRules(out, i, eps, "");
    out << "add element ip kube-proxy service-ips { " << Ip(ClusterIp(i)) << " . tcp . " << kPort << " : goto "
        << NftSvcChain(i) << " }\n";
  }
  return out.str();
}

std::string NftSingle(int changed, uint32_t old_ep, uint32_t new_ep, int v) {
  std::ostringstream out;
  NftEndpoint(out, changed, new_ep);
  out << "flush chain ip kube-proxy " << NftSvcChain(changed) << "\n";
  NftServiceRules(out, changed, Endpoints(changed, v, new_ep), "");
  out << "flush chain ip kube-proxy " << NftEpChain(changed, old_ep) << "\n";
  out << "delete chain ip kube-proxy " << NftEpChain(changed, old_ep) << "\n";
  return out.str();
}

// --- running inside a scratch network namespace --------------------------------

class ScratchNetns {
 public:
  explicit ScratchNetns(std::string name) : name_(std::move(name)) {
    if (std::system(("ip netns add " + name_).c_str()) != 0) throw std::runtime_error("ip netns add " + name_);
  }
  ~ScratchNetns() { std::system(("ip netns del " + name_ + " 2>/dev/null").c_str()); }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  std::string name_;
};

// fork, setns into the namespace, exec argv with stdin from `input`; the
// elapsed time from fork to exit, or a negative value on failure.
double RunIn(const ScratchNetns& netns, const std::vector<std::string>& argv, const fs::path& input) {
  const auto start = Clock::now();
  const pid_t child = fork();
  if (child == 0) {
    const int ns = open(netns.path().c_str(), O_RDONLY | O_CLOEXEC);
    const int in = open(input.c_str(), O_RDONLY);
    if (ns < 0 || in < 0 || setns(ns, CLONE_NEWNET) != 0 || dup2(in, 0) < 0) _exit(126);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  const double ms = MsSince(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "# %s failed (status %d) on %s\n", argv[0].c_str(), status, input.c_str());
    return -1;
  }
  return ms;
}

void WriteText(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

struct KernelFigures {
  double ipt_initial = -1, ipt_resync = -1, ipt_partial = -1;
  double nft_initial = -1, nft_resync = -1, nft_single = -1;
  size_t ipt_bytes = 0, nft_bytes = 0, ipt_partial_bytes = 0, nft_single_bytes = 0;
};

KernelFigures RunKernel(int services, const std::string& prefix, const fs::path& dir) {
  KernelFigures k;
  const int changed = services / 2;
  const uint32_t old_ep = Endpoints(changed, 0)[0];
  const uint32_t new_ep = (10u << 24) | (127u << 16) | static_cast<uint32_t>(changed);
  {
    const std::string full = IptablesFull(services, 0), partial = IptablesPartial(services, changed, old_ep, new_ep, 0);
    WriteText(dir / "iptables-full.txt", full);
    WriteText(dir / "iptables-partial.txt", partial);
    k.ipt_bytes = full.size();
    k.ipt_partial_bytes = partial.size();
    ScratchNetns netns(prefix + "-ipt-" + std::to_string(services));
    const std::vector<std::string> restore = {"iptables-nft-restore", "--noflush"};
    k.ipt_initial = RunIn(netns, restore, dir / "iptables-full.txt");
    k.ipt_resync = RunIn(netns, restore, dir / "iptables-full.txt");
    k.ipt_partial = RunIn(netns, restore, dir / "iptables-partial.txt");
  }
  {
    const std::string initial = NftFull(services, 0, false), resync = NftFull(services, 0, true);
    const std::string single = NftSingle(changed, old_ep, new_ep, 0);
    WriteText(dir / "nft-initial.nft", initial);
    WriteText(dir / "nft-resync.nft", resync);
    WriteText(dir / "nft-single.nft", single);
    k.nft_bytes = resync.size();
    k.nft_single_bytes = single.size();
    ScratchNetns netns(prefix + "-nft-" + std::to_string(services));
    k.nft_initial = RunIn(netns, {"nft", "-f", "-"}, dir / "nft-initial.nft");
    k.nft_resync = RunIn(netns, {"nft", "-f", "-"}, dir / "nft-resync.nft");
    k.nft_single = RunIn(netns, {"nft", "-f", "-"}, dir / "nft-single.nft");
  }
  return k;
}

// --- main ------------------------------------------------------------------------

struct Options {
  std::vector<int> sizes = {1000, 10000, 30000};
  int reps = 0;  // 0: by size
  std::string netns_prefix = "npupd-" + std::to_string(getpid());
  std::string node_config;
  bool kernel = true;
  bool parse = true;  // --no-parse: skip timing the manifest parse (profiling the update path)
  std::string keep_files;
};

std::string Fmt(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), value < 0 ? "NaN" : "%.3f", value);
  return value < 0 ? "NaN" : text;
}

std::string Ratio(double theirs, double ours) {
  if (theirs < 0 || ours <= 0) return "n/a";
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fx", theirs / ours);
  return text;
}

int Run(const Options& options) {
  fs::path scratch = fs::temp_directory_path() / ("np-bench-update-" + std::to_string(getpid()));
  fs::create_directories(scratch);
  struct Cleanup {
    fs::path path;
    bool keep;
    ~Cleanup() {
      std::error_code ignored;
      if (!keep) fs::remove_all(path, ignored);
    }
  } cleanup{scratch, !options.keep_files.empty()};

  fs::path node_yaml = options.node_config;
  if (node_yaml.empty()) {
    node_yaml = scratch / "node.yaml";
    WriteText(node_yaml,
              "apiVersion: nodeplane.io/v1alpha1\nkind: NodeConfig\nnode:\n  name: node-a\n"
              "  addresses: [192.168.100.10]\n  podCIDR: 10.244.1.0/24\n  clusterCIDR: 10.0.0.0/8\n"
              "  serviceCIDR: 10.96.0.0/12\ndataplane:\n  maglevSeed: 1\nports:\n  - name: uplink\n"
              "    role: uplink\n    devargs: net_null0\n");
  }
  auto node = config::LoadNodeConfig(node_yaml, [](const std::string&) { return true; });
  if (!node) {
    std::fprintf(stderr, "node config: %s\n", node.error().message.c_str());
    return 2;
  }

  for (int services : options.sizes) {
    const int reps = options.reps > 0 ? options.reps : services <= 1000 ? 7 : services <= 10000 ? 5 : 3;
    const fs::path dir = scratch / std::to_string(services);
    fs::create_directories(dir);

    // Parsing the manifest files: separate from the update figures.
    double parse_ms = -1, reparse_one_ms = -1;
    size_t parsed_objects = 0, reparsed_files = 0;
    if (options.parse) {
    WriteManifests(dir / "manifests", services);
    auto start = Clock::now();
    auto loaded = k8s::LoadManifestDirectory(dir / "manifests");
    parse_ms = MsSince(start);
    if (!loaded || !loaded->failures.empty()) {
      std::fprintf(stderr, "manifests did not load\n");
      return 2;
    }
    parsed_objects = loaded->state.ObjectCount();
    loaded->state = k8s::ClusterState{};
    // What nodeplane-control pays per reload: it keeps every file's load
    // result and re-parses only files whose bytes changed (one, here).
    {
      k8s::ManifestDirectoryCache cache;
      if (!cache.Load(dir / "manifests")) throw std::runtime_error("manifests did not load through the cache");
      fs::path changed;
      for (const auto& file : fs::directory_iterator(dir / "manifests")) changed = file.path();
      std::ofstream(changed, std::ios::app) << "\n# touched by the benchmark\n";
      start = Clock::now();
      auto reloaded = cache.Load(dir / "manifests");
      reparse_one_ms = MsSince(start);
      reparsed_files = cache.files_parsed();
      if (!reloaded || reloaded->state.ObjectCount() != parsed_objects)
        throw std::runtime_error("the cached reload lost objects");
    }
    }

    const size_t heap_before_objects = HeapBytesInUse();
    k8s::ClusterState state = MakeCluster(services);
    const size_t object_bytes = HeapBytesInUse() - heap_before_objects;

    // Slots sized for the image (DefaultRegionLayout's 256 MiB holds ~60k
    // such Services: reported below).
    const uint64_t slot_bytes = static_cast<uint64_t>(services) * 8192 + (16u << 20);
    Nodeplane np("npupd" + std::to_string(getpid()) + "-" + std::to_string(services), *node, slot_bytes);

    Stages cold;
    size_t image_bytes = 0;
    np.Update(state, nullptr, cold, &image_bytes);
    // The dataplane's applied snapshot (ServiceTables with its decoded
    // image and lookup maps): one more built from the published image.
    size_t dataplane_bytes = 0;
    {
      std::optional<ServicesImage> published = daemon::ReadPublishedServicesState(np.region());
      if (!published) throw std::runtime_error("cannot read the published image back");
      const size_t before = HeapBytesInUse();
      auto snapshot = ServiceTables::FromImage(*published, CounterSlotHooks{});
      dataplane_bytes = HeapBytesInUse() - before;
    }

    std::vector<Stages> full, single;
    // What a watch reports: every slice changed, or the one slice.
    compile::ServicesChanges every_slice, one_slice;
    for (const auto& [id, slice] : state.endpoint_slices) every_slice.endpoint_slices.insert(id);
    one_slice.endpoint_slices.insert(k8s::NamespacedName{"bench", ServiceName(services / 2) + "-abcde"});
    abi::SectionKind full_kind = abi::SectionKind::kServices, single_kind = abi::SectionKind::kServices;
    size_t single_bytes = 0;
    for (int rep = 0; rep < reps; ++rep) {
      // A backend set no earlier rep had, so no Maglev table can come from a cache.
      for (int i = 0; i < services; ++i) SetEndpoints(state, i, 1 + rep % 15);
      Stages stages;
      if (!np.Update(state, &every_slice, stages, nullptr, &full_kind))
        throw std::runtime_error("full resync published nothing");
      full.push_back(stages);
    }
    // Cheap: more runs, so that the first one or two after a full resync
    // (the allocator sorting the chunks the resync freed) do not set the median.
    const int single_reps = std::max(2 * reps, 9);
    for (int rep = 0; rep < single_reps; ++rep) {
      SetOneEndpoint(state, services / 2, rep + 1);
      Stages stages;
      if (!np.Update(state, &one_slice, stages, &single_bytes, &single_kind))
        throw std::runtime_error("single endpoint change published nothing");
      single.push_back(stages);
    }
    // The state the dataplane holds is the one a full compile gives.
    {
      const ServicesImage applied = np.tables()->ToImage();
      const compile::ServicesCompilation reference = compile::CompileServices(state, *node, {compile::ServicePortIds(applied)});
      ServicesImage a = SortedById(reference.image), b = SortedById(applied);
      a.generation = b.generation = 0;
      if (EncodeServicesSection(a) != EncodeServicesSection(b))
        throw std::runtime_error("the applied services differ from a full compile of the same state");
    }
    auto median = [](const std::vector<Stages>& runs, double (*pick)(const Stages&)) {
      std::vector<double> values;
      for (const Stages& s : runs) values.push_back(pick(s));
      return Median(values);
    };
    auto total = [](const Stages& s) { return s.total(); };
    auto compile = [](const Stages& s) { return s.compile_ms; };
    auto encode = [](const Stages& s) { return s.encode_ms; };
    auto publish = [](const Stages& s) { return s.publish_ms; };
    auto apply = [](const Stages& s) { return s.apply_ms; };
    const double full_ms = median(full, total), single_ms = median(single, total);

    KernelFigures k;
    if (options.kernel) k = RunKernel(services, options.netns_prefix, dir);

    std::printf("bench=update services=%d full_resync_ms=%s single_endpoint_ms=%s iptables_restore_ms=%s nft_ms=%s\n",
                services, Fmt(full_ms).c_str(), Fmt(single_ms).c_str(), Fmt(k.ipt_resync).c_str(),
                Fmt(k.nft_resync).c_str());
    std::fflush(stdout);
    std::fprintf(stderr,
                 "# services=%d nodeplane full resync (median of %d): compile %.1f + encode %.1f + publish %.1f + apply "
                 "%.1f = %.1f ms (published as %s); cold first publish %.1f ms\n",
                 services, reps, median(full, compile), median(full, encode), median(full, publish), median(full, apply),
                 full_ms, abi::SectionKindName(full_kind), cold.total());
    std::fprintf(stderr,
                 "# services=%d nodeplane single endpoint (median of %zu): compile %.3f + encode %.3f + publish %.3f + "
                 "apply %.3f = %.3f ms (published as %s, %zu bytes)\n",
                 services, single.size(), median(single, compile), median(single, encode), median(single, publish),
                 median(single, apply), single_ms, abi::SectionKindName(single_kind), single_bytes);
    auto each = [](const std::vector<Stages>& runs) {
      std::string out;
      for (const Stages& s : runs)
        out += (out.empty() ? "" : " ") + Fmt(s.total()) + " (" + Fmt(s.compile_ms) + "/" + Fmt(s.encode_ms) + "/" +
               Fmt(s.publish_ms) + "/" + Fmt(s.apply_ms) + ")";
      return out;
    };
    std::fprintf(stderr, "# services=%d full resync, each run (ms: total (compile/encode/publish/apply)): %s\n", services,
                 each(full).c_str());
    std::fprintf(stderr, "# services=%d single endpoint, each run (ms: total (compile/encode/publish/apply)): %s\n", services,
                 each(single).c_str());
    if (options.parse)
      std::fprintf(stderr, "# services=%d parse %zu manifest objects (LoadManifestDirectory): %.1f ms; "
                 "nodeplane-control's reload after one file changed (ManifestDirectoryCache, %zu file of 100 Services re-parsed): %.1f ms\n",
                 services, parsed_objects, parse_ms, reparsed_files, reparse_one_ms);
    std::fprintf(stderr,
                 "# services=%d memory per Service: services image %.0f B (x2 slots in shm, + the publisher's copy), "
                 "dataplane snapshot %.0f B (heap), control-plane objects %.0f B (heap)%s\n",
                 services, double(image_bytes) / services, double(dataplane_bytes) / services,
                 double(object_bytes) / services,
                 image_bytes > (256u << 20) ? "; the image exceeds DefaultRegionLayout's 256 MiB services slot" : "");
    if (options.kernel) {
      std::fprintf(stderr,
                   "# services=%d kube-proxy iptables-nft-restore: initial %s ms, resync %s ms (%zu B), partial restore "
                   "(MinimizeIPTablesRestore) %s ms (%zu B)\n",
                   services, Fmt(k.ipt_initial).c_str(), Fmt(k.ipt_resync).c_str(), k.ipt_bytes,
                   Fmt(k.ipt_partial).c_str(), k.ipt_partial_bytes);
      std::fprintf(stderr,
                   "# services=%d kube-proxy nft -f: initial %s ms, resync %s ms (%zu B), single-endpoint transaction %s "
                   "ms (%zu B)\n",
                   services, Fmt(k.nft_initial).c_str(), Fmt(k.nft_resync).c_str(), k.nft_bytes,
                   Fmt(k.nft_single).c_str(), k.nft_single_bytes);
      std::fprintf(stderr,
                   "# services=%d ratios (kube-proxy / nodeplane): full resync iptables %s, nft %s; single endpoint "
                   "iptables %s, nft %s\n",
                   services, Ratio(k.ipt_resync, full_ms).c_str(), Ratio(k.nft_resync, full_ms).c_str(),
                   Ratio(k.ipt_partial, single_ms).c_str(), Ratio(k.nft_single, single_ms).c_str());
    }
    std::fflush(stderr);
    if (!options.keep_files.empty()) {
      std::error_code ignored;
      fs::create_directories(options.keep_files, ignored);
      fs::copy(dir, fs::path(options.keep_files) / std::to_string(services),
               fs::copy_options::recursive | fs::copy_options::overwrite_existing, ignored);
    }
    fs::remove_all(dir);
  }
  return 0;
}

}  // namespace
}  // namespace np::bench

int main(int argc, char** argv) {
  np::KeepTableMemoryMapped();  // as nodeplane-control and nodeplane-dataplane run
  np::bench::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--sizes") {
      options.sizes.clear();
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) options.sizes.push_back(std::stoi(item));
    } else if (arg == "--reps") {
      options.reps = std::stoi(value());
    } else if (arg == "--netns-prefix") {
      options.netns_prefix = value();
    } else if (arg == "--node-config") {
      options.node_config = value();
    } else if (arg == "--no-kernel") {
      options.kernel = false;
    } else if (arg == "--no-parse") {
      options.parse = false;
    } else if (arg == "--keep-files") {
      options.keep_files = value();
    } else {
      std::fprintf(stderr,
                   "usage: %s [--sizes N,N,...] [--reps R] [--netns-prefix P] [--node-config FILE] [--no-kernel] "
                   "[--no-parse] [--keep-files DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    return np::bench::Run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "np-bench-update: %s\n", error.what());
    return 1;
  }
}
