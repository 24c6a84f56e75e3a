// Replays the section fuzzer's entry point without libFuzzer, so that any
// compiler (gcc in CI) runs it as a unit test: over the seed corpus
// (tests/fuzz/corpus: valid encoded images and inputs the fuzzer found
// interesting) and over valid images built here, each with deterministic
// mutations — every truncation, single-byte flips, interesting 32-bit
// values at every aligned offset and seeded random multi-byte edits.
//
//   fuzz_sections_regression CORPUS_DIR          run (exit 0 = no crash)
//   fuzz_sections_regression --write-corpus DIR  write the built seeds
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "common/section_image.h"
#include "tests/common/test_node.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

np::NodeImage SeedNode() {
  np::NodeImage node = np::testing::NodeA();
  node.generation = 3;
  node.info.pod_cidr = 0x0af40100;
  node.info.pod_cidr_len = 24;
  node.info.cluster_cidr = 0x0af40000;
  node.info.cluster_cidr_len = 16;
  node.info.service_cidr = 0x0a600000;
  node.info.service_cidr_len = 12;
  node.info.healthz_port = 10256;
  for (uint32_t i = 0; i < 3; ++i) {
    np::abi::PortRecord port{};
    port.port_id = i + 1;
    port.role = static_cast<np::abi::PortRole>(i);
    port.ipv4 = i == 1 ? 0x0af4010b : 0;
    port.rx_queues = 1;
    node.ports.push_back(port);
  }
  node.port_names = {"uplink", "pod-vote-1", "host"};
  node.port_devargs = {"net_af_packet0,iface=eth1", "net_af_packet1,iface=vethvote1", "net_tap0,iface=np-host"};
  node.routes.push_back(np::abi::RouteRecord{0x0af40200, 24, {}, 0xc0a8640b, 1});
  return node;
}

np::ServicesImage SeedServices() {
  np::ServicesImage services;
  services.generation = 9;
  np::abi::ServicePortRecord web{};
  web.id = 1;
  web.protocol = np::abi::kProtoTcp;
  web.flags = np::abi::kAffinityClientIP | np::abi::kExternalTrafficLocal;
  web.affinity_timeout_s = 600;
  web.backend_first = 0;
  web.backend_count = 3;
  web.maglev_first = 0;
  web.maglev_size = 7;
  web.local_maglev_first = 7;
  web.local_maglev_size = 7;
  web.source_range_first = 0;
  web.source_range_count = 1;
  web.health_check_node_port = 32001;
  np::abi::ServicePortRecord empty{};
  empty.id = 2;
  empty.protocol = np::abi::kProtoUdp;
  services.service_ports = {web, empty};
  services.service_port_names = {"vote/vote:http", "default/empty:dns"};
  services.frontends = {
      np::abi::FrontendRecord{0x0a600a0a, 80, np::abi::kProtoTcp, np::abi::FrontendKind::kClusterIP, 0},
      np::abi::FrontendRecord{0, 31000, np::abi::kProtoTcp, np::abi::FrontendKind::kNodePort, 0},
      np::abi::FrontendRecord{0xc0a864c8, 80, np::abi::kProtoTcp, np::abi::FrontendKind::kLoadBalancer, 0},
      np::abi::FrontendRecord{0x0a600a0b, 53, np::abi::kProtoUdp, np::abi::FrontendKind::kClusterIP, 1}};
  services.backends = {np::abi::BackendRecord{0x0af4010b, 80, np::abi::kBackendLocal, 0},
                       np::abi::BackendRecord{0x0af4020c, 80, 0, 0},
                       np::abi::BackendRecord{0x0af4010d, 80, np::abi::kBackendLocal | np::abi::kBackendTerminating, 0}};
  services.maglev = {0, 1, 2, 0, 1, 2, 0, 0, 2, 0, 2, 0, 2, 0};
  services.source_ranges = {np::abi::CidrRecord{0xc0a86400, 24, {}}};
  return services;
}

