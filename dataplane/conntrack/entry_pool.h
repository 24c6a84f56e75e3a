// A view (copyable, const methods mutate only the shared memory) over a
// fixed array of entries in shared memory with a lock-free free list and a
// two-phase retirement, shared by the conntrack and affinity tables.
//
// Lifecycle of an entry (PoolLink::life, low 2 bits; the rest counts
// incarnations so that a reader in another process can tell reuse):
//
//   kFree --Allocate--> kFilling --MarkLive--> kLive --BeginUnlink--> kDying
//     ^                    |                                            |
//     +--FreeUnpublished---+            Retire (after unlinking keys) --+
//     +-------------------- Reclaim(batch) after a grace period <-------+
//
// Memory of an unlinked entry may still be read by workers that found it
// before the unlink, so it is reused only after the caller confirms that
// every worker passed a quiescent state (rte_rcu_qsbr in the dataplane):
//
//   RetiredBatch batch = pool.DetachRetired();   // everything retired so far
//   token = rte_rcu_qsbr_start(qsbr);
//   ... later, when rte_rcu_qsbr_check(qsbr, token, false) == 1:
//   pool.Reclaim(batch);
//
// Free list: Treiber stack with a 32-bit ABA tag beside the head index
// (multiple allocating workers, one reclaiming thread). Retire list: push-only
// stack emptied by one atomic exchange (many retiring threads, one detacher).
//
// Workers do not use these lists per entry: an EntryCache (entry_cache.h)
// takes and returns free entries in batches (AllocateBatch / FreeBatch, one
// CAS each) and keeps the entries it retires until its own grace period
// passes, so the shared words are touched once per batch.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace np::ct {

inline constexpr uint32_t kNoEntry = 0xffffffffu;

enum class LifeState : uint32_t { kFree = 0, kFilling = 1, kLive = 2, kDying = 3 };

inline constexpr LifeState LifeStateOf(uint32_t life) { return static_cast<LifeState>(life & 3u); }
inline constexpr uint32_t WithState(uint32_t life, LifeState state) {
  return (life & ~3u) | static_cast<uint32_t>(state);
}

// Embedded in every pooled entry type.
struct PoolLink {
  std::atomic<uint32_t> life;  // LifeState | incarnation << 2
  std::atomic<uint32_t> next;  // free- or retire-list successor, kNoEntry ends
};

// Entries detached from the retire list, waiting for a grace period. Plain
// value: the caller keeps it in its own memory until Reclaim.
struct RetiredBatch {
  uint32_t head = kNoEntry;
  uint32_t count = 0;
  bool empty() const { return head == kNoEntry; }
};

// The pool's shared words, placed in the table header.
struct PoolWords {
  std::atomic<uint64_t> free_head;     // (aba_tag << 32) | entry index
  std::atomic<uint32_t> retired_head;  // entry index
  std::atomic<uint32_t> retired_count;
};

class EntryPool {
 public:
  EntryPool() = default;
  EntryPool(PoolWords* words, char* entries, uint32_t entry_count, size_t stride,
            size_t link_offset)
      : words_(words), entries_(entries), entry_count_(entry_count), stride_(stride),
        link_offset_(link_offset) {}

  PoolLink& Link(uint32_t entry) const {
    return *reinterpret_cast<PoolLink*>(entries_ + entry * stride_ + link_offset_);
  }
  // acquire: a reader that sees kLive sees the fields written before MarkLive.
  uint32_t Life(uint32_t entry) const { return Link(entry).life.load(std::memory_order_acquire); }
  bool IsLive(uint32_t entry) const { return LifeStateOf(Life(entry)) == LifeState::kLive; }
  uint32_t entry_count() const { return entry_count_; }

  // kNoEntry when every entry is live or waiting for reclamation.
  uint32_t Allocate() const;
  void FreeUnpublished(uint32_t entry) const;
  void MarkLive(uint32_t entry) const { SetState(entry, LifeState::kLive, std::memory_order_release); }
  // The one thread that wins kLive -> kDying unlinks and retires the entry.
  bool BeginUnlink(uint32_t entry) const;
  void Retire(uint32_t entry) const;

  // --- batches, for per-worker caches (entry_cache.h) ---
  // Pops up to `max` free entries with one CAS; they stay kFree until
  // MarkFilling. Returns how many were written to `out`.
  uint32_t AllocateBatch(uint32_t* out, uint32_t max) const;
  // Pushes `count` entries that are kFree already (MarkFree) with one CAS.
  void FreeBatch(const uint32_t* entries, uint32_t count) const;
  void MarkFilling(uint32_t entry) const { SetState(entry, LifeState::kFilling, std::memory_order_relaxed); }
  // A new incarnation, kFree: after a grace period, or never published.
  void MarkFree(uint32_t entry) const {  // a new incarnation
    PoolLink& link = Link(entry);
    link.life.store(WithState(link.life.load(std::memory_order_relaxed) + 4u, LifeState::kFree),
                    std::memory_order_relaxed);
  }
  // Pushes a chain of retired entries, linked through `next` from `first` to
  // `last`, onto the retire list with one CAS (counted when `count` != 0).
  void RetireChain(uint32_t first, uint32_t last, uint32_t count) const;
  // Entries retired into a cache count as awaiting reclamation too.
  void CountAwaitingReclaim(int32_t delta) const {
    words_->retired_count.fetch_add(static_cast<uint32_t>(delta), std::memory_order_relaxed);
  }

  RetiredBatch DetachRetired() const;
  // Returns the entries of `batch` to the free list; count reclaimed.
  uint32_t Reclaim(RetiredBatch batch) const;

  // Exclusive access only: every entry free, allocated in index order.
  void Format() const;
  // Exclusive access only (recovery): empty both lists, then hand back the
  // entries that are not kept with PushFreeExclusive (in descending index
  // order so that allocation order stays ascending).
  void ResetListsExclusive() const;
  void PushFreeExclusive(uint32_t entry) const;

 private:
  void PushFreeChain(uint32_t first, uint32_t last) const;
  // The life word's state, its incarnation kept.
  void SetState(uint32_t entry, LifeState state, std::memory_order order) const {
    PoolLink& link = Link(entry);
    link.life.store(WithState(link.life.load(std::memory_order_relaxed), state), order);
  }

  PoolWords* words_ = nullptr;
  char* entries_ = nullptr;
  uint32_t entry_count_ = 0;
  size_t stride_ = 0;
  size_t link_offset_ = 0;
};

}  // namespace np::ct
