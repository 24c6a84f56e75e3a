#include "common/section_image.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <tuple>

namespace np {
namespace {

constexpr size_t kAlign = 8;

size_t AlignUp(size_t value) { return (value + kAlign - 1) & ~(kAlign - 1); }

std::string Describe(abi::SectionKind kind) {
  switch (kind) {
    case abi::SectionKind::kNode: return "node section";
    case abi::SectionKind::kServices: return "services section";
    case abi::SectionKind::kServicesDelta: return "services delta section";
    default: return "section " + std::to_string(static_cast<uint32_t>(kind));
  }
}

uint32_t ServicesIndex(abi::ServicesTable table) { return static_cast<uint32_t>(table); }
uint32_t NodeIndex(abi::NodeTable table) { return static_cast<uint32_t>(table); }

// Each table must hold records at least as large as the reader's struct.
Status CheckElemSize(const SectionView& view, uint32_t table, size_t reader_size,
                     const char* table_name) {
  const abi::TableRef& ref = view.header().tables[table];
  if (ref.count > 0 && ref.elem_size < reader_size)
    return MakeError(std::string("table ") + table_name + ": record size " +
                     std::to_string(ref.elem_size) + " is smaller than " +
                     std::to_string(reader_size));
  return Ok{};
}

struct TableCheck {
  uint32_t table;
  size_t reader_size;
  const char* name;
};

bool RangeInBounds(uint64_t first, uint64_t count, uint64_t limit) {
  return first <= limit && count <= limit - first;
}

}  // namespace

// zlib's crc32 (reflected IEEE), computed by ISA-L with carry-less multiply:
// the same values, ~5x faster on a 22 MB services image, which the control
// plane checksums on publishing and the dataplane on applying.
uint32_t Crc32(const uint8_t* data, size_t size) { return crc32_gzip_refl(0, data, size); }

SectionBuilder::SectionBuilder(abi::SectionKind kind, uint32_t table_count, uint32_t strings_table)
    : kind_(kind), strings_table_(strings_table), tables_(table_count) {}

abi::StringRef SectionBuilder::AddString(std::string_view text) {
  abi::StringRef ref{static_cast<uint32_t>(strings_.size()), static_cast<uint32_t>(text.size())};
  strings_.append(text);
  return ref;
}

abi::SectionHeader LayOutSection(abi::SectionKind kind, uint64_t generation, uint32_t table_count,
                                 const uint32_t* counts, const uint32_t* elem_sizes) {
  abi::SectionHeader header{};
  header.magic = abi::kSectionMagic;
  header.abi_major = abi::kAbiMajor;
  header.abi_minor = abi::kAbiMinor;
  header.kind = static_cast<uint32_t>(kind);
  header.table_count = table_count;
  header.generation = generation;
  size_t offset = AlignUp(sizeof(abi::SectionHeader));
  for (uint32_t i = 0; i < table_count; ++i) {
    header.tables[i].offset = static_cast<uint32_t>(offset);
    header.tables[i].count = counts[i];
    header.tables[i].elem_size = elem_sizes[i];
    offset = AlignUp(offset + static_cast<size_t>(counts[i]) * elem_sizes[i]);
  }
  header.size = offset;
  return header;
}

std::vector<uint8_t> SectionBuilder::Finish(uint64_t generation) const {
  uint32_t counts[std::size(abi::SectionHeader{}.tables)] = {}, elem_sizes[std::size(abi::SectionHeader{}.tables)] = {};
  for (size_t i = 0; i < tables_.size(); ++i) {
    const bool is_strings = i == strings_table_;
    counts[i] = static_cast<uint32_t>(is_strings ? strings_.size() : tables_[i].count);
    elem_sizes[i] = is_strings ? 1 : tables_[i].elem_size;
  }
  const abi::SectionHeader header =
      LayOutSection(kind_, generation, static_cast<uint32_t>(tables_.size()), counts, elem_sizes);

  // Written once, in offset order: only the alignment gaps are zero-filled
  // (a full services image is ~16 MB at 10k Services; zeroing it first cost
  // a pass over it).
  std::vector<uint8_t> image;
  image.reserve(header.size);
  const auto* header_bytes = reinterpret_cast<const uint8_t*>(&header);
  image.insert(image.end(), header_bytes, header_bytes + sizeof(header));
  for (size_t i = 0; i < tables_.size(); ++i) {
    const bool is_strings = i == strings_table_;
    const uint8_t* source = is_strings ? reinterpret_cast<const uint8_t*>(strings_.data()) : tables_[i].data();
    const size_t bytes = is_strings ? strings_.size() : tables_[i].size();
    image.resize(header.tables[i].offset, 0);
    if (bytes > 0) image.insert(image.end(), source, source + bytes);
  }
  image.resize(header.size, 0);
  return image;
}

bool SectionView::StringInBounds(abi::StringRef ref) const {
  // Only tables below table_count were checked against the image.
  if (strings_table_ >= header_.table_count) return false;
  const abi::TableRef& strings = header_.tables[strings_table_];
  return RangeInBounds(ref.offset, ref.length, strings.count);
}

std::string SectionView::String(abi::StringRef ref) const {
  if (!StringInBounds(ref)) return {};
  const abi::TableRef& strings = header_.tables[strings_table_];
  return std::string(reinterpret_cast<const char*>(data_ + strings.offset + ref.offset), ref.length);
}

Result<SectionView> ParseSection(const uint8_t* data, size_t size, abi::SectionKind kind,
                                 const uint32_t* expected_crc, uint32_t min_tables) {
  const std::string what = Describe(kind);
  if (data == nullptr || size < sizeof(abi::SectionHeader))
    return MakeError(what + ": image of " + std::to_string(size) + " bytes is shorter than its header");
  SectionView view;
  std::memcpy(&view.header_, data, sizeof(abi::SectionHeader));
  const abi::SectionHeader& header = view.header_;
  if (header.magic != abi::kSectionMagic) return MakeError(what + ": bad magic");
  if (header.abi_major != abi::kAbiMajor)
    return MakeError(what + ": ABI major version " + std::to_string(header.abi_major) +
                     " is not supported (this dataplane speaks " + std::to_string(abi::kAbiMajor) +
                     ")");
  if (header.kind != static_cast<uint32_t>(kind))
    return MakeError(what + ": image is of kind " + std::to_string(header.kind));
  if (header.size != size)
    return MakeError(what + ": header says " + std::to_string(header.size) + " bytes, slot holds " +
                     std::to_string(size));
  if (expected_crc != nullptr && Crc32(data, size) != *expected_crc)
    return MakeError(what + ": checksum mismatch (image corrupted or torn)");
  if (header.table_count < min_tables || header.table_count > std::size(header.tables))
    return MakeError(what + ": " + std::to_string(header.table_count) + " tables, expected " +
                     std::to_string(min_tables));
  for (uint32_t i = 0; i < header.table_count; ++i) {
    const abi::TableRef& ref = header.tables[i];
    if (ref.elem_size == 0) return MakeError(what + ": table " + std::to_string(i) + " has record size 0");
    const uint64_t bytes = static_cast<uint64_t>(ref.count) * ref.elem_size;
    if (ref.offset < sizeof(abi::SectionHeader) || !RangeInBounds(ref.offset, bytes, size))
      return MakeError(what + ": table " + std::to_string(i) + " lies outside the image");
  }
  view.data_ = data;
  view.size_ = size;
  view.strings_table_ = kind == abi::SectionKind::kNode ? NodeIndex(abi::NodeTable::kStrings)
                                                        : ServicesIndex(abi::ServicesTable::kStrings);
  return view;
}

Result<NodeImage> DecodeNodeSection(const uint8_t* data, size_t size, const uint32_t* expected_crc) {
  auto parsed = ParseSection(data, size, abi::SectionKind::kNode, expected_crc,
                             NodeIndex(abi::NodeTable::kCount));
  if (!parsed) return parsed.error();
  const SectionView& view = *parsed;
  const uint32_t info_table = NodeIndex(abi::NodeTable::kInfo);
  const uint32_t ports_table = NodeIndex(abi::NodeTable::kPorts);
  const uint32_t routes_table = NodeIndex(abi::NodeTable::kRoutes);
  for (const TableCheck& check : std::initializer_list<TableCheck> {TableCheck{info_table, sizeof(abi::NodeInfo), "info"},
                                    TableCheck{ports_table, sizeof(abi::PortRecord), "ports"},
                                    TableCheck{routes_table, sizeof(abi::RouteRecord), "routes"}}) {
    if (auto status = CheckElemSize(view, check.table, check.reader_size, check.name); !status)
      return MakeError("node section: " + status.error().message);
  }
  if (view.Count(info_table) != 1) return MakeError("node section: expected exactly one node info record");

  NodeImage image;
  image.generation = view.header().generation;
  image.info = view.Copy<abi::NodeInfo>(info_table)[0];
  if (!view.StringInBounds(image.info.node_name)) return MakeError("node section: node name out of bounds");
  if (image.info.node_ipv4_count > abi::kMaxNodeAddresses)
    return MakeError("node section: " + std::to_string(image.info.node_ipv4_count) + " node addresses");
  if (image.info.snat_port_min == 0 || image.info.snat_port_min > image.info.snat_port_max)
    return MakeError("node section: empty SNAT port range");
  if (image.info.pod_cidr_len > 32 || image.info.cluster_cidr_len > 32 || image.info.service_cidr_len > 32)
    return MakeError("node section: CIDR prefix length above 32");
  if (image.info.conntrack_capacity == 0) return MakeError("node section: conntrack capacity is 0");
  image.node_name = view.String(image.info.node_name);
  image.ports = view.Copy<abi::PortRecord>(ports_table);
  for (size_t i = 0; i < image.ports.size(); ++i) {
    const abi::PortRecord& port = image.ports[i];
    if (!view.StringInBounds(port.name) || !view.StringInBounds(port.devargs))
      return MakeError("node section: port " + std::to_string(i) + " name or devargs out of bounds");
    if (port.role > abi::PortRole::kHost)
      return MakeError("node section: port " + std::to_string(i) + " has unknown role");
    image.port_names.push_back(view.String(port.name));
    image.port_devargs.push_back(view.String(port.devargs));
  }
  image.routes = view.Copy<abi::RouteRecord>(routes_table);
  for (size_t i = 0; i < image.routes.size(); ++i) {
    const abi::RouteRecord& route = image.routes[i];
    const bool known_port = std::any_of(image.ports.begin(), image.ports.end(),
                                        [&](const abi::PortRecord& p) { return p.port_id == route.port_id; });
    if (route.prefix_len > 32 || !known_port)
      return MakeError("node section: route " + std::to_string(i) + " has a bad prefix or port");
  }
  return image;
}

namespace {

// A reduction without early exit, so that it vectorizes: a full image holds
// ~1000 entries per service port.
// Through a pointer and a size_t index: with maglev[first + slot] (32-bit
// arithmetic that may wrap) the compiler kept the loop scalar.
uint32_t LargestEntry(const std::vector<abi::MaglevEntry>& maglev, uint32_t first, uint32_t size) {
  const abi::MaglevEntry* table = maglev.data() + first;
  abi::MaglevEntry largest = 0;
  for (size_t slot = 0; slot < size; ++slot) largest = std::max(largest, table[slot]);
  return largest;
}

Status CheckServicesElemSizes(const SectionView& view, const std::string& what) {
  using T = abi::ServicesTable;
  for (const TableCheck& check : std::initializer_list<TableCheck>
       {TableCheck{ServicesIndex(T::kServicePorts), sizeof(abi::ServicePortRecord), "service ports"},
        TableCheck{ServicesIndex(T::kFrontends), sizeof(abi::FrontendRecord), "frontends"},
        TableCheck{ServicesIndex(T::kBackends), sizeof(abi::BackendRecord), "backends"},
        TableCheck{ServicesIndex(T::kMaglev), sizeof(abi::MaglevEntry), "maglev"},
        TableCheck{ServicesIndex(T::kSourceRanges), sizeof(abi::CidrRecord), "source ranges"}}) {
    if (auto status = CheckElemSize(view, check.table, check.reader_size, check.name); !status)
      return MakeError(what + ": " + status.error().message);
  }
  return Ok{};
}

// A service port record against the sizes of the tables it indexes: why
// it does not fit, or empty. Its Maglev entries are checked by the caller.
std::string ServicePortRangesProblem(const SectionView& view, const abi::ServicePortRecord& sp, size_t backends,
                                     size_t maglev, size_t source_ranges) {
  if (!view.StringInBounds(sp.name)) return "name out of bounds";
  if (!RangeInBounds(sp.backend_first, sp.backend_count, backends)) return "backends out of bounds";
  if (sp.backend_count > abi::kMaxBackendsPerServicePort)
    return std::to_string(sp.backend_count) + " backends, more than a Maglev entry can index (" +
           std::to_string(abi::kMaxBackendsPerServicePort) + ")";
  if (!RangeInBounds(sp.maglev_first, sp.maglev_size, maglev) ||
      !RangeInBounds(sp.local_maglev_first, sp.local_maglev_size, maglev))
    return "Maglev table out of bounds";
  if ((sp.backend_count == 0) != (sp.maglev_size == 0)) return "Maglev table does not match the backend count";
  if (!RangeInBounds(sp.source_range_first, sp.source_range_count, source_ranges)) return "source ranges out of bounds";
  return {};
}

// The Maglev entries of `sp` in `maglev` (its main table at `main_first`,
// its local one at `local_first`) against its backend count: why not, or empty.
std::string MaglevEntriesProblem(const std::vector<abi::MaglevEntry>& maglev, uint32_t main_first,
                                 uint32_t local_first, const abi::ServicePortRecord& sp) {
  if (sp.maglev_size > 0 && LargestEntry(maglev, main_first, sp.maglev_size) >= sp.backend_count)
    return "Maglev entry out of range";
  if (sp.local_maglev_size > 0 && LargestEntry(maglev, local_first, sp.local_maglev_size) >= sp.backend_count)
    return "local Maglev entry out of range";
  return {};
}

// Every frontend names a service port of `port_count` with a known kind;
// every source range is an IPv4 prefix.
Status CheckFrontendsAndSourceRanges(const std::string& what, const std::vector<abi::FrontendRecord>& frontends,
                                     size_t port_count, const std::vector<abi::CidrRecord>& source_ranges) {
  for (size_t i = 0; i < frontends.size(); ++i)
    if (frontends[i].service_port_index >= port_count || frontends[i].kind > abi::FrontendKind::kExternalIP)
      return MakeError(what + ": frontend " + std::to_string(i) + " names no service port");
  for (size_t i = 0; i < source_ranges.size(); ++i)
    if (source_ranges[i].prefix_len > 32)
      return MakeError(what + ": source range " + std::to_string(i) + " prefix above 32");
  return Ok{};
}

// Tables 0-5 of a services or services delta section (same layout).
Result<ServicesImage> DecodeServicesTables(const SectionView& view, const std::string& what) {
  using T = abi::ServicesTable;
  if (Status status = CheckServicesElemSizes(view, what); !status) return status.error();
  ServicesImage image;
  image.generation = view.header().generation;
  image.service_ports = view.Copy<abi::ServicePortRecord>(ServicesIndex(T::kServicePorts));
  image.frontends = view.Copy<abi::FrontendRecord>(ServicesIndex(T::kFrontends));
  image.backends = view.Copy<abi::BackendRecord>(ServicesIndex(T::kBackends));
  image.maglev = view.Copy<abi::MaglevEntry>(ServicesIndex(T::kMaglev));
  image.source_ranges = view.Copy<abi::CidrRecord>(ServicesIndex(T::kSourceRanges));

  auto fail = [&](size_t index, const std::string& why) {
    return MakeError(what + ": service port " + std::to_string(index) + ": " + why);
  };
  image.service_port_names.reserve(image.service_ports.size());
  for (size_t i = 0; i < image.service_ports.size(); ++i) {
    const abi::ServicePortRecord& sp = image.service_ports[i];
    if (std::string problem =
            ServicePortRangesProblem(view, sp, image.backends.size(), image.maglev.size(), image.source_ranges.size());
        !problem.empty())
      return fail(i, problem);
    if (std::string problem = MaglevEntriesProblem(image.maglev, sp.maglev_first, sp.local_maglev_first, sp);
        !problem.empty())
      return fail(i, problem);
    image.service_port_names.push_back(view.String(sp.name));
  }
  if (Status status = CheckFrontendsAndSourceRanges(what, image.frontends, image.service_ports.size(), image.source_ranges);
      !status)
    return status.error();
  return image;
}

void SetServicesTables(SectionBuilder& builder, const ServicesImage& image) {
  using T = abi::ServicesTable;
  std::vector<abi::ServicePortRecord> service_ports = image.service_ports;
  for (size_t i = 0; i < service_ports.size(); ++i)
    service_ports[i].name =
        builder.AddString(i < image.service_port_names.size() ? image.service_port_names[i] : "");
  builder.SetTable(ServicesIndex(T::kServicePorts), service_ports);
  builder.SetTableView(ServicesIndex(T::kFrontends), image.frontends);
  builder.SetTableView(ServicesIndex(T::kBackends), image.backends);
  builder.SetTableView(ServicesIndex(T::kMaglev), image.maglev);
  builder.SetTableView(ServicesIndex(T::kSourceRanges), image.source_ranges);
}

uint32_t DeltaIndex(abi::ServicesDeltaTable table) { return static_cast<uint32_t>(table); }

}  // namespace

Result<ServicesImage> DecodeServicesSection(const uint8_t* data, size_t size,
                                            const uint32_t* expected_crc) {
  auto parsed = ParseSection(data, size, abi::SectionKind::kServices, expected_crc,
                             ServicesIndex(abi::ServicesTable::kCount));
  if (!parsed) return parsed.error();
  return DecodeServicesTables(*parsed, "services section");
}

Result<ServicesPorts> DecodeServicesSectionPorts(const uint8_t* data, size_t size, const uint32_t* expected_crc) {
  using T = abi::ServicesTable;
  const std::string what = "services section";
  auto parsed = ParseSection(data, size, abi::SectionKind::kServices, expected_crc, ServicesIndex(T::kCount));
  if (!parsed) return parsed.error();
  const SectionView& view = *parsed;
  if (Status status = CheckServicesElemSizes(view, what); !status) return status.error();
  // The small tables are copied whole; the Maglev entries go straight into
  // each port's copy and are checked there.
  const std::vector<abi::ServicePortRecord> records = view.Copy<abi::ServicePortRecord>(ServicesIndex(T::kServicePorts));
  const std::vector<abi::FrontendRecord> frontends = view.Copy<abi::FrontendRecord>(ServicesIndex(T::kFrontends));
  const std::vector<abi::BackendRecord> backends = view.Copy<abi::BackendRecord>(ServicesIndex(T::kBackends));
  const std::vector<abi::CidrRecord> source_ranges = view.Copy<abi::CidrRecord>(ServicesIndex(T::kSourceRanges));
  const uint32_t maglev_table = ServicesIndex(T::kMaglev);
  const size_t maglev_count = view.Count(maglev_table);

  auto fail = [&](size_t index, const std::string& why) {
    return MakeError(what + ": service port " + std::to_string(index) + ": " + why);
  };
  ServicesPorts out;
  out.generation = view.header().generation;
  out.ports.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const abi::ServicePortRecord& sp = records[i];
    if (std::string problem = ServicePortRangesProblem(view, sp, backends.size(), maglev_count, source_ranges.size());
        !problem.empty())
      return fail(i, problem);
    ServicePortTables& port = out.ports[i];
    port.maglev.reserve(static_cast<size_t>(sp.maglev_size) + sp.local_maglev_size);
    view.AppendRange(maglev_table, sp.maglev_first, sp.maglev_size, port.maglev);
    view.AppendRange(maglev_table, sp.local_maglev_first, sp.local_maglev_size, port.maglev);
    if (std::string problem = MaglevEntriesProblem(port.maglev, 0, sp.maglev_size, sp); !problem.empty())
      return fail(i, problem);
    port.name = view.String(sp.name);
    port.record = ServicePortTables::Rebased(sp);
    port.backends.assign(backends.begin() + sp.backend_first, backends.begin() + sp.backend_first + sp.backend_count);
    port.source_ranges.assign(source_ranges.begin() + sp.source_range_first,
                              source_ranges.begin() + sp.source_range_first + sp.source_range_count);
  }
  if (Status status = CheckFrontendsAndSourceRanges(what, frontends, records.size(), source_ranges); !status)
    return status.error();
  for (abi::FrontendRecord frontend : frontends) {
    std::vector<abi::FrontendRecord>& mine = out.ports[frontend.service_port_index].frontends;
    frontend.service_port_index = 0;
    mine.push_back(frontend);
  }
  return out;
}

