// NetworkPolicy classifier cost versus the number of policies/rules: the
// policy compiler (control/policy) over manifests written by
// perf/gen_policies.py, the rte_acl contexts and PolicyTables::Check, the
// call the worker will make once per NEW connection (established packets
// never reach it). Not Google Benchmark: one line per directory, so that
// perf/run_harness can plot it.
//
//   np-bench-policy [EAL options] -- --node NODE.yaml DIR... [--flows N] [--rounds R]
//
// Per DIR: policies, ACL rules (ingress), compile and build times, rte_acl
// memory, and the TSC cycles per new flow of Check() in bursts of 32 over
// a mix of flows (1/4 external clients -> the web backends, allowed by
// allow-web; 1/4 client pods -> filler-policy pods on their ports, allowed;
// 1/2 to filler pods on ports no rule allows, denied).
#include <rte_cycles.h>
#include <rte_eal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "control/config/node_config.h"
#include "control/k8s/loader.h"
#include "control/policy/policy_compiler.h"
#include "dataplane/policy/policy_tables.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

double Ms(Clock::time_point from) { return std::chrono::duration<double, std::milli>(Clock::now() - from).count(); }

int RunOne(const np::NodeImage& node, const fs::path& dir, uint32_t flows, uint32_t rounds) {
  auto t0 = Clock::now();
  auto loaded = np::k8s::LoadManifestDirectory(dir);
  if (!loaded) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), loaded.error().message.c_str());
    return 1;
  }
  if (!loaded->failures.empty()) {
    std::fprintf(stderr, "%s: %zu manifest failures, first: %s\n", dir.c_str(), loaded->failures.size(),
                 loaded->failures[0].messages.empty() ? "" : loaded->failures[0].messages[0].c_str());
    return 1;
  }
  const double load_ms = Ms(t0);
  t0 = Clock::now();
  np::policy::PolicyCompilation compiled = np::policy::CompilePolicies(loaded->state, node);
  const double compile_ms = Ms(t0);
  const size_t policy_count = loaded->state.network_policies.size();
  t0 = Clock::now();
  auto built = np::policy::PolicyTables::Build(std::move(compiled.image));
  if (!built) {
    std::fprintf(stderr, "%s: %s\n", dir.c_str(), built.error().message.c_str());
    return 1;
  }
  const double build_ms = Ms(t0);
  const np::policy::PolicyTables& tables = **built;

  std::mt19937 random(42);
  std::vector<np::policy::FlowQuery> queries(flows);
  const uint32_t fillers = policy_count > 1 ? static_cast<uint32_t>(policy_count - 1) : 1;
  for (uint32_t i = 0; i < flows; ++i) {
    np::policy::FlowQuery& q = queries[i];
    q.protocol = 6;
    q.reserved = 0;
    const uint32_t kind = i % 4;
    const uint32_t r = random();
    if (kind == 0) {  // external client -> web backend 8080: allow-web
      q.src_ipv4 = Ip(172, 16, (r >> 8) & 255, 1 + r % 250);
      q.dst_ipv4 = Ip(10, 244, 1, 11 + r % 4);
      q.dst_port = 8080;
    } else if (kind == 1) {  // client-(p % 5) of app's namespace -> app pod on policy p's port
      const uint32_t p = r % fillers;
      const uint32_t app = p % 200;
      q.src_ipv4 = Ip(10, 244, 2, 1 + (app % 10) * 5 + p % 5);
      q.dst_ipv4 = Ip(10, 244, 1, 20 + app);
      q.dst_port = static_cast<uint16_t>(1000 + p % 50000);
    } else {  // some world address -> app pod on a port no rule opens
      q.src_ipv4 = Ip(203, 0, (r >> 8) & 255, r & 255);
      q.dst_ipv4 = Ip(10, 244, 1, 20 + r % 200);
      q.dst_port = static_cast<uint16_t>(60000 + r % 5000);
    }
  }
  std::vector<np::policy::FlowVerdict> verdicts(flows);
  constexpr uint32_t kBurst = 32;
  uint64_t allowed = 0;
  for (uint32_t i = 0; i + kBurst <= flows; i += kBurst) tables.Check(&queries[i], kBurst, &verdicts[i]);  // warm
  for (const auto& v : verdicts) allowed += v.allowed;
  std::vector<double> per_round;
  for (uint32_t round = 0; round < rounds; ++round) {
    const uint64_t start = rte_rdtsc();
    for (uint32_t i = 0; i + kBurst <= flows; i += kBurst) tables.Check(&queries[i], kBurst, &verdicts[i]);
    per_round.push_back(static_cast<double>(rte_rdtsc() - start) / (flows / kBurst * kBurst));
  }
  std::sort(per_round.begin(), per_round.end());
  std::printf("policies=%zu acl_rules_ingress=%u acl_rules_egress=%u rule_records=%zu identities=%zu "
              "load_ms=%.0f compile_ms=%.0f acl_build_ms=%.0f acl_bytes=%zu allowed_fraction=%.3f "
              "check_cycles_per_flow_median=%.1f min=%.1f\n",
              policy_count, tables.acl().rule_count(np::abi::PolicyDirection::kIngress),
              tables.acl().rule_count(np::abi::PolicyDirection::kEgress), tables.image().rules.size(),
              tables.image().identities.size(), load_ms, compile_ms, build_ms, tables.acl().memory_bytes(),
              static_cast<double>(allowed) / flows, per_round[per_round.size() / 2], per_round[0]);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> eal_args{argv[0]};
  static char defaults[][16] = {"--no-huge", "-m", "2048", "--no-pci", "--no-shconf", "-l", "0",
                                "--log-level", "*:error"};
  int split = 1;
  while (split < argc && std::strcmp(argv[split], "--") != 0) ++split;
  if (split == 1 || split == argc)
    for (auto& arg : defaults) eal_args.push_back(arg);
  const bool had_split = split < argc;
  for (int i = 1; had_split && i < split; ++i) eal_args.push_back(argv[i]);
  int eal_argc = static_cast<int>(eal_args.size());
  if (rte_eal_init(eal_argc, eal_args.data()) < 0) {
    std::fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  fs::path node_yaml;
  std::vector<fs::path> dirs;
  uint32_t flows = 65536, rounds = 9;
  for (int i = had_split ? split + 1 : 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--node" && i + 1 < argc) node_yaml = argv[++i];
    else if (arg == "--flows" && i + 1 < argc) flows = static_cast<uint32_t>(std::stoul(argv[++i]));
    else if (arg == "--rounds" && i + 1 < argc) rounds = static_cast<uint32_t>(std::stoul(argv[++i]));
    else dirs.emplace_back(arg);
  }
  if (node_yaml.empty() || dirs.empty()) {
    std::fprintf(stderr, "usage: np-bench-policy [EAL options] -- --node NODE.yaml DIR... [--flows N] [--rounds R]\n");
    return 2;
  }
  auto node = np::config::LoadNodeConfig(node_yaml);
  if (!node) {
    std::fprintf(stderr, "%s\n", node.error().message.c_str());
    return 1;
  }
  std::printf("tsc_hz=%lu\n", static_cast<unsigned long>(rte_get_tsc_hz()));
  int result = 0;
  for (const fs::path& dir : dirs) result |= RunOne(*node, dir, flows, rounds);
  rte_eal_cleanup();
  return result;
}