// SeedServices() with "default/empty:dns" removed, "vote/vote:http" given
// one backend fewer, and a new port added.
np::ServicesDelta SeedDelta() {
  np::ServicesDelta delta;
  delta.generation = 4;
  delta.base_generation = 9;
  delta.base_service_ports = 2;
  np::ServicesImage changed = SeedServices();
  changed.service_ports[0].backend_count = 2;
  changed.maglev = {0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  changed.service_ports[1].id = 3;
  changed.service_port_names[1] = "default/new:dns";
  changed.frontends[3].ipv4 = 0x0a600a0c;
  delta.changed = changed;
  delta.removed_ids = {2};
  return delta;
}

std::vector<std::pair<std::string, Bytes>> BuiltSeeds() {
  np::ServicesImage none;
  none.generation = 1;
  return {{"node-valid.bin", np::EncodeNodeSection(SeedNode())},
          {"services-valid.bin", np::EncodeServicesSection(SeedServices())},
          {"services-empty.bin", np::EncodeServicesSection(none)},
          {"services-delta-valid.bin", np::EncodeServicesDeltaSection(SeedDelta())}};
}

uint64_t runs = 0;

void Run(const Bytes& bytes) {
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  ++runs;
}

void Mutate(const Bytes& seed, uint32_t random_seed) {
  Run(seed);
  for (size_t length = 0; length < seed.size(); ++length) Run(Bytes(seed.begin(), seed.begin() + length));
  Bytes longer = seed;
  longer.push_back(0);
  Run(longer);
  for (size_t at = 0; at < seed.size(); ++at) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      Bytes mutated = seed;
      mutated[at] ^= mask;
      Run(mutated);
    }
  }
  const uint32_t size = static_cast<uint32_t>(seed.size());
  for (size_t at = 0; at + 4 <= seed.size(); at += 4) {
    for (uint32_t value : {0u, 1u, 2u, 7u, 0x7fffffffu, 0x80000000u, 0xffffffffu, size, size - 1, size + 1}) {
      Bytes mutated = seed;
      std::memcpy(mutated.data() + at, &value, sizeof(value));
      Run(mutated);
    }
  }
  std::mt19937 random(random_seed);
  for (int i = 0; i < 3000; ++i) {
    Bytes mutated = seed;
    const int edits = 1 + static_cast<int>(random() % 8);
    for (int edit = 0; edit < edits && !mutated.empty(); ++edit)
      mutated[random() % mutated.size()] = static_cast<uint8_t>(random());
    Run(mutated);
  }
}

Bytes ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-corpus") {
    std::filesystem::create_directories(argv[2]);
    for (const auto& [name, bytes] : BuiltSeeds()) {
      std::ofstream out(std::filesystem::path(argv[2]) / name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR | --write-corpus DIR\n", argv[0]);
    return 2;
  }
  // The built seeds must be valid: a validator that refuses everything
  // would make every other check here vacuous.
  const auto seeds = BuiltSeeds();
  if (!np::DecodeNodeSection(seeds[0].second.data(), seeds[0].second.size(), nullptr).ok() ||
      !np::DecodeServicesSection(seeds[1].second.data(), seeds[1].second.size(), nullptr).ok() ||
      !np::DecodeServicesSection(seeds[2].second.data(), seeds[2].second.size(), nullptr).ok() ||
      !np::DecodeServicesDeltaSection(seeds[3].second.data(), seeds[3].second.size(), nullptr).ok() ||
      !np::ApplyServicesDelta(SeedServices(), SeedDelta()).ok()) {
    std::fprintf(stderr, "a built seed image does not decode\n");
    return 1;
  }
  uint32_t random_seed = 1;
  for (const auto& [name, bytes] : seeds) Mutate(bytes, random_seed++);
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1]))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no corpus in %s\n", argv[1]);
    return 1;
  }
  for (const auto& file : files) {
    const Bytes bytes = ReadFile(file);
    if (bytes.size() <= 4096) Mutate(bytes, random_seed++);
    else Run(bytes);
  }
  std::printf("%llu inputs (%zu corpus files + %zu built seeds, with mutations): no crash\n",
              static_cast<unsigned long long>(runs), files.size(), seeds.size());
  return 0;
}
