// One worker's private stock of pool entries (process memory), so that a
// connection's insert and removal touch no shared pool word.
//
//  - Free entries: an array of indices. Allocate pops one; when it is empty,
//    a batch is taken from the shared free list with one CAS
//    (EntryPool::AllocateBatch); when it overflows, half goes back with one
//    CAS (EntryPool::FreeBatch).
//  - Retired entries (unlinked by this worker, maybe still read by others)
//    are chained through PoolLink::next into an open batch. Once per loop
//    the worker seals the open batch with a grace-period token
//    (rte_rcu_qsbr_start) and, without waiting, reclaims the oldest sealed
//    batches whose token has passed (rte_rcu_qsbr_check(..., false)) into
//    its free entries. No worker ever waits for a grace period.
//
// - Live-entry credit: capacity reserved in the table's live_entries a batch
//   at a time, so that a connection's insert and removal add nothing to that
//   shared word either (one atomic add per kCreditBatch connections, not two
//   per connection). What the worker holds unused is mirrored in its slot of
//   the table header, so readers still count live entries exactly. Near a
//   full table a batch shrinks to what fits, so the capacity stays a hard
//   bound; other workers' unused credit (at most 2 x kCreditBatch each) may
//   make an insert early-drop a little before the last place is taken.
//
// Nothing here is in shared memory on purpose: after a crash the entries a
// cache held are kFree, kFilling or kDying in the file, and recovery
// (TableMemory::RecoverExclusive) frees every entry that is not kLive. A
// worker that stops hands everything back with Drain().
//
// One thread only (the owning worker). The grace-period source is passed
// in by the caller (a callable), so this library needs no DPDK.
#pragma once

#include <atomic>
#include <cstdint>

#include "dataplane/conntrack/entry_pool.h"

namespace np::ct {

class EntryCache {
 public:
  static constexpr uint32_t kMaxFree = 256;
  static constexpr uint32_t kMaxSealed = 16;
  static constexpr uint32_t kCreditBatch = 32;

  EntryCache() = default;
  // Holds at most `pool.entry_count() / 256` free entries (8..kMaxFree):
  // what the caches of a few workers strand stays well inside the pool's
  // retire headroom (capacity/32 + 64, table_memory.cc), so a full table
  // still finds a free entry on the shared list for its early drop.
  explicit EntryCache(const EntryPool& pool);
  EntryCache(const EntryCache&) = delete;
  EntryCache& operator=(const EntryCache&) = delete;

  bool attached() const { return limit_ != 0; }

  // Reserve live-entry capacity in `live_entries` (bounded by `capacity`)
  // in batches, mirroring the unused part in `credit_slot`.
  void AttachCredit(std::atomic<uint32_t>* live_entries, std::atomic<uint32_t>* credit_slot, uint32_t capacity) {
    live_entries_ = live_entries;
    credit_slot_ = credit_slot;
    capacity_ = capacity;
  }
  bool has_credit() const { return credit_slot_ != nullptr; }
  // Room for one more live entry; false (nothing reserved) when the table is full.
  bool ReserveLive() {
    if (credit_ == 0 && !TakeCredit()) return false;
    SetCredit(credit_ - 1);
    return true;
  }
  // A live entry of this table is gone (or a reservation went unused).
  void ReleaseLive() {
    if (credit_ >= 2 * kCreditBatch) {
      live_entries_->fetch_sub(kCreditBatch, std::memory_order_relaxed);
      SetCredit(credit_ - kCreditBatch + 1);
      return;
    }
    SetCredit(credit_ + 1);
  }
  uint32_t credit() const { return credit_; }

  // A kFilling entry, or kNoEntry when this cache and the shared free list
  // are both empty.
  uint32_t Allocate() {
    if (free_count_ == 0 && !Refill()) return kNoEntry;
    const uint32_t entry = free_[--free_count_];
    pool_.MarkFilling(entry);
    return entry;
  }
  // An entry from Allocate that was never published: reusable at once.
  void FreeUnpublished(uint32_t entry) {
    pool_.MarkFree(entry);
    PushFree(entry);
  }
  // An entry this thread won BeginUnlink for and unlinked from the index.
  void Retire(uint32_t entry) {
    pool_.Link(entry).next.store(open_.first, std::memory_order_relaxed);
    if (open_.count == 0) open_.last = entry;
    open_.first = entry;
    ++open_.count;
  }

  bool has_open_batch() const { return open_.count != 0; }
  // Closes the open batch with `token`, a grace period started after every
  // entry in it was unlinked. False (the batch stays open and keeps
  // growing) when kMaxSealed batches wait already.
  bool SealOpenBatch(uint64_t token);
  // Reclaims sealed batches, oldest first, while `passed(token)` says their
  // grace period is over; returns the entries reclaimed.
  template <class Passed>
  uint32_t ReclaimPassed(Passed&& passed) {
    uint32_t reclaimed = 0;
    while (sealed_count_ != 0) {
      const Batch& oldest = sealed_[sealed_head_];
      if (!passed(oldest.token)) break;
      reclaimed += ReclaimOldest();
    }
    return reclaimed;
  }

  // Everything back to the pool: free entries to the free list, retired
  // ones (sealed or not) to the shared retire list, where the housekeeping
  // thread reclaims them after its own grace period.
  void Drain();

  uint32_t free_count() const { return free_count_; }
  // Retired by this cache and not reclaimed yet (open and sealed).
  uint32_t waiting_count() const;

 private:
  struct Batch {
    uint32_t first = kNoEntry;
    uint32_t last = kNoEntry;
    uint32_t count = 0;
    uint64_t token = 0;
  };

  bool Refill();
  bool TakeCredit();
  void SetCredit(uint32_t credit) {
    credit_ = credit;
    credit_slot_->store(credit, std::memory_order_relaxed);
  }
  void PushFree(uint32_t entry) {
    if (free_count_ == limit_) ReturnHalf();
    free_[free_count_++] = entry;
  }
  void ReturnHalf();
  uint32_t ReclaimOldest();

  EntryPool pool_;
  uint32_t limit_ = 0;  // free entries held at most (0: not attached)
  uint32_t free_count_ = 0;
  uint32_t free_[kMaxFree];
  Batch open_;
  Batch sealed_[kMaxSealed];  // ring, oldest at sealed_head_
  uint32_t sealed_head_ = 0;
  uint32_t sealed_count_ = 0;
  std::atomic<uint32_t>* live_entries_ = nullptr;
  std::atomic<uint32_t>* credit_slot_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t credit_ = 0;
};

}  // namespace np::ct
