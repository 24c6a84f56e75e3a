#include "dataplane/conntrack/bucket_index.h"

#include <thread>
#include <utility>

namespace np::ct {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

bool BucketIndex::ClaimSlot(uint64_t hash, Claim* claim) const {
  const uint32_t home = Home(hash);
  uint32_t bucket_index = home;
  for (uint32_t distance = 0; distance < kProbeBuckets; ++distance) {
    Bucket& bucket = buckets_[bucket_index];
    for (uint32_t slot = 0; slot < kSlotsPerBucket; ++slot) {
      SlotWord expected = kSlotEmpty;
      // relaxed: a claimed slot publishes nothing; Publish's release does.
      if (bucket.slots[slot].load(std::memory_order_relaxed) == kSlotEmpty &&
          bucket.slots[slot].compare_exchange_strong(expected, kSlotClaimed,
                                                     std::memory_order_relaxed)) {
        *claim = Claim{home, bucket_index, slot, distance};
        return true;
      }
    }
    bucket_index = Next(bucket_index);
  }
  return false;
}

void BucketIndex::Publish(const Claim& claim, SlotWord word) const {
  // Count the passage before the word becomes visible: a reader that then
  // sees overflow == 0 in a passed bucket linearizes before this insert.
  for (uint32_t distance = 0, bucket = claim.home; distance < claim.distance; ++distance, bucket = Next(bucket)) {
    buckets_[bucket].overflow.fetch_add(1, std::memory_order_release);
  }
  buckets_[claim.bucket].slots[claim.slot].store(word, std::memory_order_release);
}

void BucketIndex::Abandon(const Claim& claim) const {
  buckets_[claim.bucket].slots[claim.slot].store(kSlotEmpty, std::memory_order_relaxed);
}

bool BucketIndex::Unlink(uint64_t hash, SlotWord word) const {
  const uint32_t home = Home(hash);
  uint32_t bucket_index = home;
  for (uint32_t distance = 0; distance < kProbeBuckets; ++distance) {
    Bucket& bucket = buckets_[bucket_index];
    for (uint32_t slot = 0; slot < kSlotsPerBucket; ++slot) {
      // A plain store, no CAS: only the thread that won BeginUnlink for this
      // entry removes its words, and inserters claim empty slots only, so
      // nobody else writes a slot holding `word`.
      if (bucket.slots[slot].load(std::memory_order_relaxed) == word) {
        bucket.slots[slot].store(kSlotEmpty, std::memory_order_release);
        for (uint32_t passed = 0, bucket = home; passed < distance; ++passed, bucket = Next(bucket)) {
          buckets_[bucket].overflow.fetch_sub(1, std::memory_order_release);
        }
        return true;
      }
    }
    bucket_index = Next(bucket_index);
  }
  return false;
}

void BucketIndex::Lock(uint32_t bucket) const {
  std::atomic<uint32_t>& lock = buckets_[bucket].writer_lock;
  uint32_t spins = 0;
  for (;;) {
    // acquire: what the previous holder published is visible to our checks.
    if (lock.exchange(1, std::memory_order_acquire) == 0) return;
    while (lock.load(std::memory_order_relaxed) != 0) {
      CpuRelax();
      // Held for a few hundred cycles at most; yield only when the holder
      // was descheduled (shared cores in tests).
      if (++spins % 1024 == 0) std::this_thread::yield();
    }
  }
}

void BucketIndex::Unlock(uint32_t bucket) const {
  buckets_[bucket].writer_lock.store(0, std::memory_order_release);
}

void BucketIndex::LockHomes(uint32_t first, uint32_t second) const {
  if (first > second) std::swap(first, second);
  Lock(first);
  if (second != first) Lock(second);
}

void BucketIndex::UnlockHomes(uint32_t first, uint32_t second) const {
  Unlock(first);
  if (second != first) Unlock(second);
}

void BucketIndex::Clear() const {
  for (uint32_t bucket = 0; bucket < bucket_count_; ++bucket) {
    buckets_[bucket].writer_lock.store(0, std::memory_order_relaxed);
    buckets_[bucket].overflow.store(0, std::memory_order_relaxed);
    for (auto& slot : buckets_[bucket].slots) slot.store(kSlotEmpty, std::memory_order_relaxed);
  }
}

bool BucketIndex::InsertExclusive(uint64_t hash, SlotWord word) const {
  Claim claim;
  if (!ClaimSlot(hash, &claim)) return false;
  Publish(claim, word);
  return true;
}

}  // namespace np::ct
