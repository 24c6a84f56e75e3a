// Services -> the services section image, with kube-proxy's semantics.
//
// One ServicePortRecord per (Service, port) of every Service kube-proxy
// would program (not ExternalName, not headless, with an IPv4 cluster IP).
// Frontends: each IPv4 clusterIP, the nodePort on every node IP (NodePort
// and LoadBalancer), the LoadBalancer ingress IPs, the externalIPs.
// Backends: the IPv4 EndpointSlices labelled kubernetes.io/service-name,
// merged and de-duplicated, port matched by name and protocol. Per
// kube-proxy's categorizeEndpoints: the cluster set is the ready endpoints,
// or, when none is ready, the serving+terminating ones; the local set is
// the same choice among this node's endpoints only. The backend table holds
// the union; the Maglev table spans the cluster set, the local Maglev table
// the local set.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "control/compile/maglev_cache.h"
#include "control/k8s/cluster_state.h"

namespace np::compile {

struct ServicesCompileOptions {
  // IDs handed out before (name -> id, e.g. read back from the image the
  // dataplane applied): kept for names that still exist, so that a new
  // Service whose hash collides never renumbers an existing one.
  std::map<std::string, uint32_t> previous_ids;
  // Tables of previous compiles (may be null); EndCompile() is called at the end.
  MaglevCache* maglev_cache = nullptr;
};

struct ServicesCompilation {
  ServicesImage image;                // generation 0: the publisher sets it
  std::vector<std::string> warnings;  // per object: skipped frontends, ports, ...
};

ServicesCompilation CompileServices(const k8s::ClusterState& state, const NodeImage& node,
                                    const ServicesCompileOptions& options = {});

// The stable ID of a service port before collision handling:
// FNV-1a 32 of "namespace/name:port/PROTOCOL", never 0.
uint32_t ServicePortHashId(const std::string& key);

// The map previous_ids wants, from an image.
std::map<std::string, uint32_t> ServicePortIds(const ServicesImage& image);

}  // namespace np::compile
