// Both processes rebuild tables of tens of megabytes on a full resync. By
// default glibc serves such blocks with mmap and returns them on free, so
// every resync pays a page fault and a page clear per 4 KiB again (about a
// third of a 10k-Service resync, perf/RESULTS.md). Kept in the heap instead,
// the next resync reuses pages already mapped; the cost is that the peak of
// one resync stays resident.
#pragma once

#include <malloc.h>

namespace np {

// Large blocks from the heap too (glibc caps M_MMAP_THRESHOLD at 32 MiB, a
// 10k-Service image is 42 MB), and up to 1 GiB of free heap kept. Tables
// are built on the main thread (the main arena grows with brk without
// limit); a thread of its own arena cannot get one block above 64 MiB
// without mmap, and none of ours asks for one.
inline void KeepTableMemoryMapped() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace np
