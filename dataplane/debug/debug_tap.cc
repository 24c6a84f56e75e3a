#include "dataplane/debug/debug_tap.h"

#include <algorithm>
#include <cstring>

#include "common/shm_region.h"  // RealtimeNanoseconds

namespace np {

using debug::StepKind;

// ---- trace ---------------------------------------------------------------

TraceRecorder::TraceRecorder(debug::DebugHeader* header, uint16_t worker)
    : header_(header), ring_(header != nullptr ? &header->trace_rings[worker] : nullptr), worker_(worker) {}

void TraceRecorder::Arm(uint32_t now_s) {
  const debug::TraceControl& control = header_->trace;
  const uint32_t expiry = control.expiry_s.load(std::memory_order_relaxed);
  if (expiry != 0 && now_s > expiry) return Disarm();  // npctl went away without disarming
  const uint32_t sequence = control.sequence.load(std::memory_order_acquire);
  if (sequence != sequence_) {
    sequence_ = sequence;
    filter_ = control.filter;
    max_packets_ = control.max_packets;
  }
  armed_ = true;
  selected_ = nullptr;
}

void TraceRecorder::Take(rte_mbuf* mbuf, const PacketMeta& meta, uint32_t rx_slot) {
  const bool arp = meta.ethertype == kEtherTypeArp;
  selected_ = mbuf;
  rx_src_ip_ = arp ? meta.arp.sender_ip : meta.src_ip;
  rx_dst_ip_ = arp ? meta.arp.target_ip : meta.dst_ip;
  rx_src_port_ = arp ? 0 : meta.src_port;
  rx_dst_port_ = arp ? 0 : meta.dst_port;
  rx_protocol_ = arp ? 0 : meta.protocol;
  rx_tcp_flags_ = arp ? 0 : meta.tcp_flags;
  rx_fragment_ = !arp && meta.is_fragment, rx_has_l4_ = !arp && meta.has_l4;
  rx_slot_ = rx_slot;
  out_src_ip_ = rx_src_ip_, out_dst_ip_ = rx_dst_ip_, out_src_port_ = rx_src_port_, out_dst_port_ = rx_dst_port_;
}

bool TraceRecorder::EntryListed(uint32_t entry) const {
  const debug::TraceControl& control = header_->trace;
  const uint32_t count = std::min(control.traced_entry_count.load(std::memory_order_acquire), debug::kMaxTracedEntries);
  for (uint32_t i = 0; i < count; ++i)
    if (control.traced_entries[i].load(std::memory_order_acquire) == entry) return true;
  return false;
}

void TraceRecorder::RememberEntry(uint32_t entry) {
  if (EntryListed(entry)) return;
  debug::TraceControl& control = header_->trace;
  if (control.traced_entry_count.load(std::memory_order_relaxed) >= debug::kMaxTracedEntries) return;
  // Claim a slot, then fill it: a reader that sees the count before the
  // entry finds kNoEntry there (npctl writes it at arming) and misses at
  // most that one packet.
  const uint32_t slot = control.traced_entry_count.fetch_add(1, std::memory_order_relaxed);
  if (slot < debug::kMaxTracedEntries) control.traced_entries[slot].store(entry, std::memory_order_release);
}

debug::TraceStep* TraceRecorder::Begin(StepKind kind) {
  if (packet_ == 0) {
    // The packet's first step: give it a number (the limit counts packets,
    // not steps) and record how it came in.
    const uint32_t number = header_->trace.packets_started.fetch_add(1, std::memory_order_relaxed) + 1;
    if (number > max_packets_) {
      selected_ = nullptr;
      return nullptr;
    }
    packet_ = number;
    if (debug::TraceStep* step = Begin(StepKind::kReceived)) {
      step->ip[0] = rx_src_ip_, step->ip[1] = rx_dst_ip_;
      step->port[0] = rx_src_port_, step->port[1] = rx_dst_port_;
      step->a = rx_protocol_, step->b = rx_tcp_flags_, step->slot = static_cast<uint8_t>(rx_slot_);
      step->value[0] = worker_;
      step->value[1] = (rx_fragment_ ? debug::kReceivedFragment : 0u) | (rx_has_l4_ ? debug::kReceivedHasL4 : 0u);
      Commit();
    }
  }
  debug::TraceStep* step = ring_->Reserve();
  if (step == nullptr) return nullptr;
  std::memset(step, 0, sizeof(*step));
  step->sequence = sequence_;
  step->packet = packet_;
  step->kind = static_cast<uint8_t>(kind);
  return step;
}

void TraceRecorder::Commit() { ring_->Commit(); }

void TraceRecorder::Arp(const ArpMeta& arp, uint32_t slot) {
  if (debug::TraceStep* step = Begin(StepKind::kArp)) {
    step->ip[0] = arp.sender_ip, step->ip[1] = arp.target_ip;
    step->a = static_cast<uint8_t>(arp.opcode), step->slot = static_cast<uint8_t>(slot);
    Commit();
  }
}

void TraceRecorder::ArpReply(uint32_t slot) {
  if (debug::TraceStep* step = Begin(StepKind::kArpReply)) {
    step->slot = static_cast<uint8_t>(slot);
    Commit();
  }
}

void TraceRecorder::Conntrack(debug::ConntrackOutcome outcome, ct::LookupResult found, const ct::Entry* entry) {
  if (found.hit()) RememberEntry(found.entry);
  if (debug::TraceStep* step = Begin(StepKind::kConntrack)) {
    step->a = static_cast<uint8_t>(outcome);
    step->b = static_cast<uint8_t>(found.direction);
    step->value[0] = found.entry;
    step->value[1] = entry != nullptr ? entry->tcp_state.load(std::memory_order_relaxed) : 0;
    Commit();
  }
}

void TraceRecorder::Service(uint32_t frontend_ip, uint16_t frontend_port, uint8_t kind, uint32_t service_port_id) {
  if (debug::TraceStep* step = Begin(StepKind::kService)) {
    step->ip[0] = frontend_ip, step->port[0] = frontend_port;
    step->a = kind, step->value[0] = service_port_id;
    Commit();
  }
}

void TraceRecorder::Backend(uint32_t ip, uint16_t port, debug::BackendReason reason, uint32_t service_port_id) {
  if (debug::TraceStep* step = Begin(StepKind::kBackend)) {
    step->ip[0] = ip, step->port[0] = port;
    step->a = static_cast<uint8_t>(reason), step->value[0] = service_port_id;
    Commit();
  }
}

void TraceRecorder::Nat(const PacketMeta& meta, const ct::FlowKey& other, uint32_t entry, ct::Direction direction) {
  RememberEntry(entry);
  // PacketMeta keeps the addresses as received: the tuple as sent is this one.
  out_src_ip_ = other.dst_ip, out_dst_ip_ = other.src_ip, out_src_port_ = other.dst_port, out_dst_port_ = other.src_port;
  if (debug::TraceStep* step = Begin(StepKind::kNat)) {
    step->ip[0] = meta.src_ip, step->ip[1] = meta.dst_ip;
    step->port[0] = meta.src_port, step->port[1] = meta.dst_port;
    step->ip[2] = other.dst_ip, step->ip[3] = other.src_ip;
    step->port[2] = other.dst_port, step->port[3] = other.src_port;
    step->b = static_cast<uint8_t>(direction);
    step->value[0] = entry;
    Commit();
  }
}

void TraceRecorder::Policy(const policy::FlowQuery* query, const policy::FlowVerdict* verdict) {
  if (debug::TraceStep* step = Begin(StepKind::kPolicy)) {
    if (query == nullptr || verdict == nullptr) {
      step->a = static_cast<uint8_t>(debug::PolicyVerdict::kNoPolicy);
    } else {
      step->a = static_cast<uint8_t>(verdict->allowed ? debug::PolicyVerdict::kAllowed : debug::PolicyVerdict::kDenied);
      step->b = static_cast<uint8_t>(verdict->reason);
      step->value[0] = verdict->egress_rule, step->value[1] = verdict->ingress_rule;
      step->value[2] = verdict->src_identity, step->value[3] = verdict->dst_identity;
      step->ip[0] = query->src_ipv4, step->ip[1] = query->dst_ipv4, step->port[1] = query->dst_port;
    }
    Commit();
  }
}

void TraceRecorder::Dropped(stats::DropReason reason) {
  if (debug::TraceStep* step = Begin(StepKind::kDropped)) {
    step->a = static_cast<uint8_t>(reason);
    Commit();
  }
  selected_ = nullptr;  // its story ends here
}

void TraceRecorder::Sent(uint32_t slot, uint64_t next_hop_mac) {
  if (debug::TraceStep* step = Begin(StepKind::kSent)) {
    step->ip[0] = out_src_ip_, step->ip[1] = out_dst_ip_;
    step->port[0] = out_src_port_, step->port[1] = out_dst_port_;
    step->slot = static_cast<uint8_t>(slot), step->mac = next_hop_mac;
    Commit();
  }
  selected_ = nullptr;
}

// ---- capture -------------------------------------------------------------

PacketCapture::PacketCapture(debug::DebugHeader* header, uint16_t worker)
    : header_(header), ring_(header != nullptr ? &header->capture_rings[worker] : nullptr) {}

void PacketCapture::Arm(uint32_t now_s) {
  const debug::CaptureControl& control = header_->capture;
  sequence_ = control.sequence.load(std::memory_order_acquire);
  const uint32_t expiry = control.expiry_s.load(std::memory_order_relaxed);
  if (expiry != 0 && now_s > expiry) return Disarm();  // npctl went away without disarming
  rx_slot_ = (control.direction & debug::kCaptureRx) ? control.port_slot : kNone;
  tx_slot_ = (control.direction & debug::kCaptureTx) ? control.port_slot : kNone;
  snaplen_ = std::min(control.snaplen, debug::kCaptureBytes);
  time_ns_ = RealtimeNanoseconds();
}

void PacketCapture::Copy(rte_mbuf* const* packets, uint16_t count, uint8_t direction) {
  for (uint16_t i = 0; i < count; ++i) {
    debug::CaptureRecord* record = ring_->Reserve();
    if (record == nullptr) continue;  // counted as dropped; the worker never waits
    const rte_mbuf* mbuf = packets[i];
    const uint32_t length = rte_pktmbuf_pkt_len(mbuf);
    const uint32_t captured = std::min(length, snaplen_);
    record->sequence = sequence_;
    record->original_length = length;
    record->time_ns = time_ns_;
    record->direction = direction;
    record->port_slot = static_cast<uint8_t>(direction == debug::kCaptureRx ? rx_slot_ : tx_slot_);
    // rte_pktmbuf_read copies across segments when it must.
    const void* bytes = rte_pktmbuf_read(mbuf, 0, captured, record->data);
    if (bytes != record->data) std::memcpy(record->data, bytes, captured);
    record->captured = static_cast<uint16_t>(captured);
    ring_->Commit();
  }
}

// ---- both ----------------------------------------------------------------

void DebugTap::Rearm(uint32_t armed, uint32_t now_s) {
  armed_ = armed;
  std::atomic_thread_fence(std::memory_order_acquire);  // the control blocks npctl wrote before arming
  if (armed & debug::kTraceArmed)
    trace.Arm(now_s);
  else
    trace.Disarm();
  if (armed & debug::kCaptureArmed)
    capture.Arm(now_s);
  else
    capture.Disarm();
}

}  // namespace np