Result<ServicesDelta> DecodeServicesDeltaSection(const uint8_t* data, size_t size, const uint32_t* expected_crc) {
  using T = abi::ServicesDeltaTable;
  const std::string what = "services delta section";
  auto parsed = ParseSection(data, size, abi::SectionKind::kServicesDelta, expected_crc, DeltaIndex(T::kCount));
  if (!parsed) return parsed.error();
  const SectionView& view = *parsed;
  for (const TableCheck& check : std::initializer_list<TableCheck>
       {TableCheck{DeltaIndex(T::kRemovedIds), sizeof(uint32_t), "removed ids"},
        TableCheck{DeltaIndex(T::kInfo), sizeof(abi::ServicesDeltaInfo), "info"}}) {
    if (auto status = CheckElemSize(view, check.table, check.reader_size, check.name); !status)
      return MakeError(what + ": " + status.error().message);
  }
  if (view.Count(DeltaIndex(T::kInfo)) != 1) return MakeError(what + ": expected exactly one info record");
  auto changed = DecodeServicesTables(view, what);
  if (!changed) return changed.error();
  ServicesDelta delta;
  delta.generation = view.header().generation;
  const abi::ServicesDeltaInfo info = view.Copy<abi::ServicesDeltaInfo>(DeltaIndex(T::kInfo))[0];
  delta.base_generation = info.base_generation;
  delta.base_service_ports = info.base_service_ports;
  delta.changed = std::move(changed).value();
  delta.removed_ids = view.Copy<uint32_t>(DeltaIndex(T::kRemovedIds));
  std::vector<uint32_t> ids = delta.removed_ids;
  for (const abi::ServicePortRecord& sp : delta.changed.service_ports) ids.push_back(sp.id);
  std::sort(ids.begin(), ids.end());
  if (!ids.empty() && ids.front() == 0) return MakeError(what + ": service port id 0");
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    return MakeError(what + ": a service port id is changed or removed twice");
  return delta;
}

