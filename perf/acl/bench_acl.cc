// NetworkPolicy classification cost per packet, rte_acl build time and
// memory, versus the number of policies (Google Benchmark).
//
//   np-bench-acl [--sizes 100,1000,10000,50000,100000] [--eal-mb 8192] [--acl-log]
//                [--partitions K] [--min-apps A] [--relabel [--relabel-steps S] [--consolidate]]
//                [benchmark flags]
//
// For each size P the generator below (GenerateCluster, documented in
// perf/acl/README.md) writes a cluster of namespaces, pods and P
// NetworkPolicies - a mix of podSelector, namespaceSelector AND podSelector,
// ipBlock-with-except and egress port-range rules over common, distinct,
// named and ranged ports - straight into a k8s::ClusterState (no YAML: the
// YAML loader is not what is measured). It is compiled by the real compiler
// (control/policy CompilePolicies, every pod enforced: the worst case, a
// node that enforces every policy), built into PolicyTables (the rte_acl
// contexts the dataplane builds: build_ms and mem_kb are AclContexts'
// build_ms() and memory_bytes(), i.e. rte_acl's own heap allocations for
// both directions), and BM_Classify/P times PolicyTables::Check on bursts of
// 64 new flows drawn from a pool of 8192 (allowed, denied and world flows):
// the call the worker makes once per burst of new connections, IP ->
// identity lookups included.
//
// After the benchmarks each size prints exactly one line:
//   bench=acl policies=P rules=N ns_per_pkt=X build_ms=Y mem_kb=Z
// N = compiled classifier rules (both directions, after identity sets and
// CIDRs are coalesced into ranges), X = BM_Classify/P's CPU time per burst / 64 (CPU,
// not wall, time: the machines this runs on are shared).
//
// --partitions K builds the classifier with K namespace partitions
// (acl_classifier.h; default kAclPartitions). --relabel also measures the
// rebuild after a label change that creates one identity: one app pod of
// the middle namespace gets an extra label (a new identity replacing its
// old one), the cluster is recompiled keeping the previous ids, and
// PolicyTables::Build runs twice on that image, with the current tables as
// `previous` (partial: only the changed contexts are built) and without
// (full, what every rule change cost before partitions); both wall times
// include the address map. One more line per size:
//   bench=acl-relabel policies=P partitions=K full_ms=F partial_ms=Q built=B reused=R mismatches=M
//                     ns_per_pkt_full=X ns_per_pkt_partial=Y
// M = flows of the pool whose verdict or rule index differs between the two
// (must be 0); X and Y = CPU time of Check per flow over the pool with each
// (best of 5 interleaved rounds): the cost of the overlays the change made.
// --relabel-steps S repeats the change S times, each in the next namespace,
// on the tables the previous step left (overlays accumulate until the base
// is rebuilt); one line per step, with step=I and overlays=O (overlay contexts).
// --consolidate also runs the loader's background consolidation
// (policy::AclConsolidator, quiet period 0) on the tables each change left
// and adds to the line
//   consolidate_ms=C start_us=U collect_ms=K consolidated_mismatches=N ns_per_pkt_consolidated=Z
// C = the build's wall time on its thread, U and K = what the calling
// thread spent starting it and taking its result (the tables copied with
// the new classifier, join included), N = flows whose verdict or rule index
// differ from the overlaid tables (must be 0), Z = Check's CPU time per
// flow with the consolidated classifier (in the same interleaved rounds as
// X and Y). The next step still builds on the overlaid tables.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_log.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "control/k8s/cluster_state.h"
#include "control/k8s/ip.h"
#include "control/policy/policy_compiler.h"
#include "dataplane/policy/acl_consolidator.h"
#include "dataplane/policy/policy_tables.h"

namespace {

using namespace np;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBurst = 64;
constexpr uint32_t kFlowPool = 8192;
constexpr uint32_t kClientRoles = 5;
constexpr uint32_t kTeams = 10;
const uint16_t kCommonPorts[] = {80, 443, 8080, 8443, 5432, 6379, 3306, 9090, 9200, 27017, 5672, 11211, 2379, 53, 8000, 3000};

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }
uint32_t Mix(uint32_t x) {  // a fixed hash: the generator is deterministic
  x ^= x >> 16;
  x *= 0x7feb352d;
  x ^= x >> 15;
  x *= 0x846ca68b;
  return x ^ (x >> 16);
}

