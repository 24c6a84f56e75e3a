#include "common/section_image.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "tests/common/test_node.h"

namespace np {
namespace {

ServicesImage SampleServices() {
  ServicesImage image;
  image.generation = 7;
  abi::ServicePortRecord sp{};
  sp.id = 42;
  sp.protocol = abi::kProtoTcp;
  sp.backend_first = 0;
  sp.backend_count = 2;
  sp.maglev_first = 0;
  sp.maglev_size = 3;
  image.service_ports.push_back(sp);
  image.service_port_names.push_back("default/web:http");
  image.frontends.push_back(abi::FrontendRecord{0x0a60000a, 80, abi::kProtoTcp, abi::FrontendKind::kClusterIP, 0});
  image.backends.push_back(abi::BackendRecord{0x0af4010b, 8080, abi::kBackendLocal, 0});
  image.backends.push_back(abi::BackendRecord{0x0af4010c, 8080, 0, 0});
  image.maglev = {0, 1, 0};
  return image;
}

NodeImage SampleNode() {
  NodeImage image = np::testing::NodeA();
  image.generation = 3;
  abi::PortRecord port{};
  port.port_id = 9;
  port.role = abi::PortRole::kUplink;
  image.ports.push_back(port);
  image.port_names.push_back("uplink");
  image.port_devargs.push_back("net_null0");
  image.routes.push_back(abi::RouteRecord{0x0af40200, 24, {}, 0xc0a8640b, 9});
  return image;
}

TEST(SectionImage, ServicesRoundTripKeepsEveryTable) {
  const std::vector<uint8_t> bytes = EncodeServicesSection(SampleServices());
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  auto decoded = DecodeServicesSection(bytes.data(), bytes.size(), &crc);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->generation, 7u);
  EXPECT_EQ(decoded->service_port_names, std::vector<std::string>{"default/web:http"});
  EXPECT_EQ(decoded->backends.size(), 2u);
  EXPECT_EQ(decoded->maglev, (std::vector<abi::MaglevEntry>{0, 1, 0}));
  EXPECT_EQ(decoded->frontends[0].port, 80);
}

// What a minor-3 writer sent: the same tables with 32-bit Maglev entries.
std::vector<uint8_t> EncodeWithWideMaglev(const ServicesImage& image) {
  using T = abi::ServicesTable;
  SectionBuilder builder(abi::SectionKind::kServices, static_cast<uint32_t>(T::kCount),
                         static_cast<uint32_t>(T::kStrings));
  std::vector<abi::ServicePortRecord> ports = image.service_ports;
  for (size_t i = 0; i < ports.size(); ++i) ports[i].name = builder.AddString(image.service_port_names[i]);
  builder.SetTable(static_cast<uint32_t>(T::kServicePorts), ports);
  builder.SetTable(static_cast<uint32_t>(T::kFrontends), image.frontends);
  builder.SetTable(static_cast<uint32_t>(T::kBackends), image.backends);
  builder.SetTable(static_cast<uint32_t>(T::kMaglev), std::vector<uint32_t>(image.maglev.begin(), image.maglev.end()));
  builder.SetTable(static_cast<uint32_t>(T::kSourceRanges), image.source_ranges);
  return builder.Finish(image.generation);
}

TEST(SectionImage, MaglevEntriesAreTwoBytesAndOlderFourByteEntriesReadTheSame) {
  const std::vector<uint8_t> narrow = EncodeServicesSection(SampleServices());
  const std::vector<uint8_t> wide = EncodeWithWideMaglev(SampleServices());
  const auto* header = reinterpret_cast<const abi::SectionHeader*>(narrow.data());
  EXPECT_EQ(header->tables[static_cast<uint32_t>(abi::ServicesTable::kMaglev)].elem_size, 2u);
  auto decoded = DecodeServicesSection(wide.data(), wide.size(), nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->maglev, (std::vector<abi::MaglevEntry>{0, 1, 0}));
  EXPECT_TRUE(EncodeServicesSection(*decoded) == narrow);
}

TEST(SectionImage, MoreBackendsThanAMaglevEntryIndexesIsRefused) {
  ServicesImage image = SampleServices();
  image.backends.resize(abi::kMaxBackendsPerServicePort + 1, image.backends[0]);
  image.service_ports[0].backend_count = abi::kMaxBackendsPerServicePort + 1;
  const std::vector<uint8_t> bytes = EncodeServicesSection(image);
  auto decoded = DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("65536 backends, more than a Maglev entry can index"), std::string::npos)
      << decoded.error().message;
}