std::vector<std::vector<abi::FrontendRecord>> FrontendsByServicePort(const ServicesImage& image) {
  std::vector<std::vector<abi::FrontendRecord>> out(image.service_ports.size());
  for (const abi::FrontendRecord& frontend : image.frontends)
    if (frontend.service_port_index < out.size()) out[frontend.service_port_index].push_back(frontend);
  return out;
}

ServicePortTables ServicePortTables::FromImage(const ServicesImage& image, uint32_t index,
                                               std::vector<abi::FrontendRecord> frontends) {
  const abi::ServicePortRecord& record = image.service_ports[index];
  ServicePortTables port;
  port.name = index < image.service_port_names.size() ? image.service_port_names[index] : "";
  port.frontends = std::move(frontends);
  for (abi::FrontendRecord& frontend : port.frontends) frontend.service_port_index = 0;
  port.backends.assign(image.backends.begin() + record.backend_first,
                       image.backends.begin() + record.backend_first + record.backend_count);
  port.maglev.reserve(static_cast<size_t>(record.maglev_size) + record.local_maglev_size);
  port.maglev.insert(port.maglev.end(), image.maglev.begin() + record.maglev_first,
                     image.maglev.begin() + record.maglev_first + record.maglev_size);
  port.maglev.insert(port.maglev.end(), image.maglev.begin() + record.local_maglev_first,
                     image.maglev.begin() + record.local_maglev_first + record.local_maglev_size);
  port.source_ranges.assign(image.source_ranges.begin() + record.source_range_first,
                            image.source_ranges.begin() + record.source_range_first + record.source_range_count);
  port.record = Rebased(record);
  return port;
}

