// Both processes rebuild tables of tens of megabytes on a full resync. By
// default glibc serves such blocks with mmap and returns them on free, so
// every resync pays a page fault and a page clear per 4 KiB again (about a
// third of a 10k-Service resync, perf/RESULTS.md). Kept in the heap instead,
// the next resync reuses pages already mapped; the cost is that the peak of
// one resync stays resident.
//
// The daemons link jemalloc (NP_HAVE_JEMALLOC); everything else, sanitized
// builds included, uses glibc's malloc, which the tuning below is for.
#pragma once

#include <malloc.h>

#include <cstddef>
#include <cstdint>

#ifdef NP_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace np {

// Large blocks from the heap too (glibc caps M_MMAP_THRESHOLD at 32 MiB, a
// 10k-Service image is 42 MB), and up to 1 GiB of free heap kept. Tables
// are built on the main thread (the main arena grows with brk without
// limit); a thread of its own arena cannot get one block above 64 MiB
// without mmap, and none of ours asks for one.
// Under jemalloc this tunes the unused glibc heap only: jemalloc_conf.cc
// keeps freed pages mapped.
inline void KeepTableMemoryMapped() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

// Bytes allocated and not yet freed, whichever allocator serves malloc
// (for memory-per-object figures).
inline size_t HeapBytesInUse() {
#ifdef NP_HAVE_JEMALLOC
  uint64_t epoch = 1;
  size_t length = sizeof(epoch);
  mallctl("epoch", &epoch, &length, &epoch, length);  // refreshes the statistics
  size_t allocated = 0;
  length = sizeof(allocated);
  return mallctl("stats.allocated", &allocated, &length, nullptr, 0) == 0 ? allocated : 0;
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

}  // namespace np
