// A bucketed open-addressing index from a 64-bit key hash to (entry index,
// direction), living in shared memory. It stores no keys: the caller's
// `matches` callback compares the full key in the entry, so the same index
// serves the conntrack table (two keys per entry) and the affinity table
// (one key per entry).
//
// Layout: array of 64-byte buckets (any count, not only powers of two: the
// home bucket is picked by multiply-shift, so the index is sized to the
// table and not rounded up to twice its need), each holding 14 32-bit slot
// words plus two writer-side words. A key lives in its home bucket or, by
// linear probing, in one of the next kProbeBuckets - 1 buckets (wrapping).
//
// Slot word (32 bits; payload_bits = bit width of the entry count + 1):
//   0                     empty
//   kSlotClaimed (1)      reserved by an inserter, not yet visible
//   signature | (entry + 1) << 1 | direction     published
// The signature is the top 32 - payload_bits bits of the hash's high half
// (the home bucket uses the low half): 9 bits for a 2-million-entry pool,
// so about one key compare in 500 occupied slots reads an entry in vain.
// (entry + 1) keeps every published word above kSlotClaimed.
//
// Concurrency contract:
//  - Readers (any thread or process) never lock: acquire-load slot words,
//    compare signature, then the full key through `matches`.
//  - Inserters serialize per HOME bucket with `writer_lock`, so two threads
//    can never publish the same key twice (same key => same home). Slots
//    are still taken with a CAS because keys of other homes probe into the
//    same bucket. Insert = claim (CAS empty->claimed), fill, publish
//    (release store of the final word).
//  - Unlinkers (sweep, early drop, Remove) need no lock: they store empty
//    over the exact published word (release). Which thread may unlink an
//    entry is decided outside (EntryPool::BeginUnlink), and claims only take
//    empty slots, so nobody else writes that slot and each word is cleared once.
//  - `overflow` counts the keys that probed past this bucket; a lookup that
//    misses a bucket whose overflow is 0 stops there, so misses usually cost
//    one cache line. It is raised before a word is published and lowered
//    after it is cleared.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>

namespace np::ct {

using SlotWord = uint32_t;

inline constexpr uint32_t kSlotsPerBucket = 14;
// At 57% of the slots used (a full pool), 4 buckets (56 slots) of linear
// probing left a key without a slot about once per million inserts (an
// early drop at a table below capacity); 8 buckets did not in 8M inserts.
// Lookups stop at the first bucket nothing overflowed, so the longer range
// costs nothing until it is needed.
inline constexpr uint32_t kProbeBuckets = 8;
inline constexpr SlotWord kSlotEmpty = 0;
inline constexpr SlotWord kSlotClaimed = 1;
// Fewer signature bits than this would make most lookups read entries in vain.
inline constexpr uint32_t kMinSignatureBits = 6;
// Entry indices (+1) must fit the slot word beside the direction bit and the
// signature: 2^25 - 1 entries.
inline constexpr uint32_t kMaxIndexedEntries = (1u << (31 - kMinSignatureBits)) - 1;

struct alignas(64) Bucket {
  std::atomic<uint32_t> writer_lock;  // inserts of keys whose home is this bucket
  std::atomic<uint32_t> overflow;     // keys stored beyond this bucket by probing
  std::atomic<SlotWord> slots[kSlotsPerBucket];
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
  // `entry_count`: entries are numbered 0 .. entry_count - 1.
  BucketIndex(Bucket* buckets, uint32_t bucket_count, uint32_t entry_count)
      : buckets_(buckets), bucket_count_(bucket_count),
        payload_bits_(static_cast<uint32_t>(std::bit_width(entry_count)) + 1),
        signature_mask_(~((1u << payload_bits_) - 1)) {}