abi::ServicePortRecord ServicePortTables::Rebased(const abi::ServicePortRecord& record) {
  abi::ServicePortRecord rebased = record;
  rebased.name = {};
  rebased.backend_first = 0;
  rebased.maglev_first = 0;
  rebased.local_maglev_first = record.maglev_size;
  rebased.source_range_first = 0;
  return rebased;
}

void ServicePortTables::AppendTo(ServicesImage& image) const {
  abi::ServicePortRecord out = record;
  out.backend_first = static_cast<uint32_t>(image.backends.size());
  image.backends.insert(image.backends.end(), backends.begin(), backends.end());
  const uint32_t maglev_at = static_cast<uint32_t>(image.maglev.size());
  image.maglev.insert(image.maglev.end(), maglev.begin(), maglev.end());
  out.maglev_first = out.maglev_size == 0 ? 0 : maglev_at;
  out.local_maglev_first = out.local_maglev_size == 0 ? 0 : maglev_at + out.maglev_size;
  out.source_range_first = static_cast<uint32_t>(image.source_ranges.size());
  image.source_ranges.insert(image.source_ranges.end(), source_ranges.begin(), source_ranges.end());
  for (abi::FrontendRecord frontend : frontends) {
    frontend.service_port_index = static_cast<uint32_t>(image.service_ports.size());
    image.frontends.push_back(frontend);
  }
  image.service_ports.push_back(out);
  image.service_port_names.push_back(name);
}

