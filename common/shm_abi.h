// nodeplane shared-memory ABI: the one header the control plane and the
// dataplane both include.
//
// Layout of the tables region (a POSIX shared-memory file, see shm_file.h):
//
//   RegionHeader                      (fixed, at offset 0)
//     SectionControl[kMaxSections]    one per SectionKind
//     DataplaneStatus                 written by the dataplane only
//   slot buffers                      two per section (double buffering)
//
// Each section (node, services, later policy/routes...) is republished on
// its own. The control plane writes a complete section image into the slot
// the dataplane is not reading, fills the slot's descriptor, then publishes
// `(generation << 1) | slot` with one atomic store. The dataplane claims the
// slot (reader_slot), re-checks the publication, validates the image
// (magic, ABI version, sizes, offsets in bounds, crc32) and copies what it
// needs into its own lookup structures; it never keeps pointers into the
// region. It then writes back applied_generation, or refused_generation and
// the reason. A claim and the publication are both seq_cst so that the
// control plane never overwrites a slot that the dataplane is reading (a
// Dekker-style handshake: each side stores its flag, then loads the other's).
//
// Section images are position-independent: every reference is an offset
// from the section's first byte or an index into one of its tables.
// All addresses and ports in images are in host byte order.
//
// Versioning: a major mismatch is refused; a minor version only appends
// section kinds, tables or fields at the end of records, so a reader accepts
// a newer minor and ignores what it does not know (elem_size says how large
// each record of a table really is).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace np::abi {

inline constexpr uint32_t kRegionMagic = 0x314c504eu;   // "NPL1"
inline constexpr uint32_t kSectionMagic = 0x4345534eu;  // "NSEC"
inline constexpr uint16_t kAbiMajor = 1;
inline constexpr uint16_t kAbiMinor = 4;  // 1: SectionKind::kPolicy; 2: NodeInfo::flags, kIdentityPolicyAudit;
                                          // 3: SectionKind::kServicesDelta; 4: 16-bit MaglevEntry

enum class SectionKind : uint32_t {
  kNode = 0,      // node identity, ports, routes, tunables
  kServices = 1,  // service ports, frontends, backends, Maglev tables
  kPolicy = 2,    // NetworkPolicy: identities, IP -> identity, rules (policy_image.h)
  kServicesDelta = 3,  // service ports changed since a services generation (see ServicesDeltaTable)
  kCount = 4,
};
inline constexpr uint32_t kMaxSections = 8;
// Every section the control plane publishes, in publication order (node
// first: services and policy refer to node addresses).
inline constexpr SectionKind kPublishedSections[] = {SectionKind::kNode, SectionKind::kServices,
                                                     SectionKind::kServicesDelta, SectionKind::kPolicy};
inline constexpr const char* SectionKindName(SectionKind kind) {
  switch (kind) {
    case SectionKind::kNode: return "node";
    case SectionKind::kServices: return "services";
    case SectionKind::kPolicy: return "policy";
    case SectionKind::kServicesDelta: return "services-delta";
    default: return "section";
  }
}
inline constexpr uint32_t kNoReader = 0xffffffffu;
inline constexpr uint32_t kReasonLength = 256;

inline constexpr uint64_t PackPublication(uint64_t generation, uint32_t slot) {
  return (generation << 1) | (slot & 1u);
}
inline constexpr uint64_t PublishedGeneration(uint64_t publication) { return publication >> 1; }
inline constexpr uint32_t PublishedSlot(uint64_t publication) {
  return static_cast<uint32_t>(publication & 1u);
}

struct SlotDescriptor {
  uint64_t generation;
  uint64_t size;       // bytes of the section image in this slot
  uint32_t checksum;   // crc32 (zlib) of those bytes
  uint32_t reserved;
};

struct SectionControl {
  std::atomic<uint64_t> published;           // 0 = never published
  std::atomic<uint32_t> reader_slot;         // kNoReader or the slot being read
  uint32_t reserved0;
  uint64_t slot_offset[2];                   // from the region start
  uint64_t slot_capacity;                    // bytes per slot
  SlotDescriptor slots[2];                   // written before `published`
  std::atomic<uint64_t> applied_generation;  // written by the dataplane
  std::atomic<uint64_t> refused_generation;  // written by the dataplane
  std::atomic<uint64_t> applied_at_ns;       // CLOCK_REALTIME of the last apply
  char refusal_reason[kReasonLength];        // written before refused_generation
};

