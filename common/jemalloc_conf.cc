// jemalloc's start-up options for the processes that link it (meson's
// allocator_dep): freed pages are never purged. A full resync frees and
// rebuilds tens of megabytes; purged pages fault back in (with a clear) on
// the next one, which cost a 10k-Service resync ~20 ms in encode and apply.
// Resident memory stays at the largest resync's peak, as glibc's tuning in
// allocator_tuning.h keeps it for the other processes.
#include <jemalloc/jemalloc.h>

extern "C" {
const char* malloc_conf = "dirty_decay_ms:-1";
}