namespace {

template <class T>
bool SameRecords(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

}  // namespace

bool ServicePortTables::operator==(const ServicePortTables& other) const {
  const abi::ServicePortRecord& a = record;
  const abi::ServicePortRecord& b = other.record;
  const bool same_record = a.id == b.id && a.protocol == b.protocol && a.flags == b.flags &&
                           a.affinity_timeout_s == b.affinity_timeout_s && a.backend_count == b.backend_count &&
                           a.maglev_size == b.maglev_size && a.local_maglev_size == b.local_maglev_size &&
                           a.source_range_count == b.source_range_count &&
                           a.health_check_node_port == b.health_check_node_port;
  return same_record && name == other.name && SameRecords(frontends, other.frontends) &&
         SameRecords(backends, other.backends) && maglev == other.maglev &&
         SameRecords(source_ranges, other.source_ranges);
}

ServicesImage SortedById(const ServicesImage& image) {
  std::vector<std::vector<abi::FrontendRecord>> frontends = FrontendsByServicePort(image);
  std::vector<uint32_t> order(image.service_ports.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return image.service_ports[a].id < image.service_ports[b].id; });
  ServicesImage out;
  out.generation = image.generation;
  for (uint32_t index : order) {
    std::sort(frontends[index].begin(), frontends[index].end(), [](const abi::FrontendRecord& a, const abi::FrontendRecord& b) {
      return std::tie(a.ipv4, a.port, a.protocol) < std::tie(b.ipv4, b.port, b.protocol);
    });
    ServicePortTables::FromImage(image, index, std::move(frontends[index])).AppendTo(out);
  }
  return out;
}

