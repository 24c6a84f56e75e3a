#include "dataplane/conntrack/entry_cache.h"

#include <algorithm>

namespace np::ct {

EntryCache::EntryCache(const EntryPool& pool)
    : pool_(pool), limit_(std::clamp<uint32_t>(pool.entry_count() / 256, 8, kMaxFree)) {}

bool EntryCache::Refill() {
  // Half the cache: room is left for the entries this worker frees, so a
  // worker that inserts and removes at the same rate stops touching the
  // shared list altogether.
  free_count_ = pool_.AllocateBatch(free_, limit_ / 2);
  // Allocate pops from the end: reversed, entries still leave in list order
  // (ascending in a fresh table, which traces and goldens show).
  std::reverse(free_, free_ + free_count_);
  return free_count_ != 0;
}

bool EntryCache::TakeCredit() {
  // Reserve a whole batch, then give back what does not fit: the capacity
  // is never exceeded, and near a full table a batch shrinks to one place.
  const uint32_t before = live_entries_->fetch_add(kCreditBatch, std::memory_order_relaxed);
  const uint32_t fits = before >= capacity_ ? 0 : std::min(kCreditBatch, capacity_ - before);
  if (fits != kCreditBatch) live_entries_->fetch_sub(kCreditBatch - fits, std::memory_order_relaxed);
  SetCredit(fits);
  return fits != 0;
}

void EntryCache::ReturnHalf() {
  const uint32_t returned = limit_ / 2;
  free_count_ -= returned;
  pool_.FreeBatch(free_ + free_count_, returned);
}

bool EntryCache::SealOpenBatch(uint64_t token) {
  if (open_.count == 0) return true;
  if (sealed_count_ == kMaxSealed) return false;
  open_.token = token;
  sealed_[(sealed_head_ + sealed_count_) % kMaxSealed] = open_;
  ++sealed_count_;
  pool_.CountAwaitingReclaim(static_cast<int32_t>(open_.count));
  open_ = Batch{};
  return true;
}

uint32_t EntryCache::ReclaimOldest() {
  const Batch batch = sealed_[sealed_head_];
  sealed_head_ = (sealed_head_ + 1) % kMaxSealed;
  --sealed_count_;
  for (uint32_t entry = batch.first, left = batch.count; left != 0; --left) {
    // Read the link before PushFree: returning a half to the shared list
    // rewrites `next`.
    const uint32_t next = pool_.Link(entry).next.load(std::memory_order_relaxed);
    pool_.MarkFree(entry);
    PushFree(entry);
    entry = next;
  }
  pool_.CountAwaitingReclaim(-static_cast<int32_t>(batch.count));
  return batch.count;
}

void EntryCache::Drain() {
  if (has_credit() && credit_ != 0) {
    live_entries_->fetch_sub(credit_, std::memory_order_relaxed);
    SetCredit(0);
  }
  if (!attached()) return;
  pool_.FreeBatch(free_, free_count_);
  free_count_ = 0;
  for (; sealed_count_ != 0; --sealed_count_) {
    const Batch& batch = sealed_[sealed_head_];
    pool_.RetireChain(batch.first, batch.last, 0);  // counted when sealed
    sealed_head_ = (sealed_head_ + 1) % kMaxSealed;
  }
  if (open_.count != 0) pool_.RetireChain(open_.first, open_.last, open_.count);
  open_ = Batch{};
}

uint32_t EntryCache::waiting_count() const {
  uint32_t waiting = open_.count;
  for (uint32_t i = 0; i < sealed_count_; ++i) waiting += sealed_[(sealed_head_ + i) % kMaxSealed].count;
  return waiting;
}

}  // namespace np::ct
