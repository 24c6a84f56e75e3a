#include "dataplane/flows/flow_emitter.h"

#include <cstring>

namespace np::flows {
namespace {

void SetTuples(const ct::FlowKey& original, const ct::FlowKey& reply, FlowRecord& record) {
  record.original_src_ip = original.src_ip;
  record.original_dst_ip = original.dst_ip;
  record.original_src_port = original.src_port;
  record.original_dst_port = original.dst_port;
  record.reply_src_ip = reply.src_ip;
  record.reply_dst_ip = reply.dst_ip;
  record.reply_src_port = reply.src_port;
  record.reply_dst_port = reply.dst_port;
  record.protocol = original.protocol;
}

void SetPolicy(const FlowPolicy& policy, FlowRecord& record) {
  record.verdict = static_cast<uint8_t>(policy.verdict);
  record.egress_rule = policy.egress_rule;
  record.ingress_rule = policy.ingress_rule;
  record.src_identity = policy.src_identity;
  record.dst_identity = policy.dst_identity;
  record.policy_generation = policy.generation;
}

}  // namespace

// Every field of `record`, which is a ring slot still holding an older
// record: written in place, never cleared and copied (a 128-byte clear on
// the stack was a `rep stos`, twice per connection).
void FlowEmitter::FromEntry(const ct::Table& table, uint32_t entry_index, FlowEvent event, FlowRecord& record) {
  // Everything an entry knows. Its memory stays valid until reclaimed after
  // a grace period, which cannot end while this producer is inside its loop.
  const ct::Entry& entry = table.At(entry_index);
  record.flow_id = table.FlowId(entry_index);
  record.start_ns = table.StartNs(entry_index);
  record.time_ns = NowNs();
  SetTuples(entry.tuple[0], entry.tuple[1], record);
  record.event = static_cast<uint8_t>(event);
  record.end_reason = 0;
  record.nat_flags = entry.nat_flags;
  record.origin_flags = entry.origin_flags;
  record.tcp_state = entry.tcp_state.load(std::memory_order_relaxed);
  record.producer = producer_;
  record.service_port_id = entry.service_port_id;
  SetPolicy(FlowPolicy{}, record);
  std::memset(record.reserved0, 0, sizeof(record.reserved0));
  for (int direction = 0; direction < 2; ++direction) {
    record.packets[direction] = entry.packets[direction].load(std::memory_order_relaxed);
    record.bytes[direction] = entry.bytes[direction].load(std::memory_order_relaxed);
  }
}

void FlowEmitter::Start(const ct::Table& table, uint32_t entry, const FlowPolicy& policy) {
  if (!enabled_) return;
  FlowRecord* record = ring_->Reserve();
  if (record == nullptr) return;
  FromEntry(table, entry, FlowEvent::kStart, *record);
  SetPolicy(policy, *record);
  ring_->Commit();
}

void FlowEmitter::Update(const ct::Table& table, uint32_t entry) {
  if (!enabled_) return;
  FlowRecord* record = ring_->Reserve();
  if (record == nullptr) return;
  FromEntry(table, entry, FlowEvent::kUpdate, *record);
  ring_->Commit();
}

void FlowEmitter::End(const ct::Table& table, uint32_t entry, EndReason reason) {
  if (!enabled_) return;
  FlowRecord* record = ring_->Reserve();
  if (record == nullptr) return;
  FromEntry(table, entry, FlowEvent::kEnd, *record);
  record->end_reason = static_cast<uint8_t>(reason);
  ring_->Commit();
}

void FlowEmitter::Denied(const DeniedFlow& flow, const FlowPolicy& policy) {
  if (!enabled_) return;
  FlowRecord* slot = ring_->Reserve();
  if (slot == nullptr) return;
  FlowRecord& record = *slot;
  record.flow_id = 0;
  record.time_ns = NowNs();
  record.start_ns = record.time_ns;
  SetTuples(flow.original, flow.reply, record);
  record.event = static_cast<uint8_t>(FlowEvent::kDenied);
  record.end_reason = 0;
  record.nat_flags = flow.nat_flags;
  record.origin_flags = 0;
  record.tcp_state = 0;
  record.producer = producer_;
  record.service_port_id = flow.service_port_id;
  SetPolicy(policy, record);
  std::memset(record.reserved0, 0, sizeof(record.reserved0));
  record.packets[0] = 1;
  record.packets[1] = 0;
  record.bytes[0] = flow.bytes;
  record.bytes[1] = 0;
  ring_->Commit();
}

}  // namespace np::flows
