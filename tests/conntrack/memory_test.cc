// Bytes per connection from the real allocation sizes: the shared-memory
// file the dataplane creates for a capacity (Table::RequiredBytes is what
// ConntrackMemory sizes /dev/shm/nodeplane.<instance>.conntrack with),
// divided by that capacity, with its breakdown. Issue 5's target: at most
// 128 bytes per IPv4 connection, both directions, NAT and every field
// included. Printed for perf/RESULTS.md ("Memory per connection").
#include <cstdio>

#include <gtest/gtest.h>

#include "dataplane/conntrack/affinity.h"
#include "dataplane/conntrack/table.h"

namespace np::ct {
namespace {

struct PerConnection {
  double total = 0, entries = 0, side = 0, index = 0, header = 0;
};

PerConnection Measure(const TableShape& shape, uint32_t capacity) {
  TableLayout layout;
  EXPECT_TRUE(TableMemory::Plan(shape, capacity, &layout));
  const double per = 1.0 / capacity;
  PerConnection bytes;
  bytes.total = static_cast<double>(layout.total_bytes) * per;
  bytes.entries = static_cast<double>(layout.pool_size) * shape.entry_size * per;
  bytes.side = static_cast<double>(layout.pool_size) * shape.side_size * per;
  bytes.index = static_cast<double>(layout.bucket_count) * sizeof(Bucket) * per;
  bytes.header = static_cast<double>(layout.buckets_offset) * per;
  return bytes;
}

TEST(MemoryPerConnection, Ipv4ConntrackFitsIn128Bytes) {
  // What an IPv6 entry would take: the same entry with two 40-byte keys
  // (16-byte addresses) instead of two 16-byte ones; nodeplane tracks no
  // IPv6 yet, this is the layout arithmetic only.
  TableShape ipv6 = Table::Shape();
  ipv6.entry_size += 2 * (40 - sizeof(FlowKey));
  for (uint32_t capacity : {65536u, 1000000u, 2097152u, 8388608u}) {
    const PerConnection v4 = Measure(Table::Shape(), capacity);
    const PerConnection v6 = Measure(ipv6, capacity);
    const uint32_t affinity_capacity = capacity / 4 < 1024 ? 1024 : capacity / 4;  // ConntrackMemory's choice
    const double affinity =
        static_cast<double>(AffinityTable::RequiredBytes(affinity_capacity)) / capacity;
    TableLayout layout;
    TableMemory::Plan(Table::Shape(), capacity, &layout);
    std::printf("capacity %8u: conntrack %.1f B/connection (entries %zu B x %u pool = %.1f, side %.1f, "
                "index %.1f in %u buckets, header %.3f); session-affinity table %.1f more; "
                "IPv6 entry (estimate) %.1f\n",
                capacity, v4.total, sizeof(Entry), layout.pool_size, v4.entries, v4.side, v4.index,
                layout.bucket_count, v4.header, affinity, v6.total);
    EXPECT_LE(v4.total, 128.0) << capacity;
  }
}

}  // namespace
}  // namespace np::ct