TEST(SectionImage, PortsEncodedInOnePassGiveTheAssembledImageBytes) {
  std::mt19937 random(5);
  std::vector<ServicePortTables> ports(40);
  for (uint32_t i = 0; i < ports.size(); ++i) {
    ServicePortTables& port = ports[i];
    port.name = "ns/svc-" + std::to_string(i) + ":" + std::string(random() % 5, 'p');
    port.record.id = 1000 + i;
    port.record.protocol = abi::kProtoTcp;
    port.record.backend_count = random() % 4;
    for (uint32_t b = 0; b < port.record.backend_count; ++b)
      port.backends.push_back(abi::BackendRecord{static_cast<uint32_t>(0x0af40000u + random() % 1000), 8080, static_cast<uint8_t>(b & 1), 0});
    if (port.record.backend_count > 0) {
      port.record.maglev_size = 7;
      port.record.local_maglev_size = random() % 2 ? 5 : 0;
      port.record.local_maglev_first = port.record.maglev_size;
      for (uint32_t slot = 0; slot < port.record.maglev_size + port.record.local_maglev_size; ++slot)
        port.maglev.push_back(static_cast<abi::MaglevEntry>(random() % port.record.backend_count));
    }
    for (uint32_t f = 0; f < random() % 3; ++f)
      port.frontends.push_back(abi::FrontendRecord{0x0a600000u + i * 4 + f, 80, abi::kProtoTcp, abi::FrontendKind::kClusterIP, 0});
    if (random() % 3 == 0) port.source_ranges.push_back(abi::CidrRecord{0x0a000000, 8, {}});
    port.record.source_range_count = static_cast<uint32_t>(port.source_ranges.size());
  }
  ServicesImage assembled;
  std::vector<const ServicePortTables*> order;
  for (const ServicePortTables& port : ports) {
    port.AppendTo(assembled);
    order.push_back(&port);
  }
  assembled.generation = 9;
  EXPECT_TRUE(EncodeServicesSection(order, 9) == EncodeServicesSection(assembled));
  EXPECT_TRUE(EncodeServicesSection(std::vector<const ServicePortTables*>{}, 1) == EncodeServicesSection(ServicesImage{1}));
}

TEST(SectionImage, NodeRoundTripKeepsPortsAndRoutes) {
  const std::vector<uint8_t> bytes = EncodeNodeSection(SampleNode());
  auto decoded = DecodeNodeSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->node_name, "node-a");
  EXPECT_EQ(decoded->port_devargs, std::vector<std::string>{"net_null0"});
  ASSERT_EQ(decoded->routes.size(), 1u);
  EXPECT_EQ(decoded->routes[0].next_hop_ipv4, 0xc0a8640bu);
}

TEST(SectionImage, ChecksumMismatchIsRefusedWithReason) {
  std::vector<uint8_t> bytes = EncodeServicesSection(SampleServices());
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  bytes[bytes.size() / 2] ^= 0x40;
  auto decoded = DecodeServicesSection(bytes.data(), bytes.size(), &crc);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("checksum"), std::string::npos);
}

TEST(SectionImage, MajorVersionMismatchIsRefused) {
  std::vector<uint8_t> bytes = EncodeServicesSection(SampleServices());
  abi::SectionHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.abi_major = abi::kAbiMajor + 1;
  std::memcpy(bytes.data(), &header, sizeof(header));
  auto decoded = DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("ABI major version"), std::string::npos);
}

TEST(SectionImage, OutOfRangeIndicesAreRefused) {
  ServicesImage bad_backend = SampleServices();
  bad_backend.service_ports[0].backend_count = 3;  // only 2 backends
  auto bytes = EncodeServicesSection(bad_backend);
  EXPECT_FALSE(DecodeServicesSection(bytes.data(), bytes.size(), nullptr).ok());

  ServicesImage bad_maglev = SampleServices();
  bad_maglev.maglev[1] = 2;  // entry beyond backend_count
  bytes = EncodeServicesSection(bad_maglev);
  auto decoded = DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("Maglev entry out of range"), std::string::npos);

  ServicesImage bad_frontend = SampleServices();
  bad_frontend.frontends[0].service_port_index = 5;
  bytes = EncodeServicesSection(bad_frontend);
  EXPECT_FALSE(DecodeServicesSection(bytes.data(), bytes.size(), nullptr).ok());
}

TEST(SectionImage, TablePointingOutsideTheImageIsRefused) {
  std::vector<uint8_t> bytes = EncodeServicesSection(SampleServices());
  abi::SectionHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.tables[static_cast<uint32_t>(abi::ServicesTable::kBackends)].count = 0x10000000;
  std::memcpy(bytes.data(), &header, sizeof(header));
  auto decoded = DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("outside the image"), std::string::npos);
}

