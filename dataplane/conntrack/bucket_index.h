// A bucketed open-addressing index from a 64-bit key hash to (entry index,
// direction), living in shared memory. It stores no keys: the caller's
// `matches` callback compares the full key in the entry, so the same index
// serves the conntrack table (two keys per entry) and the affinity table
// (one key per entry).
//
// Layout: power-of-two array of 64-byte buckets, each holding 7 slot words
// plus two writer-side words. A key lives in its home bucket (hash & mask)
// or, by linear probing, in one of the next kProbeBuckets - 1 buckets.
//
// Slot word (64 bits):
//   0                     empty
//   kSlotClaimed (1)      reserved by an inserter, not yet visible
//   sig:32 | 1:1 | entry:30 | dir:1   published; sig = high half of the hash
//
// Concurrency contract:
//  - Readers (any thread or process) never lock: acquire-load slot words,
//    compare signature, then the full key through `matches`.
//  - Inserters serialize per HOME bucket with `writer_lock`, so two threads
//    can never publish the same key twice (same key => same home). Slots
//    are still taken with a CAS because keys of other homes probe into the
//    same bucket. Insert = claim (CAS empty->claimed), fill, publish
//    (release store of the final word).
//  - Unlinkers (sweep, early drop, Remove) need no lock: they CAS the exact
//    published word back to empty. Which thread may unlink an entry is
//    decided outside (EntryPool::BeginUnlink), so each word is cleared once.
//  - `overflow` counts the keys that probed past this bucket; a lookup that
//    misses a bucket whose overflow is 0 stops there, so misses usually cost
//    one cache line. It is raised before a word is published and lowered
//    after it is cleared.
#pragma once

#include <atomic>
#include <cstdint>

namespace np::ct {

inline constexpr uint32_t kSlotsPerBucket = 7;
inline constexpr uint32_t kProbeBuckets = 4;
inline constexpr uint64_t kSlotEmpty = 0;
inline constexpr uint64_t kSlotClaimed = 1;
inline constexpr uint64_t kPublishedBit = 0x80000000ull;
inline constexpr uint64_t kSignatureMask = 0xffffffff00000000ull;
inline constexpr uint64_t kMatchMask = kSignatureMask | kPublishedBit;
inline constexpr uint32_t kMaxIndexedEntries = 1u << 30;

inline constexpr uint64_t MakeSlotWord(uint64_t hash, uint32_t entry, uint32_t direction) {
  return (hash & kSignatureMask) | kPublishedBit | (static_cast<uint64_t>(entry) << 1) |
         (direction & 1u);
}
inline constexpr uint32_t SlotEntry(uint64_t word) {
  return static_cast<uint32_t>((word & ~kMatchMask) >> 1);
}
inline constexpr uint32_t SlotDirection(uint64_t word) { return static_cast<uint32_t>(word & 1u); }

struct alignas(64) Bucket {
  std::atomic<uint32_t> writer_lock;  // inserts of keys whose home is this bucket
  std::atomic<uint32_t> overflow;     // keys stored beyond this bucket by probing
  std::atomic<uint64_t> slots[kSlotsPerBucket];
};
static_assert(sizeof(Bucket) == 64, "one cache line per bucket");

class BucketIndex {
 public:
  // Where a claimed slot is; `distance` buckets past the key's home.
  struct Claim {
    uint32_t home = 0;
    uint32_t bucket = 0;
    uint32_t slot = 0;
    uint32_t distance = 0;
  };

  BucketIndex() = default;
  BucketIndex(Bucket* buckets, uint32_t bucket_count)
      : buckets_(buckets), mask_(bucket_count - 1) {}

  uint32_t Home(uint64_t hash) const { return static_cast<uint32_t>(hash) & mask_; }
  uint32_t bucket_count() const { return mask_ + 1; }
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&buckets_[Home(hash)], 0, 3); }

  // The published word whose signature matches and for which
  // `matches(word)` says the full key is equal, or kSlotEmpty.
  template <class Match>
  uint64_t Find(uint64_t hash, Match&& matches) const {
    const uint64_t wanted = (hash & kSignatureMask) | kPublishedBit;
    uint32_t bucket_index = Home(hash);
    for (uint32_t distance = 0; distance < kProbeBuckets; ++distance) {
      const Bucket& bucket = buckets_[bucket_index];
      for (uint32_t slot = 0; slot < kSlotsPerBucket; ++slot) {
        // acquire: pairs with Publish's release so the entry's fields are visible.
        const uint64_t word = bucket.slots[slot].load(std::memory_order_acquire);
        if ((word & kMatchMask) == wanted && matches(word)) return word;
      }
      if (bucket.overflow.load(std::memory_order_acquire) == 0) break;
      bucket_index = (bucket_index + 1) & mask_;
    }
    return kSlotEmpty;
  }

  // Calls visit(word) for every published word in the probe range of `hash`
  // (early drop looks for victims there).
  template <class Visit>
  void ForEachInProbeRange(uint64_t hash, Visit&& visit) const {
    uint32_t bucket_index = Home(hash);
    for (uint32_t distance = 0; distance < kProbeBuckets; ++distance) {
      const Bucket& bucket = buckets_[bucket_index];
      for (uint32_t slot = 0; slot < kSlotsPerBucket; ++slot) {
        const uint64_t word = bucket.slots[slot].load(std::memory_order_acquire);
        if (word & kPublishedBit) visit(word);
      }
      bucket_index = (bucket_index + 1) & mask_;
    }
  }

  // Reserves an empty slot in the probe range of `hash`. Caller holds the
  // home lock (uniqueness); the CAS guards against inserters of other homes.
  bool ClaimSlot(uint64_t hash, Claim* claim) const;
  // Makes a claimed slot visible. Everything the word points to must be
  // written before this call (release store).
  void Publish(const Claim& claim, uint64_t word) const;
  // Gives back a claimed, never published slot.
  void Abandon(const Claim& claim) const;
  // Clears the slot holding exactly `word` in the probe range of `hash`.
  bool Unlink(uint64_t hash, uint64_t word) const;

  // Writer locks of one or two home buckets, taken in index order.
  void LockHomes(uint32_t first, uint32_t second) const;
  void UnlockHomes(uint32_t first, uint32_t second) const;

  // Exclusive access only (create, recovery): empties every bucket.
  void Clear() const;
  // Exclusive access only: publishes `word` without locking (recovery).
  bool InsertExclusive(uint64_t hash, uint64_t word) const;

 private:
  void Lock(uint32_t bucket) const;
  void Unlock(uint32_t bucket) const;

  Bucket* buckets_ = nullptr;
  uint32_t mask_ = 0;
};

}  // namespace np::ct