Result<ServicesImage> ApplyServicesDelta(const ServicesImage& base, const ServicesDelta& delta) {
  if (delta.base_generation != base.generation)
    return MakeError("services delta applies to generation " + std::to_string(delta.base_generation) +
                     ", the services section is at " + std::to_string(base.generation));
  if (delta.base_service_ports != base.service_ports.size())
    return MakeError("services delta expects " + std::to_string(delta.base_service_ports) +
                     " service ports in its base, the base holds " + std::to_string(base.service_ports.size()));
  std::map<uint32_t, uint32_t> changed_by_id;  // id -> index in delta.changed
  for (uint32_t i = 0; i < delta.changed.service_ports.size(); ++i)
    changed_by_id.emplace(delta.changed.service_ports[i].id, i);
  std::set<uint32_t> removed(delta.removed_ids.begin(), delta.removed_ids.end());
  std::set<uint32_t> base_ids;
  for (const abi::ServicePortRecord& sp : base.service_ports) base_ids.insert(sp.id);
  for (uint32_t id : removed)
    if (base_ids.count(id) == 0)
      return MakeError("services delta removes service port id " + std::to_string(id) + ", which its base does not hold");

  const auto base_frontends = FrontendsByServicePort(base);
  const auto delta_frontends = FrontendsByServicePort(delta.changed);

  ServicesImage out;
  out.generation = base.generation;
  auto append = [&](const ServicesImage& from, uint32_t index, const std::vector<abi::FrontendRecord>& frontends) {
    ServicePortTables::FromImage(from, index, frontends).AppendTo(out);
  };
  for (uint32_t i = 0; i < base.service_ports.size(); ++i) {
    const uint32_t id = base.service_ports[i].id;
    if (removed.count(id)) continue;
    if (auto it = changed_by_id.find(id); it != changed_by_id.end())
      append(delta.changed, it->second, delta_frontends[it->second]);
    else
      append(base, i, base_frontends[i]);
  }
  for (uint32_t i = 0; i < delta.changed.service_ports.size(); ++i)
    if (base_ids.count(delta.changed.service_ports[i].id) == 0) append(delta.changed, i, delta_frontends[i]);

  std::set<std::tuple<uint32_t, uint16_t, uint8_t>> keys;
  for (const abi::FrontendRecord& frontend : out.frontends)
    if (!keys.emplace(frontend.ipv4, frontend.port, frontend.protocol).second)
      return MakeError("services delta: frontend " + std::to_string(frontend.ipv4 >> 24) + "." +
                       std::to_string((frontend.ipv4 >> 16) & 0xff) + "." + std::to_string((frontend.ipv4 >> 8) & 0xff) +
                       "." + std::to_string(frontend.ipv4 & 0xff) + ":" + std::to_string(frontend.port) +
                       " belongs to two service ports");
  return out;
}

