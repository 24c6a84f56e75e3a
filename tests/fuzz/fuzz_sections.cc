// libFuzzer entry point for the section validator (common/section_image.h):
// arbitrary bytes go through ParseSection and the node and services
// decoders exactly as the dataplane's loader feeds them (with and without
// an expected checksum). Whatever they accept must re-encode to an image
// that decodes to the same content, else the validator and the encoder
// disagree about what is valid. No crash, no out-of-bounds read (ASan),
// no undefined behaviour (UBSan), ever.
//
// Built two ways (tests/fuzz/meson.build): with clang as a libFuzzer target
// (-fsanitize=fuzzer,address,undefined), and with any compiler into
// fuzz_sections_regression, which replays a seed corpus and deterministic
// mutations of it without libFuzzer (suite 'unit').
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "common/section_image.h"

namespace {

void Check(bool condition) {
  if (!condition) __builtin_trap();  // a finding: the fuzzer keeps the input
}

void RoundTripNode(const np::NodeImage& image) {
  const std::vector<uint8_t> again = np::EncodeNodeSection(image);
  np::Result<np::NodeImage> decoded = np::DecodeNodeSection(again.data(), again.size(), nullptr);
  Check(decoded.ok());
  Check(decoded->generation == image.generation);
  Check(decoded->node_name == image.node_name);
  Check(decoded->port_names == image.port_names);
  Check(decoded->port_devargs == image.port_devargs);
  Check(decoded->routes.size() == image.routes.size());
}

void RoundTripServices(const np::ServicesImage& image) {
  const std::vector<uint8_t> again = np::EncodeServicesSection(image);
  np::Result<np::ServicesImage> decoded = np::DecodeServicesSection(again.data(), again.size(), nullptr);
  Check(decoded.ok());
  Check(decoded->generation == image.generation);
  Check(decoded->service_port_names == image.service_port_names);
  Check(decoded->frontends.size() == image.frontends.size());
  Check(decoded->backends.size() == image.backends.size());
  Check(decoded->maglev == image.maglev);
  Check(decoded->source_ranges.size() == image.source_ranges.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private, exactly sized copy: ASan then sees any read past the end
  // (the fuzzer's own buffer may be followed by readable bytes).
  uint8_t* image = static_cast<uint8_t*>(std::malloc(size == 0 ? 1 : size));
  if (size != 0) std::memcpy(image, data, size);
  const uint32_t crc = np::Crc32(image, size);
  const uint32_t wrong_crc = crc ^ 1u;

  using np::abi::SectionKind;
  for (SectionKind kind : {SectionKind::kNode, SectionKind::kServices, SectionKind::kServicesDelta}) {
    // What the decoders require (every table they know, strings included),
    // and less: a reader that knows fewer tables.
    const uint32_t known = kind == SectionKind::kNode       ? static_cast<uint32_t>(np::abi::NodeTable::kCount)
                           : kind == SectionKind::kServices ? static_cast<uint32_t>(np::abi::ServicesTable::kCount)
                                                            : static_cast<uint32_t>(np::abi::ServicesDeltaTable::kCount);
    // The strings table: the last of node and services, table 5 of a delta.
    const uint32_t strings = kind == SectionKind::kServicesDelta
                                 ? static_cast<uint32_t>(np::abi::ServicesDeltaTable::kStrings)
                                 : known - 1;
    for (uint32_t min_tables : {0u, known}) {
      np::Result<np::SectionView> view = np::ParseSection(image, size, kind, nullptr, min_tables);
      if (!view) continue;
      // Every table ParseSection accepts is in bounds: read each of them.
      for (uint32_t table = 0; table < view->header().table_count; ++table) {
        const std::vector<uint8_t> bytes = view->Copy<uint8_t>(table);
        (void)bytes;
      }
      // SectionView::String trusts the strings table to have been checked,
      // i.e. min_tables to cover it (finding 1 of the first fuzzing run:
      // with fewer tables it reads out of bounds). Only call it then.
      if (min_tables > strings) (void)view->String(np::abi::StringRef{0, 8});
    }
  }

  np::Result<np::NodeImage> node = np::DecodeNodeSection(image, size, nullptr);
  Check(np::DecodeNodeSection(image, size, &crc).ok() == node.ok());
  Check(!np::DecodeNodeSection(image, size, &wrong_crc).ok());
  if (node) RoundTripNode(*node);

  np::Result<np::ServicesImage> services = np::DecodeServicesSection(image, size, nullptr);
  Check(np::DecodeServicesSection(image, size, &crc).ok() == services.ok());
  Check(!np::DecodeServicesSection(image, size, &wrong_crc).ok());
  if (services) RoundTripServices(*services);
  // The dataplane's per-port decode refuses the same (same reason) and gives the same ports.
  np::Result<np::ServicesPorts> ports = np::DecodeServicesSectionPorts(image, size, nullptr);
  Check(ports.ok() == services.ok());
  if (!services) Check(ports.error().message == services.error().message);
  if (services) {
    Check(ports->ports.size() == services->service_ports.size());
    std::vector<std::vector<np::abi::FrontendRecord>> frontends = np::FrontendsByServicePort(*services);
    for (uint32_t i = 0; i < ports->ports.size(); ++i)
      Check(ports->ports[i] == np::ServicePortTables::FromImage(*services, i, std::move(frontends[i])));
  }

  np::Result<np::ServicesDelta> delta = np::DecodeServicesDeltaSection(image, size, nullptr);
  Check(np::DecodeServicesDeltaSection(image, size, &crc).ok() == delta.ok());
  Check(!np::DecodeServicesDeltaSection(image, size, &wrong_crc).ok());
  if (delta) {
    const std::vector<uint8_t> encoded = np::EncodeServicesDeltaSection(*delta);
    np::Result<np::ServicesDelta> again = np::DecodeServicesDeltaSection(encoded.data(), encoded.size(), nullptr);
    Check(again.ok() && again->removed_ids == delta->removed_ids && again->base_generation == delta->base_generation &&
          again->changed.service_port_names == delta->changed.service_port_names);
    // Applied to a base it may or may not fit: an error, never a crash.
    np::ServicesImage base;
    base.generation = delta->base_generation;
    (void)np::ApplyServicesDelta(base, *delta);
    if (services) {
      services->generation = delta->base_generation;
      (void)np::ApplyServicesDelta(*services, *delta);
    }
  }

  std::free(image);
  return 0;
}
