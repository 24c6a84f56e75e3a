// A worker's side of `npctl trace` and `npctl capture` (common/debug_abi.h).
//
// Cost when nothing is armed: BeginBurst does one relaxed load of the
// header's `armed` word per burst; each hook in the worker is then one
// compare of a pointer or a bool kept in this object (a predictable branch).
//
// Trace. A packet is "selected" when its tuple matches the filter (either
// orientation) or, once its connection is known, when that conntrack entry
// carried a traced packet before: the reply of a NATed connection has
// another tuple and is found that way. The selection is the mbuf itself, so
// a step hook called for any other packet (a generated ARP request, a packet
// dropped before it was parsed) records nothing. A selected packet gets its
// number and its `received` step only with its first real step, so packets
// that are looked at twice (parse, then conntrack) are numbered once.
//
// Capture. rx: every packet of the armed port's bursts, as received. tx:
// every packet enqueued on the armed port, after NAT and the MAC rewrite.
// One CLOCK_REALTIME reading per burst timestamps them.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "common/debug_abi.h"
#include "common/stats_abi.h"
#include "dataplane/conntrack/table.h"
#include "dataplane/packet/parse.h"
#include "dataplane/policy/policy_tables.h"

namespace np {

struct PortRuntime;

class TraceRecorder {
 public:
  TraceRecorder(debug::DebugHeader* header, uint16_t worker);

  // A new arming (sequence) replaces the cached filter.
  void Arm(uint32_t now_s);
  void Disarm() { armed_ = false, selected_ = nullptr; }
  bool armed() const { return armed_; }
  bool Selected(const rte_mbuf* mbuf) const { return mbuf == selected_; }

  // After parsing (stage one) and again once conntrack answered (stage two).
  // Inline: every packet pays them while a trace is armed.
  void SelectParsed(rte_mbuf* mbuf, const PacketMeta& meta, uint32_t rx_slot) {
    selected_ = nullptr;
    packet_ = 0;
    const bool matches = meta.ethertype == kEtherTypeArp
                             ? filter_.protocol == 0 && filter_.src_port == 0 && filter_.dst_port == 0 &&
                                   Matches(meta.arp.sender_ip, meta.arp.target_ip, 0, 0, 0)
                             : Matches(meta.src_ip, meta.dst_ip, meta.src_port, meta.dst_port, meta.protocol);
    if (matches) [[unlikely]]
      Take(mbuf, meta, rx_slot);
  }
  void SelectTracked(rte_mbuf* mbuf, const PacketMeta& meta, uint32_t rx_slot, ct::LookupResult found) {
    SelectParsed(mbuf, meta, rx_slot);
    if (selected_ == nullptr && found.hit() && EntryTraced(found.entry)) Take(mbuf, meta, rx_slot);
  }

  // Steps; each records only for the selected packet (callers check
  // Selected(mbuf) first, so that disarmed workers do not even call).
  void Arp(const ArpMeta& arp, uint32_t slot);
  void ArpReply(uint32_t slot);
  void Conntrack(debug::ConntrackOutcome outcome, ct::LookupResult found, const ct::Entry* entry);
  void Service(uint32_t frontend_ip, uint16_t frontend_port, uint8_t kind, uint32_t service_port_id);
  void Backend(uint32_t ip, uint16_t port, debug::BackendReason reason, uint32_t service_port_id);
  // A rewrite of the packet described by `meta` to the other tuple's reversed
  // addresses (see Worker::TranslateTracked); remembers the entry.
  void Nat(const PacketMeta& meta, const ct::FlowKey& other, uint32_t entry, ct::Direction direction);
  void Policy(const policy::FlowQuery* query, const policy::FlowVerdict* verdict);  // null: no NetworkPolicy
  void Dropped(stats::DropReason reason);
  void Sent(uint32_t slot, uint64_t next_hop_mac);