std::vector<uint8_t> EncodeNodeSection(const NodeImage& image) {
  SectionBuilder builder(abi::SectionKind::kNode, static_cast<uint32_t>(abi::NodeTable::kCount),
                         static_cast<uint32_t>(abi::NodeTable::kStrings));
  abi::NodeInfo info = image.info;
  info.node_name = builder.AddString(image.node_name);
  std::vector<abi::PortRecord> ports = image.ports;
  for (size_t i = 0; i < ports.size(); ++i) {
    ports[i].name = builder.AddString(i < image.port_names.size() ? image.port_names[i] : "");
    ports[i].devargs = builder.AddString(i < image.port_devargs.size() ? image.port_devargs[i] : "");
  }
  builder.SetTable(NodeIndex(abi::NodeTable::kInfo), std::vector<abi::NodeInfo>{info});
  builder.SetTable(NodeIndex(abi::NodeTable::kPorts), ports);
  builder.SetTable(NodeIndex(abi::NodeTable::kRoutes), image.routes);
  return builder.Finish(image.generation);
}

std::vector<uint8_t> EncodeServicesSection(const ServicesImage& image) {
  SectionBuilder builder(abi::SectionKind::kServices, ServicesIndex(abi::ServicesTable::kCount),
                         ServicesIndex(abi::ServicesTable::kStrings));
  SetServicesTables(builder, image);
  return builder.Finish(image.generation);
}

