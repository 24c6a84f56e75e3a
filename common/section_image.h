// Building and validating position-independent section images (shm_abi.h).
// Plain C++ with no DPDK dependency: the validator is what a fuzzer drives.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/shm_abi.h"

namespace np {

uint32_t Crc32(const uint8_t* data, size_t size);

// Slow path: the control plane assembles a section from typed tables.
class SectionBuilder {
 public:
  SectionBuilder(abi::SectionKind kind, uint32_t table_count, uint32_t strings_table);

  template <class T>
  void SetTable(uint32_t index, const std::vector<T>& records) {
    auto& table = tables_.at(index);
    table.elem_size = sizeof(T);
    table.count = static_cast<uint32_t>(records.size());
    table.view = nullptr;
    const auto* first = reinterpret_cast<const uint8_t*>(records.data());
    table.bytes.assign(first, first + records.size() * sizeof(T));
  }
  // Without a copy: `records` must outlive Finish().
  template <class T>
  void SetTableView(uint32_t index, const std::vector<T>& records) {
    auto& table = tables_.at(index);
    table.elem_size = sizeof(T);
    table.count = static_cast<uint32_t>(records.size());
    table.bytes.clear();
    table.view = reinterpret_cast<const uint8_t*>(records.data());
    table.view_size = records.size() * sizeof(T);
  }
  abi::StringRef AddString(std::string_view text);
  std::vector<uint8_t> Finish(uint64_t generation) const;

 private:
  struct Table {
    uint32_t elem_size = 1;
    uint32_t count = 0;
    std::vector<uint8_t> bytes;
    const uint8_t* view = nullptr;  // SetTableView: the caller's records instead of `bytes`
    size_t view_size = 0;
    const uint8_t* data() const { return view != nullptr ? view : bytes.data(); }
    size_t size() const { return view != nullptr ? view_size : bytes.size(); }
  };
  abi::SectionKind kind_;
  uint32_t strings_table_;
  std::vector<Table> tables_;
  std::string strings_;
};

// A structurally valid section: header checked, every table in bounds.
class SectionView {
 public:
  const abi::SectionHeader& header() const { return header_; }
  uint32_t Count(uint32_t table) const { return header_.tables[table].count; }
  // Copies the records out, reading only the first sizeof(T) bytes of each
  // (a newer minor version may have appended fields).
  template <class T>
  std::vector<T> Copy(uint32_t table) const {
    const abi::TableRef& ref = header_.tables[table];
    const uint8_t* first = data_ + ref.offset;
    if (ref.elem_size == sizeof(T) && reinterpret_cast<uintptr_t>(first) % alignof(T) == 0) {
      // One pass (no zero-filling first): a full services image is ~20 MB of these.
      const T* records = reinterpret_cast<const T*>(first);
      return std::vector<T>(records, records + ref.count);
    }
    std::vector<T> out;
    AppendRange(table, 0, ref.count, out);
    return out;
  }
  // Appends records [first, first + count) of `table` (the caller checked
  // them against Count()), as Copy() reads them.
  template <class T>
  void AppendRange(uint32_t table, uint32_t first, uint32_t count, std::vector<T>& out) const {
    const abi::TableRef& ref = header_.tables[table];
    const uint8_t* records = data_ + ref.offset + static_cast<size_t>(first) * ref.elem_size;
    const size_t at = out.size();
    out.resize(at + count);
    if (ref.elem_size == sizeof(T)) {
      if (count > 0) std::memcpy(out.data() + at, records, static_cast<size_t>(count) * sizeof(T));
      return;
    }
    for (uint32_t i = 0; i < count; ++i)
      std::memcpy(&out[at + i], records + static_cast<size_t>(i) * ref.elem_size, sizeof(T));
  }
  bool StringInBounds(abi::StringRef ref) const;
  std::string String(abi::StringRef ref) const;  // empty when out of bounds