k8s::LabelSelector MatchLabels(std::map<std::string, std::string> labels) {
  k8s::LabelSelector selector;
  selector.match_labels = std::move(labels);
  return selector;
}

k8s::IpCidr Cidr(uint32_t address, uint8_t len) {
  k8s::IpCidr cidr;
  cidr.address = k8s::IpAddress::V4(address & k8s::Ipv4Mask(len));
  cidr.prefix_len = len;
  return cidr;
}

k8s::NetworkPolicyPort Port(k8s::Protocol protocol, uint16_t port, std::optional<uint16_t> end = std::nullopt) {
  k8s::NetworkPolicyPort entry;
  entry.protocol = protocol;
  entry.port = k8s::IntOrString{false, port, ""};
  entry.end_port = end;
  return entry;
}

struct Shape {
  uint32_t apps;        // one pod per app (identity-based classification: pods per app do not change the ACL)
  uint32_t namespaces;  // apps spread evenly
};
// Ten policies per app at every size: the same share of pods isolated per
// direction, so every size classifies the same number of keys per flow.
// --min-apps 100 gives the shape used before 2026-11-30 (perf/acl/README.md).
Shape ShapeFor(uint32_t policies, uint32_t min_apps) {
  const uint32_t apps = std::max<uint32_t>(min_apps, policies / 10);
  return {apps, std::max<uint32_t>(10, apps / 20)};
}
uint32_t AppIp(uint32_t app) { return Ip(10, 244, 0, 0) + 256 + app; }                       // 10.244.1.0 +
uint32_t ClientIp(uint32_t ns, uint32_t role) { return Ip(10, 245, 0, 0) + ns * 8 + role; }  // 10.245.x.y
uint32_t AppNamespace(const Shape& shape, uint32_t app) { return app % shape.namespaces; }

