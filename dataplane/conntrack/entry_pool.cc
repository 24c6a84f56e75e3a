#include "dataplane/conntrack/entry_pool.h"

namespace np::ct {
namespace {

constexpr uint32_t HeadIndex(uint64_t head) { return static_cast<uint32_t>(head); }
constexpr uint64_t NextHead(uint64_t old_head, uint32_t index) {
  return (((old_head >> 32) + 1) << 32) | index;
}

}  // namespace

uint32_t EntryPool::Allocate() const {
  // acquire: pairs with the release of whoever pushed the head, so its
  // `next` link is visible. A stale `next` (entry popped and pushed again
  // meanwhile) is harmless: the tag makes the CAS fail.
  uint64_t head = words_->free_head.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t entry = HeadIndex(head);
    if (entry == kNoEntry) return kNoEntry;
    const uint32_t next = Link(entry).next.load(std::memory_order_relaxed);
    if (words_->free_head.compare_exchange_weak(head, NextHead(head, next),
                                                std::memory_order_acquire,
                                                std::memory_order_acquire)) {
      MarkFilling(entry);
      return entry;
    }
  }
}

uint32_t EntryPool::AllocateBatch(uint32_t* out, uint32_t max) const {
  // As Allocate, but walks up to `max` links before the CAS. The walk may
  // read links of entries that others pop and reuse meanwhile (a reused
  // entry's `next` holds its creation time): such a walk ends in a failed
  // CAS because the tag moved, and out-of-range links only end it early.
  uint64_t head = words_->free_head.load(std::memory_order_acquire);
  for (;;) {
    uint32_t count = 0;
    uint32_t entry = HeadIndex(head);
    while (count < max && entry < entry_count_) {
      out[count++] = entry;
      entry = Link(entry).next.load(std::memory_order_relaxed);
    }
    if (count == 0) return 0;
    if (entry >= entry_count_) entry = kNoEntry;
    if (words_->free_head.compare_exchange_weak(head, NextHead(head, entry),
                                                std::memory_order_acquire,
                                                std::memory_order_acquire)) {
      return count;
    }
  }
}

void EntryPool::FreeBatch(const uint32_t* entries, uint32_t count) const {
  if (count == 0) return;
  for (uint32_t i = 0; i + 1 < count; ++i) {
    Link(entries[i]).next.store(entries[i + 1], std::memory_order_relaxed);
  }
  PushFreeChain(entries[0], entries[count - 1]);
}

void EntryPool::RetireChain(uint32_t first, uint32_t last, uint32_t count) const {
  uint32_t head = words_->retired_head.load(std::memory_order_relaxed);
  do {
    Link(last).next.store(head, std::memory_order_relaxed);
  } while (!words_->retired_head.compare_exchange_weak(head, first, std::memory_order_release,
                                                       std::memory_order_relaxed));
  if (count != 0) words_->retired_count.fetch_add(count, std::memory_order_relaxed);
}

void EntryPool::PushFreeChain(uint32_t first, uint32_t last) const {
  uint64_t head = words_->free_head.load(std::memory_order_relaxed);
  do {
    Link(last).next.store(HeadIndex(head), std::memory_order_relaxed);
  } while (!words_->free_head.compare_exchange_weak(head, NextHead(head, first),
                                                    std::memory_order_release,
                                                    std::memory_order_relaxed));
}

void EntryPool::FreeUnpublished(uint32_t entry) const {
  MarkFree(entry);
  PushFreeChain(entry, entry);
}

bool EntryPool::BeginUnlink(uint32_t entry) const {
  PoolLink& link = Link(entry);
  uint32_t life = link.life.load(std::memory_order_relaxed);
  while (LifeStateOf(life) == LifeState::kLive) {
    if (link.life.compare_exchange_weak(life, WithState(life, LifeState::kDying),
                                        std::memory_order_acq_rel, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

void EntryPool::Retire(uint32_t entry) const { RetireChain(entry, entry, 1); }

RetiredBatch EntryPool::DetachRetired() const {
  RetiredBatch batch;
  batch.head = words_->retired_head.exchange(kNoEntry, std::memory_order_acquire);
  for (uint32_t entry = batch.head; entry != kNoEntry;
       entry = Link(entry).next.load(std::memory_order_relaxed)) {
    ++batch.count;
  }
  words_->retired_count.fetch_sub(batch.count, std::memory_order_relaxed);
  return batch;
}

uint32_t EntryPool::Reclaim(RetiredBatch batch) const {
  if (batch.empty()) return 0;
  uint32_t last = batch.head;
  uint32_t count = 0;
  for (uint32_t entry = batch.head; entry != kNoEntry;) {
    MarkFree(entry);
    last = entry;
    ++count;
    entry = Link(entry).next.load(std::memory_order_relaxed);
  }
  PushFreeChain(batch.head, last);  // the chain is already linked through `next`
  return count;
}

void EntryPool::Format() const {
  for (uint32_t entry = 0; entry < entry_count_; ++entry) {
    Link(entry).life.store(0, std::memory_order_relaxed);
  }
  ResetListsExclusive();
  for (uint32_t entry = entry_count_; entry-- > 0;) PushFreeExclusive(entry);
}

void EntryPool::ResetListsExclusive() const {
  words_->free_head.store(kNoEntry, std::memory_order_relaxed);
  words_->retired_head.store(kNoEntry, std::memory_order_relaxed);
  words_->retired_count.store(0, std::memory_order_relaxed);
}

void EntryPool::PushFreeExclusive(uint32_t entry) const {
  PoolLink& link = Link(entry);
  const uint32_t life = link.life.load(std::memory_order_relaxed);
  if (LifeStateOf(life) != LifeState::kFree) {
    link.life.store(WithState(life + 4u, LifeState::kFree), std::memory_order_relaxed);
  }
  const uint64_t head = words_->free_head.load(std::memory_order_relaxed);
  link.next.store(HeadIndex(head), std::memory_order_relaxed);
  words_->free_head.store(NextHead(head, entry), std::memory_order_release);
}

}  // namespace np::ct