// Every truncation and many random mutations are refused or decoded, never
// a crash or an out-of-bounds read (run under ASan to see the latter).
TEST(SectionImage, MutatedImagesNeverCrashTheValidator) {
  const std::vector<uint8_t> good = EncodeServicesSection(SampleServices());
  for (size_t length = 0; length < good.size(); ++length)
    EXPECT_FALSE(DecodeServicesSection(good.data(), length, nullptr).ok());
  std::mt19937 random(12345);
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> bytes = good;
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < flips; ++i) bytes[random() % bytes.size()] = static_cast<uint8_t>(random());
    (void)DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
    (void)DecodeNodeSection(bytes.data(), bytes.size(), nullptr);
  }
}

// The per-port decoder the dataplane applies full sections with gives the
// flat decoder's ports (ServicePortTables::FromImage of each) and refuses
// exactly what it refuses, with the same reason.
void ExpectPortsDecodeAgrees(const std::vector<uint8_t>& bytes) {
  auto flat = DecodeServicesSection(bytes.data(), bytes.size(), nullptr);
  auto ports = DecodeServicesSectionPorts(bytes.data(), bytes.size(), nullptr);
  ASSERT_EQ(flat.ok(), ports.ok());
  if (!flat.ok()) {
    EXPECT_EQ(flat.error().message, ports.error().message);
    return;
  }
  EXPECT_EQ(ports->generation, flat->generation);
  std::vector<std::vector<abi::FrontendRecord>> frontends = FrontendsByServicePort(*flat);
  ASSERT_EQ(ports->ports.size(), flat->service_ports.size());
  for (uint32_t i = 0; i < flat->service_ports.size(); ++i) {
    const ServicePortTables expected = ServicePortTables::FromImage(*flat, i, std::move(frontends[i]));
    EXPECT_TRUE(ports->ports[i] == expected) << "service port " << i;
    EXPECT_EQ(std::memcmp(&ports->ports[i].record, &expected.record, sizeof(expected.record)), 0);
  }
}

TEST(SectionImage, PortsDecodeAgreesWithTheFlatDecode) {
  ServicesImage two = SampleServices();
  abi::ServicePortRecord second = two.service_ports[0];
  second.id = 43;
  second.backend_first = 1;
  second.backend_count = 1;
  second.maglev_first = 3;
  second.maglev_size = 2;
  second.local_maglev_first = 5;
  second.local_maglev_size = 1;
  second.source_range_first = 0;
  second.source_range_count = 1;
  two.service_ports.push_back(second);
  two.service_port_names.push_back("default/web:https");
  two.maglev.insert(two.maglev.end(), {0, 0, 0});
  two.source_ranges.push_back(abi::CidrRecord{0x0a000000, 8, {}});
  two.frontends.push_back(abi::FrontendRecord{0x0a60000a, 443, abi::kProtoTcp, abi::FrontendKind::kClusterIP, 1});
  two.frontends.push_back(abi::FrontendRecord{0x0a60000b, 80, abi::kProtoTcp, abi::FrontendKind::kExternalIP, 0});
  ExpectPortsDecodeAgrees(EncodeServicesSection(two));
  ExpectPortsDecodeAgrees(EncodeWithWideMaglev(two));

  ServicesImage bad = two;
  bad.maglev[5] = 1;  // the second port's local table names its backend 1 of 1
  ExpectPortsDecodeAgrees(EncodeServicesSection(bad));
  bad = two;
  bad.service_ports[1].backend_count = 3;
  ExpectPortsDecodeAgrees(EncodeServicesSection(bad));
  bad = two;
  bad.frontends[1].service_port_index = 2;
  ExpectPortsDecodeAgrees(EncodeServicesSection(bad));

  const std::vector<uint8_t> good = EncodeServicesSection(two);
  for (size_t length = 0; length < good.size(); ++length)
    ExpectPortsDecodeAgrees(std::vector<uint8_t>(good.begin(), good.begin() + static_cast<long>(length)));
  std::mt19937 random(54321);
  for (int round = 0; round < 5000; ++round) {
    std::vector<uint8_t> bytes = good;
    const int flips = 1 + static_cast<int>(random() % 8);
    for (int i = 0; i < flips; ++i) bytes[random() % bytes.size()] = static_cast<uint8_t>(random());
    ExpectPortsDecodeAgrees(bytes);
  }
}

}  // namespace
}  // namespace np
