// Packet tracing and capture (issue "See the traffic"): a POSIX shm file
// "/nodeplane.<instance>.debug", created by the dataplane, attached by npctl
// (`npctl trace`, `npctl capture`). DPDK's own capture (rte_pdump) needs
// multi-process memory, which --no-huge/--in-memory do not have, so captured
// packets and trace steps travel through this file instead.
//
// Layout: one DebugHeader: the `armed` word, the two control blocks, then
// per worker one trace ring and one capture ring (about 9 MB, left sparse
// until used).
//
// Arming. npctl fills a control block (filter, limits, expiry), then sets
// the block's bit in `armed` with a release RMW; disarming clears the bit.
// Workers load `armed` once per burst (relaxed; an acquire fence follows
// only when a bit is set), so a disarmed dataplane pays one load of one
// cache line per burst and one predictable branch per packet. Each control
// block carries a `sequence` bumped at every arming, so workers notice a new
// request even when the bit never looked clear to them, and so npctl can
// tell its own records from a previous session's.
//
// Rings: single producer (one worker) / single consumer (npctl), never
// blocking: a worker that finds its ring full drops the record and counts
// it. The consumer publishes the new tail (release), the only thing it
// writes in a ring. Layout and logic: common/spsc_ring.h (Reserve/Commit to
// fill a slot in place, Drain to read). Only one npctl trace and one npctl
// capture at a time per dataplane: npctl refuses to arm a block that is
// already armed, unless its lease (expiry_s, renewed by the npctl that armed
// it) has lapsed.
// A control block is written only while its bit is clear (or lapsed), and
// published by the release store of its sequence: a worker that sees the
// new sequence (acquire) sees the whole request.
//
// Versioning like the tables: kDebugVersionMajor must match; minor versions
// only add fields in reserved space or new step kinds. Major 2: the rings
// became common/spsc_ring.h's (`dropped` moved from offset 128 to 136,
// `written` at 128).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "common/spsc_ring.h"
#include "common/stats_abi.h"