// The documented generator (perf/acl/README.md). Policy i lives in the
// namespace of app a = i % apps and selects that app; variant Mix(i) % 10:
//  0-4 ingress from podSelector role=client-r of its namespace, on one port:
//      a common one (16 well-known ports), the named port "http", or a
//      distinct one (1024 + i % 30000);
//  5-6 ingress from namespaceSelector kubernetes.io/metadata.name In [two
//      namespaces] AND podSelector role=client-r, port range 8000..8000+i%100
//      (endPort);
//  7-8 ingress from ipBlock 172.16.0.0/12-ish /24 except its first /28 (4
//      prefixes), on a distinct port, plus a podSelector peer;
//  9   egress (policyTypes Egress) to ipBlock 10.(100+i%100).0.0/16 on UDP
//      30000-32767, and to pods tier=db of its namespace on 5432/TCP.
k8s::ClusterState GenerateCluster(const Shape& shape, uint32_t policies) {
  k8s::ClusterState state;
  for (uint32_t n = 0; n < shape.namespaces; ++n) {
    k8s::Namespace ns;
    ns.meta.name = "ns-" + std::to_string(n);
    ns.meta.labels = {{"kubernetes.io/metadata.name", ns.meta.name}, {"team", "t" + std::to_string(n % kTeams)}};
    state.namespaces[{"", ns.meta.name}] = ns;
    for (uint32_t r = 0; r < kClientRoles; ++r) {
      k8s::Pod pod;
      pod.meta.name = "client-" + std::to_string(r);
      pod.meta.namespace_ = ns.meta.name;
      pod.meta.labels = {{"role", "client-" + std::to_string(r)}};
      pod.node_name = "node-a";
      pod.phase = "Running";
      pod.pod_ip = k8s::IpAddress::V4(ClientIp(n, r));
      state.pods[{pod.meta.namespace_, pod.meta.name}] = pod;
    }
  }
  for (uint32_t a = 0; a < shape.apps; ++a) {
    k8s::Pod pod;
    pod.meta.name = "app-" + std::to_string(a);
    pod.meta.namespace_ = "ns-" + std::to_string(AppNamespace(shape, a));
    pod.meta.labels = {{"app", pod.meta.name}, {"tier", a % 7 == 0 ? "db" : "web"}};
    pod.node_name = "node-a";
    pod.phase = "Running";
    pod.pod_ip = k8s::IpAddress::V4(AppIp(a));
    k8s::Container container;
    container.name = "main";
    container.ports.push_back({"http", static_cast<uint16_t>(a % 2 ? 8080 : 80), k8s::Protocol::kTCP, 0});
    container.ports.push_back({"metrics", 9090, k8s::Protocol::kTCP, 0});
    pod.containers.push_back(container);
    state.pods[{pod.meta.namespace_, pod.meta.name}] = pod;
  }
  for (uint32_t i = 0; i < policies; ++i) {
    const uint32_t app = i % shape.apps;
    const uint32_t variant = Mix(i) % 10;
    const uint32_t role = Mix(i + 1) % kClientRoles;
    k8s::NetworkPolicy policy;
    policy.meta.name = "p-" + std::to_string(i);
    policy.meta.namespace_ = "ns-" + std::to_string(AppNamespace(shape, app));
    policy.pod_selector = MatchLabels({{"app", "app-" + std::to_string(app)}});
    k8s::NetworkPolicyRule rule;
    k8s::NetworkPolicyPeer client;
    client.pod_selector = MatchLabels({{"role", "client-" + std::to_string(role)}});
    if (variant <= 4) {
      rule.peers.push_back(client);
      const uint32_t kind = Mix(i + 2) % 3;
      if (kind == 0) {
        rule.ports.push_back(Port(k8s::Protocol::kTCP, kCommonPorts[Mix(i + 3) % 16]));
      } else if (kind == 1) {
        k8s::NetworkPolicyPort named;
        named.port = k8s::IntOrString{true, 0, "http"};
        rule.ports.push_back(named);
      } else {
        rule.ports.push_back(Port(k8s::Protocol::kTCP, static_cast<uint16_t>(1024 + i % 30000)));
      }
      policy.ingress.push_back(rule);
      policy.affects_ingress = true;
    } else if (variant <= 6) {
      k8s::LabelSelector namespaces;  // "from the monitoring/ingress namespaces": two namespaces by name
      const uint32_t from_ns = Mix(i + 4) % shape.namespaces;
      namespaces.match_expressions.push_back(
          {"kubernetes.io/metadata.name", k8s::LabelSelectorRequirement::Operator::kIn,
           {"ns-" + std::to_string(from_ns), "ns-" + std::to_string((from_ns + 1) % shape.namespaces)}});
      client.namespace_selector = namespaces;
      rule.peers.push_back(client);
      rule.ports.push_back(Port(k8s::Protocol::kTCP, 8000, static_cast<uint16_t>(8000 + i % 100)));
      policy.ingress.push_back(rule);
      policy.affects_ingress = true;
    } else if (variant <= 8) {
      k8s::NetworkPolicyPeer block;
      const uint32_t base = Ip(172, 16, 0, 0) + ((i % 4096) << 8);
      block.ip_block = k8s::IpBlock{Cidr(base, 24), {Cidr(base, 28)}};
      rule.peers.push_back(block);
      rule.peers.push_back(client);
      rule.ports.push_back(Port(k8s::Protocol::kTCP, static_cast<uint16_t>(1024 + i % 30000)));
      policy.ingress.push_back(rule);
      policy.affects_ingress = true;
    } else {
      k8s::NetworkPolicyPeer block;
      block.ip_block = k8s::IpBlock{Cidr(Ip(10, 100 + i % 100, 0, 0), 16), {}};
      rule.peers.push_back(block);
      rule.ports.push_back(Port(k8s::Protocol::kUDP, 30000, 32767));
      policy.egress.push_back(rule);
      k8s::NetworkPolicyRule db;
      k8s::NetworkPolicyPeer tier;
      tier.pod_selector = MatchLabels({{"tier", "db"}});  // the databases of its own namespace
      db.peers.push_back(tier);
      db.ports.push_back(Port(k8s::Protocol::kTCP, 5432));
      policy.egress.push_back(db);
      policy.affects_egress = true;
    }
    state.network_policies[{policy.meta.namespace_, policy.meta.name}] = policy;
  }
  return state;
}

