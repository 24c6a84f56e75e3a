// Attach semantics on a real POSIX shared-memory file: restart recovery,
// observation from a second mapping, refusal of garbage.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "dataplane/conntrack/affinity.h"
#include "dataplane/conntrack/table.h"
#include "tests/conntrack/test_memory.h"

namespace np::ct {
namespace {

FlowKey Key(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
  FlowKey key;
  key.src_ip = src;
  key.dst_ip = dst;
  key.src_port = sport;
  key.dst_port = dport;
  key.protocol = kProtoTcp;
  return key;
}

class ShmFile {
 public:
  explicit ShmFile(size_t size) : size_(size) {
    name_ = "/np_ct_test_" + std::to_string(getpid());
    fd_ = shm_open(name_.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(ftruncate(fd_, static_cast<off_t>(size)), 0);
  }
  ~ShmFile() {
    close(fd_);
    shm_unlink(name_.c_str());
  }
  void* Map() const {
    void* memory = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    EXPECT_NE(memory, MAP_FAILED);
    return memory;
  }
  void Unmap(void* memory) const { munmap(memory, size_); }
  size_t size() const { return size_; }

 private:
  std::string name_;
  int fd_ = -1;
  size_t size_;
};

constexpr uint32_t kCapacity = 4096;

TEST(ShmAttach, RestartedDataplaneFindsItsEntriesAtAnotherAddress) {
  ShmFile file(Table::RequiredBytes(kCapacity));
  void* first = file.Map();
  uint32_t removed_entry = 0;
  {
    Result<Table> table = Table::Attach(first, file.size(), {kCapacity}, AttachMode::kCreate);
    ASSERT_TRUE(table.ok()) << table.error().message;
    for (uint16_t port = 1; port <= 1000; ++port) {
      EntryInit init;
      init.services_generation = 42;
      ASSERT_TRUE(table->Insert(Key(0x0a000001, port, 0x0a600001, 80),
                                Key(0x0af40101, 8080, 0x0a000001, port), init, 5)
                      .ok());
    }
    table->Touch(table->Lookup(Key(0x0a000001, 7, 0x0a600001, 80)).entry, Direction::kReply, 99,
                 6);
    // One entry retired but never reclaimed when the process "dies".
    removed_entry = table->Lookup(Key(0x0a000001, 1000, 0x0a600001, 80)).entry;
    ASSERT_TRUE(table->Remove(removed_entry));
  }
  // Map the same file a second time while the first mapping still exists:
  // a different address, as after a restart.
  void* second = file.Map();
  ASSERT_NE(first, second);
  file.Unmap(first);

  Result<Table> table = Table::Attach(second, file.size(), {kCapacity}, AttachMode::kRecover);
  ASSERT_TRUE(table.ok()) << table.error().message;
  EXPECT_EQ(table->ReadCounters().entries, 999u);
  EXPECT_EQ(table->ReadCounters().inserts, 1000u);  // counters survive
  for (uint16_t port = 1; port < 1000; ++port) {
    const LookupResult forward = table->Lookup(Key(0x0a000001, port, 0x0a600001, 80));
    const LookupResult backward = table->Lookup(Key(0x0af40101, 8080, 0x0a000001, port));
    ASSERT_TRUE(forward.hit()) << port;
    ASSERT_EQ(forward.entry, backward.entry);
    EXPECT_EQ(table->At(forward.entry).services_generation.load(), 42u);
  }
  EXPECT_FALSE(table->Lookup(Key(0x0a000001, 1000, 0x0a600001, 80)).hit());
  const Entry& touched = table->At(table->Lookup(Key(0x0a000001, 7, 0x0a600001, 80)).entry);
  EXPECT_EQ(touched.bytes[1].load(), 99u);
  EXPECT_TRUE(touched.status.load() & kSeenReply);
  // Fill up to capacity (the retired entry went back to the free list).
  uint32_t inserted = 0;
  for (uint16_t port = 2000; inserted < kCapacity - 999; ++port) {
    ASSERT_TRUE(table->Insert(Key(0x0a000002, port, 0x0a600001, 80),
                              Key(0x0af40101, 8080, 0x0a000002, port), {}, 7)
                    .ok());
    ++inserted;
  }

  // The CLI observes through its own mapping without changing anything.
  void* cli = file.Map();
  Result<Table> observer = Table::Attach(cli, file.size(), {}, AttachMode::kObserve);
  ASSERT_TRUE(observer.ok()) << observer.error().message;
  EXPECT_EQ(observer->ReadCounters().entries, kCapacity);
  EXPECT_EQ(observer->ForEach([](const EntrySnapshot&) {}), kCapacity);
  file.Unmap(cli);
  file.Unmap(second);
}

TEST(ShmAttach, RefusesGarbageWithAReason) {
  testing::TestMemory memory(Table::RequiredBytes(1024));  // 0xa5 everywhere
  Result<Table> table = Table::Attach(memory.data(), memory.size(), {1024}, AttachMode::kRecover);
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.error().message.find("bad magic 0xa5a5a5a5"), std::string::npos)
      << table.error().message;