std::vector<uint8_t> EncodeServicesSection(const std::vector<const ServicePortTables*>& ports, uint64_t generation) {
  using T = abi::ServicesTable;
  uint32_t counts[static_cast<uint32_t>(T::kCount)] = {};
  const uint32_t elem_sizes[] = {sizeof(abi::ServicePortRecord), sizeof(abi::FrontendRecord),
                                 sizeof(abi::BackendRecord), sizeof(abi::MaglevEntry), sizeof(abi::CidrRecord), 1};
  static_assert(std::size(elem_sizes) == static_cast<size_t>(T::kCount));
  for (const ServicePortTables* port : ports) {
    counts[ServicesIndex(T::kServicePorts)] += 1;
    counts[ServicesIndex(T::kFrontends)] += static_cast<uint32_t>(port->frontends.size());
    counts[ServicesIndex(T::kBackends)] += static_cast<uint32_t>(port->backends.size());
    counts[ServicesIndex(T::kMaglev)] += static_cast<uint32_t>(port->maglev.size());
    counts[ServicesIndex(T::kSourceRanges)] += static_cast<uint32_t>(port->source_ranges.size());
    counts[ServicesIndex(T::kStrings)] += static_cast<uint32_t>(port->name.size());
  }
  const abi::SectionHeader header =
      LayOutSection(abi::SectionKind::kServices, generation, ServicesIndex(T::kCount), counts, elem_sizes);
  // Appended table after table (one pass over the ports per table), so that
  // only the alignment gaps are zero-filled, not the whole image first (22 MB
  // at 10k Services). The bytes equal EncodeServicesSection of the image the
  // ports assemble with AppendTo().
  std::vector<uint8_t> image;
  image.reserve(header.size);
  auto append = [&](const void* data, size_t bytes) {
    const uint8_t* from = static_cast<const uint8_t*>(data);
    image.insert(image.end(), from, from + bytes);
  };
  auto records = [&](const auto& table) {
    if (!table.empty()) append(table.data(), table.size() * sizeof(table[0]));
  };
  auto start_table = [&](T table) { image.resize(header.tables[ServicesIndex(table)].offset, 0); };
  append(&header, sizeof(header));
  start_table(T::kServicePorts);
  uint32_t backends = 0, maglev = 0, ranges = 0, strings = 0;
  for (const ServicePortTables* port : ports) {
    abi::ServicePortRecord out = port->record;
    out.name = abi::StringRef{strings, static_cast<uint32_t>(port->name.size())};
    out.backend_first = backends;
    out.maglev_first = out.maglev_size == 0 ? 0 : maglev;
    out.local_maglev_first = out.local_maglev_size == 0 ? 0 : maglev + out.maglev_size;
    out.source_range_first = ranges;
    append(&out, sizeof(out));
    backends += static_cast<uint32_t>(port->backends.size());
    maglev += static_cast<uint32_t>(port->maglev.size());
    ranges += static_cast<uint32_t>(port->source_ranges.size());
    strings += static_cast<uint32_t>(port->name.size());
  }
  start_table(T::kFrontends);
  uint32_t port_index = 0;
  for (const ServicePortTables* port : ports) {
    for (abi::FrontendRecord frontend : port->frontends) {
      frontend.service_port_index = port_index;
      append(&frontend, sizeof(frontend));
    }
    ++port_index;
  }
  start_table(T::kBackends);
  for (const ServicePortTables* port : ports) records(port->backends);
  start_table(T::kMaglev);
  for (const ServicePortTables* port : ports) records(port->maglev);
  start_table(T::kSourceRanges);
  for (const ServicePortTables* port : ports) records(port->source_ranges);
  start_table(T::kStrings);
  for (const ServicePortTables* port : ports) records(port->name);
  image.resize(header.size, 0);
  return image;
}

std::vector<uint8_t> EncodeServicesDeltaSection(const ServicesDelta& delta) {
  using T = abi::ServicesDeltaTable;
  SectionBuilder builder(abi::SectionKind::kServicesDelta, DeltaIndex(T::kCount), DeltaIndex(T::kStrings));
  SetServicesTables(builder, delta.changed);
  builder.SetTable(DeltaIndex(T::kRemovedIds), delta.removed_ids);
  builder.SetTable(DeltaIndex(T::kInfo),
                   std::vector<abi::ServicesDeltaInfo>{{delta.base_generation, delta.base_service_ports, 0}});
  return builder.Finish(delta.generation);
}

}  // namespace np