// New flows: 1/2 client -> app on a port that some policy of the app may
// open (allowed or not, depending on the policies drawn), 1/4 world
// (172.16/12) -> app, 1/8 app -> app (egress judged when isolated), 1/8
// app -> world on UDP.
std::vector<policy::FlowQuery> GenerateFlows(const Shape& shape, uint32_t policies) {
  std::mt19937 random(42);
  std::vector<policy::FlowQuery> flows(kFlowPool);
  for (uint32_t k = 0; k < kFlowPool; ++k) {
    policy::FlowQuery& q = flows[k];
    const uint32_t r = random();
    const uint32_t i = random() % policies;  // a policy whose ports we aim at
    const uint32_t app = i % shape.apps;
    q.reserved = 0;
    q.protocol = abi::kProtoTcp;
    q.dst_ipv4 = AppIp(app);
    switch (k % 8) {
      case 0: case 1: case 2: case 3:
        q.src_ipv4 = ClientIp(AppNamespace(shape, app), r % kClientRoles);
        q.dst_port = r & 1 ? kCommonPorts[r % 16] : static_cast<uint16_t>(1024 + i % 30000);
        break;
      case 4: case 5:
        q.src_ipv4 = Ip(172, 16, 0, 0) + ((i % 4096) << 8) + (r & 255);
        q.dst_port = static_cast<uint16_t>(1024 + i % 30000);
        break;
      case 6:
        q.src_ipv4 = AppIp(r % shape.apps);
        q.dst_port = 5432;
        break;
      default:
        q.src_ipv4 = AppIp(app);
        q.dst_ipv4 = Ip(10, 100 + r % 100, r >> 8 & 255, 7);
        q.protocol = abi::kProtoUdp;
        q.dst_port = static_cast<uint16_t>(30000 + r % 4000);
        break;
    }
  }
  return flows;
}

struct World {
  uint32_t policies = 0;
  Shape shape{};
  k8s::ClusterState state;
  NodeImage node;
  uint64_t rules = 0;
  double compile_ms = 0;
  double build_ms = 0;
  size_t mem_bytes = 0;
  double allowed_fraction = 0;
  double keys_per_flow = 0;  // judged directions per flow: rte_acl keys classified
  std::unique_ptr<policy::PolicyTables> tables;
  std::vector<policy::FlowQuery> flows;
  std::string error;
};

double Ms(Clock::time_point from) { return std::chrono::duration<double, std::milli>(Clock::now() - from).count(); }

// The dataplane's path: compile, encode, decode (validates).
Result<PolicyImage> CompileImage(const World& world, std::map<std::string, uint32_t> previous_identities) {
  policy::PolicyCompileOptions options;
  options.enforce_all_pods = true;
  options.previous_identities = std::move(previous_identities);
  policy::PolicyCompilation compiled = policy::CompilePolicies(world.state, world.node, options);
  const std::vector<uint8_t> bytes = EncodePolicySection(compiled.image);
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  return DecodePolicySection(bytes.data(), bytes.size(), &crc);
}

std::unique_ptr<World> MakeWorld(uint32_t policies, uint32_t min_apps, uint32_t partitions) {
  auto world = std::make_unique<World>();
  world->policies = policies;
  world->shape = ShapeFor(policies, min_apps);
  world->state = GenerateCluster(world->shape, policies);
  world->node.node_name = "node-a";
  world->node.info.cluster_cidr = Ip(10, 244, 0, 0);
  world->node.info.cluster_cidr_len = 15;  // 10.244.0.0 - 10.245.255.255: apps and clients
  auto t0 = Clock::now();
  Result<PolicyImage> decoded = CompileImage(*world, {});
  world->compile_ms = Ms(t0);
  if (!decoded) {
    world->error = "decode: " + decoded.error().message;
    return world;
  }
  auto built = policy::PolicyTables::Build(std::move(decoded).value(), nullptr, partitions);
  if (!built) {
    world->error = "build: " + built.error().message;
    return world;
  }
  world->tables = std::move(built).value();
  const policy::AclContexts& acl = world->tables->acl();
  world->rules = uint64_t{acl.rule_count(abi::PolicyDirection::kIngress)} + acl.rule_count(abi::PolicyDirection::kEgress);
  world->build_ms = acl.build_ms();
  world->mem_bytes = acl.memory_bytes();
  world->flows = GenerateFlows(world->shape, policies);
  std::vector<policy::FlowVerdict> verdicts(world->flows.size());
  world->tables->Check(world->flows.data(), static_cast<uint32_t>(world->flows.size()), verdicts.data());
  uint32_t allowed = 0;
  for (const policy::FlowVerdict& v : verdicts) allowed += v.allowed;
  world->allowed_fraction = static_cast<double>(allowed) / verdicts.size();
  uint32_t keys = 0;
  for (const policy::FlowQuery& flow : world->flows)
    if (flow.src_ipv4 != flow.dst_ipv4)
      keys += world->tables->Isolated(flow.src_ipv4, abi::PolicyDirection::kEgress) +
              world->tables->Isolated(flow.dst_ipv4, abi::PolicyDirection::kIngress);
  world->keys_per_flow = static_cast<double>(keys) / world->flows.size();
  return world;
}