 private:
  // Either orientation; a zero filter field matches anything.
  bool Matches(uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port, uint8_t protocol) const {
    const debug::TraceFilter& f = filter_;
    if (f.protocol != 0 && f.protocol != protocol) return false;
    const auto one_way = [&f](uint32_t s, uint32_t d, uint16_t sp, uint16_t dp) {
      return (f.src_ip == 0 || f.src_ip == s) && (f.dst_ip == 0 || f.dst_ip == d) &&
             (f.src_port == 0 || f.src_port == sp) && (f.dst_port == 0 || f.dst_port == dp);
    };
    return one_way(src_ip, dst_ip, src_port, dst_port) || one_way(dst_ip, src_ip, dst_port, src_port);
  }
  void Take(rte_mbuf* mbuf, const PacketMeta& meta, uint32_t rx_slot);
  bool EntryTraced(uint32_t entry) const {
    // Most traces never remember an entry of this packet's: one load.
    return header_->trace.traced_entry_count.load(std::memory_order_acquire) != 0 && EntryListed(entry);
  }
  bool EntryListed(uint32_t entry) const;
  void RememberEntry(uint32_t entry);
  debug::TraceStep* Begin(debug::StepKind kind);  // nullptr: not recorded
  void Commit();

  debug::DebugHeader* header_;  // null: tracing unavailable (tests without a debug file)
  debug::TraceRing* ring_;
  uint16_t worker_;
  bool armed_ = false;
  uint32_t sequence_ = 0;
  debug::TraceFilter filter_{};
  uint32_t max_packets_ = 0;
  const rte_mbuf* selected_ = nullptr;
  uint32_t packet_ = 0;  // the selected packet's number; 0 until its first step
  // The selected packet as received, for its `received` step.
  uint32_t rx_src_ip_ = 0, rx_dst_ip_ = 0;
  uint16_t rx_src_port_ = 0, rx_dst_port_ = 0;
  uint8_t rx_protocol_ = 0, rx_tcp_flags_ = 0;
  bool rx_fragment_ = false, rx_has_l4_ = false;
  uint32_t rx_slot_ = 0;
  // ...and as it leaves (after NAT).
  uint32_t out_src_ip_ = 0, out_dst_ip_ = 0;
  uint16_t out_src_port_ = 0, out_dst_port_ = 0;
};

class PacketCapture {
 public:
  PacketCapture(debug::DebugHeader* header, uint16_t worker);
  void Arm(uint32_t now_s);
  void Disarm() { rx_slot_ = tx_slot_ = kNone; }
  bool armed() const { return rx_slot_ != kNone || tx_slot_ != kNone; }
  // Per burst: copies the burst when `slot` is captured for rx.
  void Received(uint32_t slot, rte_mbuf* const* packets, uint16_t count) {
    if (slot == rx_slot_) Copy(packets, count, debug::kCaptureRx);
  }
  void Transmitted(uint32_t slot, rte_mbuf* mbuf) {
    if (slot == tx_slot_) Copy(&mbuf, 1, debug::kCaptureTx);
  }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;
  void Copy(rte_mbuf* const* packets, uint16_t count, uint8_t direction);

  debug::DebugHeader* header_;
  debug::CaptureRing* ring_;
  uint32_t rx_slot_ = kNone, tx_slot_ = kNone;  // stats port slots captured, per direction
  uint32_t sequence_ = 0;
  uint32_t snaplen_ = 0;
  uint64_t time_ns_ = 0;
};

class DebugTap {
 public:
  DebugTap(debug::DebugHeader* header, uint16_t worker) : trace(header, worker), capture(header, worker), header_(header) {}

  // Once per burst, before anything else of the burst.
  void BeginBurst(uint32_t now_s) {
    const uint32_t armed = header_ != nullptr ? header_->armed.load(std::memory_order_relaxed) : 0;
    if (armed == armed_) [[likely]] {
      if (armed == 0) return;
    }
    Rearm(armed, now_s);
  }

  TraceRecorder trace;
  PacketCapture capture;

 private:
  void Rearm(uint32_t armed, uint32_t now_s);
  debug::DebugHeader* header_;
  uint32_t armed_ = 0;
};

}  // namespace np
