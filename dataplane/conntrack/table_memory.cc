#include "dataplane/conntrack/table_memory.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

namespace np::ct {
namespace {

using Layout = TableLayout;

constexpr uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

// Room for entries unlinked but not yet reclaimed (one grace period of
// sweeping and early drops; see the header comment).
constexpr uint32_t RetireHeadroom(uint32_t capacity) { return capacity / 32 + 64; }
constexpr uint32_t kMaxCapacity = kMaxIndexedEntries - kMaxIndexedEntries / 32 - 64;

bool ComputeLayout(const TableShape& shape, uint32_t capacity, Layout* layout) {
  if (capacity == 0 || capacity > kMaxCapacity) return false;
  layout->pool_size = capacity + RetireHeadroom(capacity);
  const uint64_t keys = static_cast<uint64_t>(layout->pool_size) * shape.keys_per_entry;
  const uint64_t wanted = (keys + kKeysPerBucketAtFullPool - 1) / kKeysPerBucketAtFullPool;
  const uint64_t buckets = wanted < kProbeBuckets ? kProbeBuckets : wanted;
  layout->bucket_count = static_cast<uint32_t>(buckets);
  layout->buckets_offset = AlignUp(sizeof(TableHeader), 64);
  layout->entries_offset = AlignUp(layout->buckets_offset + buckets * sizeof(Bucket), 64);
  layout->side_offset =
      AlignUp(layout->entries_offset + static_cast<uint64_t>(layout->pool_size) * shape.entry_size, 64);
  layout->total_bytes =
      AlignUp(layout->side_offset + static_cast<uint64_t>(layout->pool_size) * shape.side_size, 64);
  return true;
}

const char* KindName(uint32_t kind) {
  switch (static_cast<TableKind>(kind)) {
    case TableKind::kConntrack: return "conntrack";
    case TableKind::kAffinity: return "session-affinity";
  }
  return "unknown";
}

Error Refuse(const TableShape& shape, const char* format, ...) {
  char detail[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(detail, sizeof(detail), format, args);
  va_end(args);
  return MakeError(std::string(KindName(static_cast<uint32_t>(shape.kind))) +
                   " table memory refused: " + detail);
}

Status Validate(const TableHeader& header, size_t size, const TableShape& shape,
                const TableConfig& config, AttachMode mode) {
  if (header.magic != kTableMagic) {
    return Refuse(shape, "bad magic 0x%08x (expected 0x%08x \"NPCT\"): not a nodeplane table, "
                  "or never initialised", header.magic, kTableMagic);
  }
  if (header.version_major != kTableVersionMajor) {
    return Refuse(shape, "layout version %u.%u, this build reads %u.x (delete the file to start "
                  "afresh)", header.version_major, header.version_minor, kTableVersionMajor);
  }
  if (header.kind != static_cast<uint32_t>(shape.kind)) {
    return Refuse(shape, "the file holds a %s table", KindName(header.kind));
  }
  if (header.header_size != sizeof(TableHeader) || header.bucket_size != sizeof(Bucket) ||
      header.entry_size != shape.entry_size || header.keys_per_entry != shape.keys_per_entry ||
      header.side_size != shape.side_size) {
    return Refuse(shape, "record sizes header/bucket/entry/keys/side %u/%u/%u/%u/%u, this build uses "
                  "%zu/%zu/%u/%u/%u", header.header_size, header.bucket_size, header.entry_size,
                  header.keys_per_entry, header.side_size, sizeof(TableHeader), sizeof(Bucket),
                  shape.entry_size, shape.keys_per_entry, shape.side_size);
  }
  if (mode == AttachMode::kRecover || config.capacity != 0) {
    if (header.capacity != config.capacity) {
      return Refuse(shape, "capacity %u in the file, %u configured (resizing needs a new file)",
                    header.capacity, config.capacity);
    }
  }
  Layout layout;
  if (!ComputeLayout(shape, header.capacity, &layout)) {
    return Refuse(shape, "capacity %u out of range", header.capacity);
  }
  if (header.pool_size != layout.pool_size || header.bucket_count != layout.bucket_count ||
      header.buckets_offset != layout.buckets_offset ||
      header.entries_offset != layout.entries_offset || header.side_offset != layout.side_offset ||
      header.total_bytes != layout.total_bytes) {
    return Refuse(shape, "layout fields do not match capacity %u (corrupt header)",
                  header.capacity);
  }
  if (header.total_bytes > size) {
    return Refuse(shape, "memory is %zu bytes, the table needs %llu (truncated file?)", size,
                  static_cast<unsigned long long>(header.total_bytes));
  }
  return Ok{};
}

}  // namespace

size_t TableMemory::RequiredBytes(const TableShape& shape, uint32_t capacity) {
  Layout layout;
  return ComputeLayout(shape, capacity, &layout) ? layout.total_bytes : 0;
}

bool TableMemory::Plan(const TableShape& shape, uint32_t capacity, TableLayout* layout) {
  return ComputeLayout(shape, capacity, layout);
}

Result<TableMemory> TableMemory::Attach(void* memory, size_t size, const TableShape& shape,
                                        const TableConfig& config, AttachMode mode) {
  if (memory == nullptr || reinterpret_cast<uintptr_t>(memory) % 64 != 0) {
    return Refuse(shape, "memory %p is not 64-byte aligned", memory);
  }
  if (size < sizeof(TableHeader)) {
    return Refuse(shape, "memory is %zu bytes, smaller than the %zu-byte header", size,
                  sizeof(TableHeader));
  }
  auto* header = static_cast<TableHeader*>(memory);
  if (mode == AttachMode::kCreate) {
    Layout layout;
    if (!ComputeLayout(shape, config.capacity, &layout)) {
      return Refuse(shape, "capacity %u out of range 1..%u", config.capacity, kMaxCapacity);
    }
    if (layout.total_bytes > size) {
      return Refuse(shape, "memory is %zu bytes, capacity %u needs %llu", size, config.capacity,
                    static_cast<unsigned long long>(layout.total_bytes));
    }
    std::memset(memory, 0, layout.total_bytes);
    header = new (memory) TableHeader{};
    header->version_major = kTableVersionMajor;
    header->version_minor = kTableVersionMinor;
    header->kind = static_cast<uint32_t>(shape.kind);
    header->header_size = sizeof(TableHeader);
    header->bucket_size = sizeof(Bucket);
    header->entry_size = shape.entry_size;
    header->keys_per_entry = shape.keys_per_entry;
    header->capacity = config.capacity;
    header->pool_size = layout.pool_size;
    header->bucket_count = layout.bucket_count;
    header->side_size = shape.side_size;
    header->hash_seed = config.hash_seed;
    header->buckets_offset = layout.buckets_offset;
    header->entries_offset = layout.entries_offset;
    header->side_offset = layout.side_offset;
    header->total_bytes = layout.total_bytes;
  } else if (Status valid = Validate(*header, size, shape, config, mode); !valid) {
    return valid.error();
  }

  TableMemory table;
  char* base = static_cast<char*>(memory);
  table.header = header;
  table.index = BucketIndex(reinterpret_cast<Bucket*>(base + header->buckets_offset),
                            header->bucket_count, header->pool_size);
  table.entries = base + header->entries_offset;
  table.side = base + header->side_offset;
  table.pool = EntryPool(&header->pool, table.entries, header->pool_size, header->entry_size,
                         shape.link_offset);
  table.capacity = header->capacity;
  table.hash_seed = header->hash_seed;

  if (mode == AttachMode::kCreate) {
    table.index.Clear();
    table.pool.Format();
    // The magic goes last: a crash while formatting leaves a refused file.
    std::atomic_thread_fence(std::memory_order_release);
    header->magic = kTableMagic;
  }
  return table;
}

}  // namespace np::ct
