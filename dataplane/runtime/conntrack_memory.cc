#include "dataplane/runtime/conntrack_memory.h"

namespace np {
namespace {

template <class TableType>
Result<TableType> AttachOrCreate(SharedMemoryFile& file, const std::string& name, uint32_t capacity,
                                 bool* recovered) {
  const size_t bytes = TableType::RequiredBytes(capacity);
  bool created = false;
  auto opened = SharedMemoryFile::OpenOrCreate(name, bytes, &created);
  if (opened && !created && opened->size() != bytes) {
    // Another capacity: start afresh rather than guess.
    opened = Error{};
    SharedMemoryFile::Remove(name);
    opened = SharedMemoryFile::OpenOrCreate(name, bytes, &created);
  }
  if (!opened) return opened.error();
  file = std::move(opened).value();
  const ct::TableConfig config{capacity};
  if (!created) {
    auto table = TableType::Attach(file.data(), file.size(), config, ct::AttachMode::kRecover);
    if (table) {
      *recovered = true;
      return table;
    }
  }
  return TableType::Attach(file.data(), file.size(), config, ct::AttachMode::kCreate);
}

}  // namespace

Result<ConntrackMemory> ConntrackMemory::OpenOrCreate(const std::string& instance, uint32_t capacity,
                                                      const ct::Timeouts& timeouts) {
  ConntrackMemory memory;
  auto table = AttachOrCreate<ct::Table>(memory.table_file_, ShmName(instance, "conntrack"), capacity,
                                         &memory.recovered_);
  if (!table) return MakeError("conntrack: " + table.error().message);
  memory.table_ = table.value();
  memory.table_.SetTimeouts(timeouts);
  bool affinity_recovered = false;
  // Affinity entries are per client, far fewer than connections.
  const uint32_t affinity_capacity = capacity / 4 < 1024 ? 1024 : capacity / 4;
  auto affinity = AttachOrCreate<ct::AffinityTable>(memory.affinity_file_, ShmName(instance, "affinity"),
                                                    affinity_capacity, &affinity_recovered);
  if (!affinity) return MakeError("session affinity: " + affinity.error().message);
  memory.affinity_ = affinity.value();
  return memory;
}

Result<ConntrackMemory> ConntrackMemory::Observe(const std::string& instance) {
  ConntrackMemory memory;
  auto file = SharedMemoryFile::Open(ShmName(instance, "conntrack"), false);
  if (!file) return file.error();
  memory.table_file_ = std::move(file).value();
  auto table = ct::Table::Attach(memory.table_file_.data(), memory.table_file_.size(), ct::TableConfig{},
                                 ct::AttachMode::kObserve);
  if (!table) return MakeError("conntrack: " + table.error().message);
  memory.table_ = table.value();
  return memory;
}

}  // namespace np