  std::memset(memory.data(), 0, memory.size());
  table = Table::Attach(memory.data(), memory.size(), {}, AttachMode::kObserve);
  ASSERT_FALSE(table.ok());
  EXPECT_NE(table.error().message.find("never initialised"), std::string::npos);
}

TEST(ShmAttach, RefusesMismatchedLayouts) {
  testing::TestMemory memory(Table::RequiredBytes(1024));
  ASSERT_TRUE(Table::Attach(memory.data(), memory.size(), {1024}, AttachMode::kCreate).ok());

  Result<Table> resized =
      Table::Attach(memory.data(), memory.size(), {2048}, AttachMode::kRecover);
  ASSERT_FALSE(resized.ok());
  EXPECT_NE(resized.error().message.find("capacity 1024 in the file, 2048 configured"),
            std::string::npos)
      << resized.error().message;

  Result<AffinityTable> wrong_kind =
      AffinityTable::Attach(memory.data(), memory.size(), {}, AttachMode::kObserve);
  ASSERT_FALSE(wrong_kind.ok());
  EXPECT_NE(wrong_kind.error().message.find("holds a conntrack table"), std::string::npos)
      << wrong_kind.error().message;

  Result<Table> truncated =
      Table::Attach(memory.data(), memory.size() / 2, {}, AttachMode::kObserve);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.error().message.find("truncated"), std::string::npos);

  auto* header = static_cast<TableHeader*>(memory.data());
  header->version_major = 9;
  Result<Table> newer = Table::Attach(memory.data(), memory.size(), {}, AttachMode::kObserve);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().message.find("layout version 9." + std::to_string(kTableVersionMinor)), std::string::npos)
      << newer.error().message;
  header->version_major = kTableVersionMajor;
  header->entry_size = sizeof(Entry) + 32;
  Result<Table> resized_entry =
      Table::Attach(memory.data(), memory.size(), {}, AttachMode::kObserve);
  ASSERT_FALSE(resized_entry.ok());
  EXPECT_NE(resized_entry.error().message.find("record sizes"), std::string::npos);
  header->entry_size = sizeof(Entry);
  header->bucket_count *= 2;
  Result<Table> corrupt = Table::Attach(memory.data(), memory.size(), {}, AttachMode::kObserve);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.error().message.find("corrupt header"), std::string::npos);

  Result<Table> small = Table::Attach(memory.data(), 100, {1024}, AttachMode::kCreate);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.error().message.find("smaller than"), std::string::npos);
  Result<Table> zero = Table::Attach(memory.data(), memory.size(), {0}, AttachMode::kCreate);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("out of range"), std::string::npos);
}

}  // namespace
}  // namespace np::ct