  // Multiply-shift maps the hash's low half onto [0, bucket_count).
  uint32_t Home(uint64_t hash) const {
    return static_cast<uint32_t>((static_cast<uint64_t>(static_cast<uint32_t>(hash)) * bucket_count_) >> 32);
  }
  uint32_t bucket_count() const { return bucket_count_; }
  uint32_t signature_bits() const { return 32 - payload_bits_; }
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&buckets_[Home(hash)], 0, 3); }

  SlotWord MakeWord(uint64_t hash, uint32_t entry, uint32_t direction) const {
    return Signature(hash) | ((entry + 1) << 1) | (direction & 1u);
  }
  uint32_t EntryOf(SlotWord word) const { return ((word & ~signature_mask_) >> 1) - 1; }
  static uint32_t DirectionOf(SlotWord word) { return word & 1u; }

  // The first published word of the home bucket whose signature matches, or
  // kSlotEmpty: what a pipelined lookup prefetches the entry of before
  // comparing keys. Inserts take the lowest free slot, so a key is usually
  // among the first few words. When there is no candidate, `*settled` says
  // whether the home bucket was the whole answer (nothing overflowed past
  // it): a miss without Find.
  SlotWord FirstCandidate(uint64_t hash, bool* settled) const {
    const SlotWord wanted = Signature(hash);
    const Bucket& bucket = buckets_[Home(hash)];
    for (uint32_t slot = 0; slot < kSlotsPerBucket; ++slot) {
      const SlotWord word = bucket.slots[slot].load(std::memory_order_acquire);
      if (IsCandidate(word, wanted)) {
        *settled = false;
        return word;
      }
    }
    *settled = bucket.overflow.load(std::memory_order_acquire) == 0;
    return kSlotEmpty;
  }

  // The published word whose signature matches and for which
  // `matches(word)` says the full key is equal, or kSlotEmpty.
  template <class Match>
  SlotWord Find(uint64_t hash, Match&& matches) const {
    const SlotWord wanted = Signature(hash);
    uint32_t bucket_index = Home(hash);
    for (uint32_t distance = 0; distance < kProbeBuckets; ++distance) {
      const Bucket& bucket = buckets_[bucket_index];
      for (uint32_t slot = 0; slot < kSlotsPerBucket; ++slot) {
        // acquire: pairs with Publish's release so the entry's fields are visible.
        const SlotWord word = bucket.slots[slot].load(std::memory_order_acquire);
        if (IsCandidate(word, wanted) && matches(word)) return word;
      }
      if (bucket.overflow.load(std::memory_order_acquire) == 0) break;
      bucket_index = Next(bucket_index);
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
        const SlotWord word = bucket.slots[slot].load(std::memory_order_acquire);
        if (word > kSlotClaimed) visit(word);
      }
      bucket_index = Next(bucket_index);
    }
  }

  // Reserves an empty slot in the probe range of `hash`. Caller holds the
  // home lock (uniqueness); the CAS guards against inserters of other homes.
  bool ClaimSlot(uint64_t hash, Claim* claim) const;
  // Makes a claimed slot visible. Everything the word points to must be
  // written before this call (release store).
  void Publish(const Claim& claim, SlotWord word) const;
  // Gives back a claimed, never published slot.
  void Abandon(const Claim& claim) const;
  // Clears the slot holding exactly `word` in the probe range of `hash`.
  bool Unlink(uint64_t hash, SlotWord word) const;

  // Writer locks of one or two home buckets, taken in index order.
  void LockHomes(uint32_t first, uint32_t second) const;
  void UnlockHomes(uint32_t first, uint32_t second) const;

  // Exclusive access only (create, recovery): empties every bucket.
  void Clear() const;
  // Exclusive access only: publishes `word` without locking (recovery).
  bool InsertExclusive(uint64_t hash, SlotWord word) const;

 private:
  SlotWord Signature(uint64_t hash) const { return static_cast<uint32_t>(hash >> 32) & signature_mask_; }
  bool IsCandidate(SlotWord word, SlotWord wanted) const {
    return (word & signature_mask_) == wanted && word > kSlotClaimed;
  }
  uint32_t Next(uint32_t bucket) const { return bucket + 1 == bucket_count_ ? 0 : bucket + 1; }
  void Lock(uint32_t bucket) const;
  void Unlock(uint32_t bucket) const;

  Bucket* buckets_ = nullptr;
  uint32_t bucket_count_ = 0;
  uint32_t payload_bits_ = 32;
  SlotWord signature_mask_ = 0;
};

}  // namespace np::ct