namespace np::debug {

inline constexpr uint32_t kDebugMagic = 0x47444e4eu;  // "NNDG"
inline constexpr uint16_t kDebugVersionMajor = 2;
inline constexpr uint16_t kDebugVersionMinor = 0;
inline constexpr uint32_t kMaxWorkers = stats::kMaxLcores;
inline constexpr uint32_t kTraceRingSteps = 1024;      // per worker; a power of two
inline constexpr uint32_t kCaptureRingPackets = 1024;  // per worker; a power of two
inline constexpr uint32_t kCaptureBytes = 488;         // the largest snaplen (a 512-byte slot)
inline constexpr uint32_t kMaxTracedEntries = 32;      // conntrack entries whose other direction is traced too
inline constexpr uint32_t kNoEntry = 0xffffffffu;

// Bits of DebugHeader::armed.
inline constexpr uint32_t kTraceArmed = 1u << 0;
inline constexpr uint32_t kCaptureArmed = 1u << 1;

// ---- trace ---------------------------------------------------------------

// A packet matches when its 5-tuple equals the filter in either
// orientation; a zero field matches anything.
struct TraceFilter {
  uint32_t src_ip, dst_ip;      // host byte order
  uint16_t src_port, dst_port;
  uint8_t protocol;             // 0: any
  uint8_t reserved[3];
};

struct TraceControl {
  std::atomic<uint32_t> sequence;   // bumped by npctl at each arming
  uint32_t max_packets;             // packets traced at most (both directions)
  // A lease: npctl renews it while it runs, so that a request of an npctl
  // that died lapses by itself. The dataplane's CLOCK_MONOTONIC seconds
  // (SharedState::now_s); 0: no expiry.
  std::atomic<uint32_t> expiry_s;
  uint32_t reserved0;
  TraceFilter filter;
  // Written by workers while armed.
  std::atomic<uint32_t> packets_started;                     // packet numbers handed out
  std::atomic<uint32_t> traced_entry_count;                  // slots of traced_entries used
  std::atomic<uint32_t> traced_entries[kMaxTracedEntries];   // kNoEntry until written
};

enum class StepKind : uint8_t {
  kReceived = 1,     // ip[0..1], port[0..1] = tuple; a = protocol; b = tcp flags; slot = rx port;
                     // value[0] = worker; value[1] = kReceived* bits
  kArp = 2,          // ip[0] = sender, ip[1] = target; a = opcode; b = 1 answered; slot = port
  kConntrack = 3,    // a = ConntrackOutcome; b = direction (0 original, 1 reply); value[0] = entry; value[1] = tcp state
  kService = 4,      // ip[0]:port[0] = frontend; a = abi::FrontendKind; value[0] = service port id
  kBackend = 5,      // ip[0]:port[0] = backend; a = BackendReason; value[0] = service port id
  kNat = 6,          // ip/port[0..1] = src,dst before; [2..3] = after; b = direction
  kPolicy = 7,       // a = PolicyVerdict; b = policy::Reason; value[0..1] = egress/ingress rule;
                     // value[2..3] = src/dst identity; ip[0], ip[1] = judged source, destination; port[1]
  kDropped = 8,      // a = stats::DropReason
  kSent = 9,         // slot = tx port; mac = next-hop MAC; ip/port[0..1] = tuple as sent
  kArpReply = 10,    // slot = port the reply leaves on
};

// TraceStep::value[1] of kReceived.
inline constexpr uint32_t kReceivedFragment = 1u << 0;  // an IPv4 fragment (ports from its first fragment)
inline constexpr uint32_t kReceivedHasL4 = 1u << 1;     // its L4 header is in this packet (flags valid)

enum class ConntrackOutcome : uint8_t { kNew = 0, kHit = 1 };
enum class BackendReason : uint8_t {
  kMaglev = 0,          // Maglev over every backend
  kMaglevLocal = 1,     // Maglev over node-local backends (Local traffic policy)
  kAffinityHit = 2,     // sessionAffinity ClientIP remembered this client
  kAffinityNew = 3,     // sessionAffinity, first time: Maglev on the client address, remembered
};
enum class PolicyVerdict : uint8_t { kNoPolicy = 0, kAllowed = 1, kDenied = 2 };

// 64 bytes. Steps of one packet share `packet` (numbered from 1 across
// workers in the order packets started); a packet's steps are written by
// one worker, in order.
struct TraceStep {
  uint32_t sequence;     // TraceControl::sequence this step belongs to
  uint32_t packet;
  uint8_t kind;          // StepKind
  uint8_t a, b;
  uint8_t slot;          // stats port slot (kReceived, kArp, kSent, kArpReply)
  uint32_t ip[4];
  uint16_t port[4];
  uint32_t value[4];
  uint64_t mac;          // kSent: the next hop's MAC, packed like NeighborTable
};
static_assert(sizeof(TraceStep) == 64);

using TraceRing = SpscRing<TraceStep, kTraceRingSteps>;  // common/spsc_ring.h

// ---- capture -------------------------------------------------------------

enum CaptureDirection : uint8_t { kCaptureRx = 1, kCaptureTx = 2, kCaptureBoth = 3 };

struct CaptureControl {
  std::atomic<uint32_t> sequence;  // bumped by npctl at each arming
  uint32_t port_slot;              // stats port slot (StatsHeader::ports) to capture on
  uint8_t direction;               // CaptureDirection bits
  uint8_t reserved0[3];
  uint32_t snaplen;                // at most kCaptureBytes
  std::atomic<uint32_t> expiry_s;  // a lease like TraceControl::expiry_s
  uint32_t reserved1;
};

// 512 bytes: a packet's first `captured` bytes. rx: as received (before
// any rewrite); tx: as enqueued on the port (after NAT and the new MACs).
struct CaptureRecord {
  uint32_t sequence;          // CaptureControl::sequence
  uint32_t original_length;   // the packet's length on the wire
  uint64_t time_ns;           // CLOCK_REALTIME (one reading per burst)
  uint16_t captured;
  uint8_t direction;          // kCaptureRx or kCaptureTx
  uint8_t port_slot;
  uint32_t reserved;
  uint8_t data[kCaptureBytes];
};
static_assert(sizeof(CaptureRecord) == 512);

// dropped: packets not captured because the ring was full.
using CaptureRing = SpscRing<CaptureRecord, kCaptureRingPackets>;

struct DebugHeader {
  uint32_t magic;
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t worker_count;
  uint32_t reserved0;
  uint64_t boot_epoch;
  uint8_t pad0[40];
  alignas(64) std::atomic<uint32_t> armed;  // kTraceArmed | kCaptureArmed
  uint8_t pad1[60];
  alignas(64) TraceControl trace;
  alignas(64) CaptureControl capture;
  TraceRing trace_rings[kMaxWorkers];
  CaptureRing capture_rings[kMaxWorkers];
};

// Shared between processes through a file that starts as zeros: every
// field must be valid as zero bytes and the atomics must not need a lock.
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free);
static_assert(std::is_trivially_destructible_v<DebugHeader>);
static_assert(sizeof(DebugHeader) < 10u * 1024 * 1024, "the file is mostly sparse, but keep it small");

}  // namespace np::debug