struct DataplaneStatus {
  std::atomic<uint64_t> boot_epoch;   // changes on every dataplane start
  std::atomic<uint64_t> heartbeat_ns; // CLOCK_REALTIME, refreshed by the loader
  std::atomic<uint32_t> pid;
  uint32_t reserved;
};

struct RegionHeader {
  uint32_t magic;
  uint16_t abi_major;
  uint16_t abi_minor;
  uint64_t region_size;
  uint32_t section_count;
  uint32_t reserved;
  SectionControl sections[kMaxSections];
  DataplaneStatus dataplane;
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free (address-free)");
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// ---------------------------------------------------------------------------
// Section images

struct TableRef {
  uint32_t offset;     // from the section start
  uint32_t count;
  uint32_t elem_size;  // sizeof the record as written (>= what the reader knows)
  uint32_t reserved;
};

struct SectionHeader {
  uint32_t magic;
  uint16_t abi_major;
  uint16_t abi_minor;
  uint32_t kind;        // SectionKind
  uint32_t table_count;
  uint64_t generation;
  uint64_t size;        // whole image, header included
  TableRef tables[16];
};

struct StringRef {  // into the section's kStrings table (bytes, not terminated)
  uint32_t offset;
  uint32_t length;
};

// --- node section ----------------------------------------------------------

enum class NodeTable : uint32_t { kInfo = 0, kPorts = 1, kRoutes = 2, kStrings = 3, kCount = 4 };

enum class PortRole : uint8_t { kUplink = 0, kPod = 1, kHost = 2 };

inline constexpr uint32_t kMaxNodeAddresses = 4;

struct NodeInfo {
  StringRef node_name;
  uint32_t node_ipv4[kMaxNodeAddresses];
  uint32_t node_ipv4_count;
  uint32_t pod_cidr;            // this node's pods
  uint8_t pod_cidr_len;
  uint8_t cluster_cidr_len;
  uint8_t service_cidr_len;
  uint8_t reserved0;
  uint32_t cluster_cidr;        // every pod of the cluster: "inside" for traffic policies
  uint32_t service_cidr;
  uint32_t pod_gateway_ipv4;    // answered by ARP on pod ports; hairpin SNAT source
  uint32_t uplink_gateway_ipv4; // default next hop on the uplink (0 = none)
  uint32_t conntrack_capacity;
  uint16_t snat_port_min;       // disjoint from the kernel's ip_local_port_range
  uint16_t snat_port_max;
  uint32_t maglev_seed;
  uint32_t host_rate_limit_pps; // exception path to the kernel
  uint32_t neighbor_capacity;
  uint32_t neighbor_timeout_s;
  uint32_t tcp_established_timeout_s;
  uint32_t tcp_close_wait_timeout_s;
  uint32_t tcp_syn_timeout_s;
  uint32_t tcp_fin_timeout_s;
  uint32_t tcp_time_wait_timeout_s;
  uint32_t udp_timeout_s;
  uint32_t udp_stream_timeout_s;
  uint32_t icmp_timeout_s;
  uint16_t healthz_port;        // kube-proxy healthz, answered by the control process
  uint16_t flags;               // NodeFlags (minor 2; was reserved, so 0 from older writers)
};

enum NodeFlags : uint16_t {
  kNodeFlowRecords = 1u << 0,  // track every TCP/UDP/SCTP flow and write flow records (common/flow_abi.h)
  kNodePolicyAudit = 1u << 1,  // every pod in audit mode: policy denials pass, recorded as "would deny"
};

struct PortRecord {
  uint32_t port_id;             // stable: ports may come and go at run time
  StringRef name;
  StringRef devargs;
  PortRole role;
  uint8_t reserved0;
  uint16_t vlan;                // 0 = untagged
  uint32_t ipv4;                // pod port: the pod's IP (anti-spoofing, route)
  uint16_t rx_queues;
  uint16_t mtu;
  uint8_t peer_mac[6];          // pod ports: the pod's MAC if known (static neighbour), else learned
  uint16_t reserved1;
};

struct RouteRecord {            // e.g. another node's pod CIDR via its node IP
  uint32_t prefix;
  uint8_t prefix_len;
  uint8_t reserved[3];
  uint32_t next_hop_ipv4;       // 0 = directly connected on the port
  uint32_t port_id;
};

// --- services section ------------------------------------------------------

enum class ServicesTable : uint32_t {
  kServicePorts = 0, kFrontends = 1, kBackends = 2, kMaglev = 3, kSourceRanges = 4,
  kStrings = 5, kCount = 6,
};

enum ServicePortFlags : uint16_t {
  kAffinityClientIP = 1u << 0,
  kExternalTrafficLocal = 1u << 1,
  kInternalTrafficLocal = 1u << 2,
};

enum class FrontendKind : uint8_t { kClusterIP = 0, kNodePort = 1, kLoadBalancer = 2, kExternalIP = 3 };

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoSctp = 132;

// One (Service, port) pair: the unit that owns a backend set and Maglev tables.
struct ServicePortRecord {
  uint32_t id;                  // stable across restarts: conntrack and counters key on it
  StringRef name;               // "namespace/service:port"
  uint8_t protocol;
  uint8_t reserved0;
  uint16_t flags;               // ServicePortFlags
  uint32_t affinity_timeout_s;
  uint32_t backend_first;       // into kBackends
  uint32_t backend_count;       // 0: no endpoints -> ICMP port unreachable
  uint32_t maglev_first;        // into kMaglev; entries index backends of this port
  uint32_t maglev_size;         // prime; 0 when backend_count is 0
  uint32_t local_maglev_first;  // same over node-local backends only
  uint32_t local_maglev_size;   // 0: no local backend
  uint32_t source_range_first;  // loadBalancerSourceRanges, into kSourceRanges
  uint32_t source_range_count;  // 0 = any source
  uint16_t health_check_node_port;
  uint16_t reserved1;
};

struct FrontendRecord {
  uint32_t ipv4;
  uint16_t port;
  uint8_t protocol;
  FrontendKind kind;
  uint32_t service_port_index;  // into kServicePorts
};

enum BackendFlags : uint8_t {
  kBackendLocal = 1u << 0,        // on this node
  kBackendTerminating = 1u << 1,  // serving but terminating (used only as fallback)
};

struct BackendRecord {
  uint32_t ipv4;
  uint16_t port;
  uint8_t flags;
  uint8_t reserved;
};

// Index relative to the service port's backend_first. 16 bits since minor 4
// (Maglev tables are most of a services image): a reader takes the first two
// bytes of each elem_size-byte entry, so 32-bit entries of older writers
// (little-endian, below 65536) read the same; older readers refuse 2-byte
// entries by their size, so upgrade the dataplane first.
using MaglevEntry = uint16_t;
inline constexpr uint32_t kMaxBackendsPerServicePort = 65535;  // what a MaglevEntry can index

struct CidrRecord {
  uint32_t prefix;
  uint8_t prefix_len;
  uint8_t reserved[3];
};

// --- services delta section (SectionKind::kServicesDelta, minor 3) ----------
// A single endpoint change must not rewrite, re-validate or rebuild every
// Service, so the services state is published as a base plus an overlay:
//
//   state = the services section at generation base_generation, with every
//           service port of this delta replacing the one with the same id
//           (or added), and every id in kRemovedIds removed.
//
// The delta is cumulative: each one lists everything that differs from its
// base, so a reader needs the base and the newest delta only (a delta never
// depends on an earlier delta). The control plane republishes a full
// services section (a new base) when the delta grows large. Tables 0-5 have
// the services section's layout: frontends name service ports of this delta
// (service_port_index), backends and Maglev entries are this delta's.
enum class ServicesDeltaTable : uint32_t {
  kServicePorts = 0, kFrontends = 1, kBackends = 2, kMaglev = 3, kSourceRanges = 4, kStrings = 5,
  kRemovedIds = 6, kInfo = 7, kCount = 8,
};

struct ServicesDeltaInfo {
  uint64_t base_generation;  // the services section generation this delta applies to
  uint32_t base_service_ports;  // how many service ports the base holds (a cross-check)
  uint32_t reserved;
};


// --- policy section (SectionKind::kPolicy) ---------------------------------
// NetworkPolicy compiled over identities (see common/policy_image.h for the
// semantics and control/policy/policy_compiler.h for how it is made).

enum class PolicyTable : uint32_t {
  kInfo = 0, kIdentities = 1, kIpEntries = 2, kPolicies = 3, kRules = 4, kIdentityRefs = 5,
  kCidrs = 6, kStrings = 7, kCount = 8,
};

// Reserved identities; pod identities start at kFirstPodIdentity.
inline constexpr uint32_t kIdentityNone = 0;            // never assigned
inline constexpr uint32_t kIdentityHost = 1;            // this node (node IPs, pod gateway)
inline constexpr uint32_t kIdentityWorld = 2;           // outside the cluster CIDR
inline constexpr uint32_t kIdentityUnknownCluster = 3;  // in the cluster CIDR, no known pod
inline constexpr uint32_t kFirstPodIdentity = 256;

enum class PolicyDirection : uint8_t { kIngress = 0, kEgress = 1 };

enum IdentityFlags : uint8_t {
  kIdentityIsolatedIngress = 1u << 0,  // some policy selects it with policyType Ingress
  kIdentityIsolatedEgress = 1u << 1,   // ... with policyType Egress
  kIdentityEnforced = 1u << 2,         // rules were compiled for it (pods on this node)
  kIdentityPolicyAudit = 1u << 3,      // its namespace is in audit mode: denials pass as "would deny"
};

enum IpEntryFlags : uint8_t {
  kIpLocalPod = 1u << 0,  // a pod on this node: this node enforces its policies
};

enum PolicyTypeFlags : uint8_t { kPolicyIngress = 1u << 0, kPolicyEgress = 1u << 1 };

enum PeerFlags : uint8_t {
  kPeerAnyIdentity = 1u << 0,  // no identity constraint (else: the peer identity set)
  kPeerAnyAddress = 1u << 1,   // no address constraint (else: the CIDR set)
};

struct PolicyInfo {
  uint32_t cluster_cidr;  // pod addresses; unknown ones map to kIdentityUnknownCluster
  uint8_t cluster_cidr_len;
  uint8_t reserved0[3];
  uint32_t reserved1[2];
};

struct IdentityRecord {
  uint32_t id;
  uint8_t flags;  // IdentityFlags
  uint8_t reserved[3];
  StringRef name;  // "namespace/k=v,k=v[;ports]": for the CLI and traces
};

struct IpIdentityRecord {  // sorted by ipv4, unique
  uint32_t ipv4;
  uint32_t identity;
  uint8_t flags;  // IpEntryFlags
  uint8_t reserved[3];
};

struct PolicyRecord {
  StringRef name;  // "namespace/name"
  uint8_t types;   // PolicyTypeFlags (after defaulting)
  uint8_t reserved[3];
};

// One allow rule: subject identity in [subjects] AND protocol AND
// port_min <= destination port <= port_max AND peer identity in [peers]
// (unless kPeerAnyIdentity) AND peer address in [cidrs] (unless
// kPeerAnyAddress). The subject is the pod the policy selects (destination
// for ingress, source for egress); the peer is the other end.
struct PolicyRuleRecord {
  uint32_t policy_index;  // into kPolicies
  uint16_t rule_index;    // position in the policy's spec.ingress / spec.egress
  uint8_t direction;      // PolicyDirection
  uint8_t protocol;       // kProtoTcp/Udp/Sctp, 0 = every protocol (ports then 0-65535)
  uint16_t port_min;
  uint16_t port_max;
  uint8_t peer_flags;     // PeerFlags
  uint8_t reserved[3];
  uint32_t subject_first;  // into kIdentityRefs
  uint32_t subject_count;
  uint32_t peer_first;     // into kIdentityRefs
  uint32_t peer_count;
  uint32_t cidr_first;     // into kCidrs (CidrRecord)
  uint32_t cidr_count;
};

using IdentityRef = uint32_t;  // an identity id (not an index)

}  // namespace np::abi
