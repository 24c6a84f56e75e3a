// `npctl policy probe` and `npctl policy trace`: NetworkPolicy verdicts for
// pods read from manifests, computed by the real compiler
// (control/policy CompilePolicies, every pod enforced as if it were local),
// the encoded/decoded policy section and the dataplane's own classifier
// (dataplane/policy PolicyTables::Check over rte_acl) - not a second model.
//
// The probe is the contract the Kubernetes NetworkPolicy e2e truth tables
// (test/e2e/network/netpol) are checked against: one line per ordered pair
// of pods (a pod to itself included: always allowed, as the dataplane
// exempts it) and per probed port,
//
//     NS/POD NS/POD PORT/PROTO allow|deny
//
// sorted bytewise. As upstream probes connect to the destination pod's IP,
// PORT is the destination pod's port; a named port in a policy resolves
// against the destination pod's containerPorts (done by the compiler).
//
// Pods that cannot be probed (no IPv4 podIP, Succeeded/Failed, an address
// another pod already owns or a node address) are listed in
// ProbeWorld::skipped and have no lines.
//
// PolicyTables needs rte_acl, hence an EAL: InitProbeEal() starts one in
// memory (no hugepages, no PCI, no shared config, a per-process file
// prefix). Everything else here is callable from tests that started their
// own EAL.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "control/k8s/cluster_state.h"
#include "control/policy/policy_compiler.h"
#include "dataplane/policy/policy_tables.h"

namespace np::cli {

struct ProbePort {
  uint16_t port = 0;
  uint8_t protocol = 0;  // abi::kProtoTcp/Udp/Sctp
  std::string text;      // "80/TCP"
};

// "80/TCP,81/TCP,80/UDP" (protocol optional: TCP; case-insensitive).
Result<std::vector<ProbePort>> ParseProbePorts(const std::string& text);
inline constexpr const char* kDefaultProbePorts = "80/TCP,81/TCP,80/UDP,81/UDP,80/SCTP,81/SCTP";

struct ProbePod {
  k8s::NamespacedName id;
  uint32_t ipv4 = 0;
  uint32_t identity = 0;
};

struct ProbeWorld {
  k8s::ClusterState state;
  policy::PolicyCompilation compilation;  // image moved into `tables`
  std::unique_ptr<policy::PolicyTables> tables;
  std::vector<ProbePod> pods;              // probed pods, sorted by NS/POD
  std::vector<std::string> skipped;        // "NS/POD: why"
};

// Compiles `state` (enforce_all_pods), encodes + decodes the section and
// builds the PolicyTables. Needs a running EAL.
Result<ProbeWorld> BuildProbeWorld(k8s::ClusterState state);

// Loads DIR (LoadManifestDirectory) or a single file; load failures are an error.
Result<k8s::ClusterState> LoadProbeManifests(const std::filesystem::path& path);

// The probe lines, sorted, without trailing newlines.
std::vector<std::string> ProbeLines(const ProbeWorld& world, const std::vector<ProbePort>& ports);

// A human explanation of one verdict. FROM/TO are NS/POD or IPv4 addresses.
Result<std::string> TraceFlow(const ProbeWorld& world, const std::string& from, const std::string& to,
                              const ProbePort& port);

// Starts an in-memory EAL once per process (idempotent). Error: why not.
Status InitProbeEal();

// `npctl policy ...`: args after "policy". Returns the exit code; writes to stdout/stderr.
int RunPolicyCommand(const std::vector<std::string>& args);

}  // namespace np::cli