struct Relabel {
  double full_ms = 0, partial_ms = 0;
  double full_ns_per_pkt = 0, partial_ns_per_pkt = 0;  // Check over the pool in bursts, CPU time
  uint32_t built = 0, reused = 0, mismatches = 0, overlays = 0;
  bool consolidated = false;
  double consolidate_ms = 0, start_us = 0, collect_ms = 0, consolidated_ns_per_pkt = 0;
  uint32_t consolidated_mismatches = 0;
  std::string error;
};

// One app pod of the middle namespace gets a new label: a new identity
// replaces its old one (the pod is its app's only one).
Relabel MeasureRelabel(World& world, uint32_t partitions, uint32_t step, bool consolidate) {
  Relabel out;
  const Shape& shape = world.shape;
  const uint32_t ns = (shape.namespaces / 2 + step) % shape.namespaces;
  uint32_t app = 0;
  while (AppNamespace(shape, app) != ns) ++app;
  k8s::Pod& pod = world.state.pods.at({"ns-" + std::to_string(ns), "app-" + std::to_string(app)});
  pod.meta.labels["canary"] = "yes";
  Result<PolicyImage> image = CompileImage(world, policy::PolicyIdentityIds(world.tables->image()));
  if (!image) {
    out.error = "decode: " + image.error().message;
    return out;
  }
  PolicyImage copy = *image;
  auto t0 = Clock::now();
  auto partial = policy::PolicyTables::Build(std::move(image).value(), world.tables.get(), partitions);
  out.partial_ms = Ms(t0);
  t0 = Clock::now();
  auto full = policy::PolicyTables::Build(std::move(copy), nullptr, partitions);
  out.full_ms = Ms(t0);
  if (!partial || !full) {
    out.error = "build: " + (partial ? full.error().message : partial.error().message);
    return out;
  }
  out.built = (*partial)->acl_contexts_built();
  out.reused = (*partial)->acl_contexts_reused();
  std::vector<policy::FlowVerdict> a(world.flows.size()), b(world.flows.size());
  (*partial)->Check(world.flows.data(), static_cast<uint32_t>(world.flows.size()), a.data());
  (*full)->Check(world.flows.data(), static_cast<uint32_t>(world.flows.size()), b.data());
  for (size_t i = 0; i < a.size(); ++i)
    out.mismatches += a[i].allowed != b[i].allowed || a[i].ingress_rule != b[i].ingress_rule ||
                      a[i].egress_rule != b[i].egress_rule;
  // The loader's background consolidation of those overlays.
  std::unique_ptr<policy::PolicyTables> consolidated;
  if (consolidate) {
    policy::AclConsolidator consolidator(0);
    consolidator.PolicyApplied(**partial, 0);
    t0 = Clock::now();
    (void)consolidator.Poll(partial->get(), 0);
    out.start_us = Ms(t0) * 1000;
    while (consolidator.building() && !consolidator.build_finished())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    t0 = Clock::now();
    auto done = consolidator.Poll(partial->get(), 0);
    out.collect_ms = Ms(t0);
    if (!done) {
      out.error = "consolidation: " + (consolidator.failed() ? consolidator.last_error() : std::string("no result"));
      return out;
    }
    out.consolidated = true;
    out.consolidate_ms = done->build_ms;
    consolidated = std::move(done->tables);
    std::vector<policy::FlowVerdict> c(world.flows.size());
    consolidated->Check(world.flows.data(), static_cast<uint32_t>(world.flows.size()), c.data());
    for (size_t i = 0; i < a.size(); ++i)
      out.consolidated_mismatches += a[i].allowed != c[i].allowed || a[i].ingress_rule != c[i].ingress_rule ||
                                     a[i].egress_rule != c[i].egress_rule;
  }
  // Classification with the overlays the change made versus a single base,
  // interleaved rounds (the machines are shared), best round of each.
  auto cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
  };
  auto round = [&](const policy::PolicyTables& tables) {
    policy::FlowVerdict verdicts[kBurst];
    const double start = cpu_ns();
    for (uint32_t pass = 0; pass < 20; ++pass)
      for (uint32_t at = 0; at < kFlowPool; at += kBurst) {
        tables.Check(&world.flows[at], kBurst, verdicts);
        benchmark::DoNotOptimize(verdicts);
      }
    return (cpu_ns() - start) / (20.0 * kFlowPool);
  };
  out.full_ns_per_pkt = out.partial_ns_per_pkt = out.consolidated_ns_per_pkt = 1e18;
  for (int r = 0; r < 5; ++r) {
    out.partial_ns_per_pkt = std::min(out.partial_ns_per_pkt, round(**partial));
    out.full_ns_per_pkt = std::min(out.full_ns_per_pkt, round(**full));
    if (consolidated) out.consolidated_ns_per_pkt = std::min(out.consolidated_ns_per_pkt, round(*consolidated));
  }
  out.overlays = (*partial)->acl().overlay_count();
  world.tables = std::move(partial).value();  // the next step builds on these
  return out;
}

