#include "dataplane/frag/fragment_table.h"

#include <bit>

#include "common/flow_hash.h"

namespace np {

namespace {
uint32_t PayloadLength(const PacketMeta& meta) {
  return static_cast<uint32_t>(meta.ip_total_length) - meta.ip_header_length;
}
}  // namespace

FragmentTable::FragmentTable(std::span<FragmentEntry> storage, uint64_t timeout)
    : entries_(storage.empty() ? nullptr : storage.data()),
      mask_(storage.empty() ? 0 : static_cast<uint32_t>(std::bit_floor(storage.size())) - 1),
      timeout_(timeout == 0 ? 1 : timeout) {
  for (size_t i = 0; i <= mask_ && i < storage.size(); ++i) entries_[i] = FragmentEntry{};
}

uint32_t FragmentTable::SlotOf(const PacketMeta& meta) const {
  const uint64_t key = (static_cast<uint64_t>(meta.src_ip) << 32) | meta.dst_ip;
  const uint64_t extra = (static_cast<uint64_t>(meta.ip_id) << 8) | meta.protocol;
  return static_cast<uint32_t>(MixBits(key ^ MixBits(extra))) & mask_;
}

bool FragmentTable::Matches(const FragmentEntry& entry, const PacketMeta& meta) {
  return entry.src_ip == meta.src_ip && entry.dst_ip == meta.dst_ip && entry.ip_id == meta.ip_id &&
         entry.protocol == meta.protocol;
}

void FragmentTable::Account(FragmentEntry& entry, const PacketMeta& meta) {
  entry.bytes_seen += PayloadLength(meta);
  if (!meta.more_fragments) entry.total_length = meta.frag_offset_bytes + PayloadLength(meta);
  if (entry.total_length != 0 && entry.bytes_seen >= entry.total_length) {
    entry.expires_at = 0;
    ++stats_.completed;
  }
}

void FragmentTable::RememberFirst(const PacketMeta& meta, uint64_t now) {
  if (entries_ == nullptr) return;
  const uint32_t home = SlotOf(meta);
  FragmentEntry* target = nullptr;
  FragmentEntry* oldest = nullptr;
  for (uint32_t probe = 0; probe < kProbeWindow; ++probe) {
    FragmentEntry& entry = entries_[(home + probe) & mask_];
    const bool live = entry.expires_at > now;
    if (live && Matches(entry, meta)) {  // duplicate first fragment: refresh
      target = &entry;
      break;
    }
    if (!live) {
      if (target == nullptr) target = &entry;
      continue;
    }
    if (oldest == nullptr || entry.expires_at < oldest->expires_at) oldest = &entry;
  }
  const bool refresh = target != nullptr && target->expires_at > now;
  if (target == nullptr) {
    target = oldest;
    ++stats_.evicted;
  }
  if (!refresh) {
    *target = FragmentEntry{};
    target->src_ip = meta.src_ip;
    target->dst_ip = meta.dst_ip;
    target->ip_id = meta.ip_id;
    target->protocol = meta.protocol;
  }
  target->src_port = meta.src_port;
  target->dst_port = meta.dst_port;
  target->expires_at = now + timeout_;
  ++stats_.first_fragments;
  if (!refresh) Account(*target, meta);
}

bool FragmentTable::Lookup(const PacketMeta& meta, uint64_t now, uint16_t& src_port,
                           uint16_t& dst_port) {
  if (entries_ != nullptr) {
    const uint32_t home = SlotOf(meta);
    for (uint32_t probe = 0; probe < kProbeWindow; ++probe) {
      FragmentEntry& entry = entries_[(home + probe) & mask_];
      if (entry.expires_at > now && Matches(entry, meta)) {
        src_port = entry.src_port;
        dst_port = entry.dst_port;
        ++stats_.hits;
        Account(entry, meta);
        return true;
      }
    }
  }
  ++stats_.unknown;
  return false;
}

uint32_t FragmentTable::LiveEntries(uint64_t now) const {
  uint32_t live = 0;
  if (entries_ == nullptr) return 0;
  for (uint32_t i = 0; i <= mask_; ++i) live += entries_[i].expires_at > now ? 1u : 0u;
  return live;
}

}  // namespace np