 private:
  friend Result<SectionView> ParseSection(const uint8_t*, size_t, abi::SectionKind, const uint32_t*,
                                          uint32_t);
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t strings_table_ = 0;
  abi::SectionHeader header_{};
};

// Checks magic, ABI major, kind, size, checksum (when given) and that every
// table the reader knows (min_tables) lies inside the image with records at
// least as large as the reader's structs (checked per table by DecodeX()).
Result<SectionView> ParseSection(const uint8_t* data, size_t size, abi::SectionKind kind,
                                 const uint32_t* expected_crc, uint32_t min_tables);

// Fully decoded, cross-checked sections: what the dataplane builds from.
struct NodeImage {
  uint64_t generation = 0;
  abi::NodeInfo info{};
  std::string node_name;
  std::vector<abi::PortRecord> ports;
  std::vector<std::string> port_names;
  std::vector<std::string> port_devargs;
  std::vector<abi::RouteRecord> routes;
};

struct ServicesImage {
  uint64_t generation = 0;
  std::vector<abi::ServicePortRecord> service_ports;
  std::vector<std::string> service_port_names;
  std::vector<abi::FrontendRecord> frontends;
  std::vector<abi::BackendRecord> backends;
  std::vector<abi::MaglevEntry> maglev;
  std::vector<abi::CidrRecord> source_ranges;
};

// A decoded services delta (shm_abi.h, ServicesDeltaTable): `changed` holds
// the replaced or added service ports in the services image layout.
struct ServicesDelta {
  uint64_t generation = 0;       // of the delta section
  uint64_t base_generation = 0;  // the services generation it applies to
  uint32_t base_service_ports = 0;
  ServicesImage changed;
  std::vector<uint32_t> removed_ids;
};

Result<NodeImage> DecodeNodeSection(const uint8_t* data, size_t size, const uint32_t* expected_crc);
Result<ServicesImage> DecodeServicesSection(const uint8_t* data, size_t size,
                                            const uint32_t* expected_crc);
// Ids are unique, non-zero, and no id is both changed and removed.
Result<ServicesDelta> DecodeServicesDeltaSection(const uint8_t* data, size_t size, const uint32_t* expected_crc);

// The services state a base and its delta describe, as one image: service
// ports kept in the base's order, changed ones replaced in place, added ones
// appended in the delta's order. Fails when the delta does not fit the base
// (a frontend owned twice). O(base + delta): for
// readers that want the whole state (npctl, a restarted control plane, tests).
Result<ServicesImage> ApplyServicesDelta(const ServicesImage& base, const ServicesDelta& delta);

// One service port with tables of its own: the unit the services model
// compiles and the dataplane's snapshot shares. record.backend_first,
// maglev_first and source_range_first are 0 (they index this port's
// vectors), local_maglev_first = maglev_size (the local table follows the
// cluster table in `maglev`), record.name is unset, and the frontends'
// service_port_index is 0.
struct ServicePortTables {
  abi::ServicePortRecord record{};
  std::string name;
  std::vector<abi::FrontendRecord> frontends;
  std::vector<abi::BackendRecord> backends;
  std::vector<abi::MaglevEntry> maglev;
  std::vector<abi::CidrRecord> source_ranges;

  // Service port `index` of `image`, with the frontends that name it.
  static ServicePortTables FromImage(const ServicesImage& image, uint32_t index,
                                     std::vector<abi::FrontendRecord> frontends);
  // An image's record as a ServicePortTables holds it: no name reference,
  // its tables start at 0, the local Maglev table right after the main one.
  static abi::ServicePortRecord Rebased(const abi::ServicePortRecord& record);
  // Appends this port to `image`, its tables re-based into the image's.
  void AppendTo(ServicesImage& image) const;
  bool operator==(const ServicePortTables& other) const;
};

// A services section decoded straight into one ServicePortTables per service
// port (as ServicePortTables::FromImage gives them, in image order), with the
// checks and refusals of DecodeServicesSection: the dataplane builds its
// snapshot from these without the flat image in between (one copy of the
// Maglev entries, ~20 MB at 10k Services, instead of two). Every check runs
// on the private copy, never on the shared bytes.
struct ServicesPorts {
  uint64_t generation = 0;
  std::vector<ServicePortTables> ports;
};
Result<ServicesPorts> DecodeServicesSectionPorts(const uint8_t* data, size_t size, const uint32_t* expected_crc);

// Per service port of `image`, the frontends that name it.
std::vector<std::vector<abi::FrontendRecord>> FrontendsByServicePort(const ServicesImage& image);
// The same state in a canonical order (ports by id, frontends by address):
// two images describe the same services iff their sorted encodings are equal.
ServicesImage SortedById(const ServicesImage& image);

// Encoders used by the control plane (and by tests to make images).
std::vector<uint8_t> EncodeNodeSection(const NodeImage& image);
std::vector<uint8_t> EncodeServicesSection(const ServicesImage& image);
// The same bytes as EncodeServicesSection of the image the ports, appended
// in this order, assemble (ServicePortTables::AppendTo), written in one pass
// without assembling it (a full resync encodes every service port).
std::vector<uint8_t> EncodeServicesSection(const std::vector<const ServicePortTables*>& ports, uint64_t generation = 0);
std::vector<uint8_t> EncodeServicesDeltaSection(const ServicesDelta& delta);

}  // namespace np