void BM_Classify(benchmark::State& state, const World* world) {
  policy::FlowVerdict verdicts[kBurst];
  uint32_t at = 0;
  for (auto _ : state) {
    world->tables->Check(&world->flows[at], kBurst, verdicts);
    benchmark::DoNotOptimize(verdicts);
    at = (at + kBurst) % kFlowPool;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
  state.counters["rules"] = static_cast<double>(world->rules);
  state.counters["allowed"] = world->allowed_fraction;
}

// The part of Check that does not touch rte_acl: the two IP -> identity
// lookups per flow (a breakdown of BM_Classify, not part of the summary lines).
void BM_IdentityLookup(benchmark::State& state, const World* world) {
  uint32_t at = 0;
  for (auto _ : state) {
    uint32_t sum = 0;
    for (uint32_t k = 0; k < kBurst; ++k) {
      const policy::FlowQuery& flow = world->flows[at + k];
      sum += world->tables->Lookup(flow.src_ipv4).identity + world->tables->Lookup(flow.dst_ipv4).identity;
    }
    benchmark::DoNotOptimize(sum);
    at = (at + kBurst) % kFlowPool;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
}

// Keeps each run's CPU time per iteration for the summary lines.
class Recorder : public benchmark::ConsoleReporter {
 public:
  Recorder() : ConsoleReporter(OO_Tabular) {}  // no colour codes: the summary lines must be exact
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs)
      if (run.run_type == Run::RT_Iteration && run.iterations > 0 && !run.error_occurred)
        ns_per_iteration[run.run_name.str()] = run.GetAdjustedCPUTime() *
                                               (run.time_unit == benchmark::kNanosecond ? 1.0
                                                : run.time_unit == benchmark::kMicrosecond ? 1e3
                                                : run.time_unit == benchmark::kMillisecond ? 1e6 : 1e9);
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> ns_per_iteration;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {100, 1000, 10000, 50000, 100000};
  std::string eal_mb = "8192";
  bool acl_log = false;  // rte_acl's build log (tries, nodes, memory) on stderr
  bool relabel = false;
  uint32_t relabel_steps = 1;
  bool consolidate = false;
  uint32_t partitions = policy::kAclPartitions;
  uint32_t min_apps = 10;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string list = argv[++i];
      for (size_t start = 0; start < list.size();) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos) comma = list.size();
        sizes.push_back(static_cast<uint32_t>(std::stoul(list.substr(start, comma - start))));
        start = comma + 1;
      }
    } else if (arg == "--eal-mb" && i + 1 < argc) {
      eal_mb = argv[++i];
    } else if (arg == "--acl-log") {
      acl_log = true;
    } else if (arg == "--consolidate") {
      consolidate = true;
    } else if (arg == "--relabel") {
      relabel = true;
    } else if (arg == "--relabel-steps" && i + 1 < argc) {
      relabel_steps = static_cast<uint32_t>(std::stoul(argv[++i]));
    } else if (arg == "--min-apps" && i + 1 < argc) {
      min_apps = std::max<uint32_t>(1, static_cast<uint32_t>(std::stoul(argv[++i])));
    } else if (arg == "--partitions" && i + 1 < argc) {
      partitions = static_cast<uint32_t>(std::stoul(argv[++i]));
    } else {
      rest.push_back(argv[i]);
    }
  }
  std::vector<std::string> eal = {"np-bench-acl", "--no-huge", "-m", eal_mb, "--no-pci", "--no-shconf", "--no-telemetry",
                                  "-l", "0", "--log-level", "*:error", "--file-prefix",
                                  "np-bench-acl-" + std::to_string(getpid())};
  std::vector<char*> eal_argv;
  for (std::string& arg : eal) eal_argv.push_back(arg.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  rte_openlog_stream(stderr);
  if (acl_log) rte_log_set_level_pattern("lib.acl", RTE_LOG_DEBUG);

  std::vector<std::unique_ptr<World>> worlds;
  for (uint32_t size : sizes) {
    std::fprintf(stderr, "building %u policies ...\n", size);
    worlds.push_back(MakeWorld(size, min_apps, partitions));
    const World& world = *worlds.back();
    if (!world.error.empty()) {
      std::fprintf(stderr, "policies=%u: %s\n", size, world.error.c_str());
      continue;
    }
    std::fprintf(stderr,
                 "policies=%u rules=%lu compile_ms=%.0f build_ms=%.0f mem_kb=%zu allowed=%.2f keys_per_flow=%.2f "
                 "partitions=%u\n",
                 size, static_cast<unsigned long>(world.rules), world.compile_ms, world.build_ms,
                 world.mem_bytes / 1024, world.allowed_fraction, world.keys_per_flow, world.tables->acl().partitions());
    benchmark::RegisterBenchmark(("BM_Classify/" + std::to_string(size)).c_str(), BM_Classify, &world);
    benchmark::RegisterBenchmark(("BM_IdentityLookup/" + std::to_string(size)).c_str(), BM_IdentityLookup, &world);
  }
  int bench_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&bench_argc, rest.data());
  Recorder recorder;
  benchmark::RunSpecifiedBenchmarks(&recorder);
  benchmark::Shutdown();

  for (const auto& world : worlds) {
    auto it = recorder.ns_per_iteration.find("BM_Classify/" + std::to_string(world->policies));
    if (!world->error.empty() || it == recorder.ns_per_iteration.end()) continue;
    std::printf("bench=acl policies=%u rules=%lu ns_per_pkt=%.1f build_ms=%.0f mem_kb=%zu\n", world->policies,
                static_cast<unsigned long>(world->rules), it->second / kBurst, world->build_ms, world->mem_bytes / 1024);
  }
  if (relabel)
    for (const auto& world : worlds) {
      if (!world->error.empty()) continue;
      for (uint32_t step = 0; step < relabel_steps; ++step) {
        const Relabel r = MeasureRelabel(*world, partitions, step, consolidate);
        if (!r.error.empty()) {
          std::fprintf(stderr, "relabel policies=%u: %s\n", world->policies, r.error.c_str());
          break;
        }
        std::printf("bench=acl-relabel policies=%u partitions=%u full_ms=%.0f partial_ms=%.0f built=%u reused=%u "
                    "mismatches=%u ns_per_pkt_full=%.1f ns_per_pkt_partial=%.1f",
                    world->policies, partitions, r.full_ms, r.partial_ms, r.built, r.reused, r.mismatches,
                    r.full_ns_per_pkt, r.partial_ns_per_pkt);
        if (relabel_steps > 1) std::printf(" step=%u overlays=%u", step + 1, r.overlays);
        if (r.consolidated)
          std::printf(" consolidate_ms=%.0f start_us=%.0f collect_ms=%.2f consolidated_mismatches=%u "
                      "ns_per_pkt_consolidated=%.1f",
                      r.consolidate_ms, r.start_us, r.collect_ms, r.consolidated_mismatches,
                      r.consolidated_ns_per_pkt);
        std::printf("\n");
      }
    }
  std::fflush(stdout);
  worlds.clear();
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ec;
  if (runtime_dir.find("np-bench-acl-") != std::string::npos) std::filesystem::remove_all(runtime_dir, ec);
  return 0;
}
