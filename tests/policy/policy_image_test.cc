// The policy section image: encode/decode round trip, and refusal of every
// kind of damaged or inconsistent image (the dataplane trusts nothing it
// reads from shared memory).
#include "common/policy_image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>

#include "common/section_image.h"

namespace np {
namespace {

using ::testing::HasSubstr;

PolicyImage SampleImage() {
  PolicyImage image;
  image.generation = 7;
  image.info.cluster_cidr = 0x0af40000;  // 10.244.0.0/16
  image.info.cluster_cidr_len = 16;
  image.identities = {{256, abi::kIdentityIsolatedIngress | abi::kIdentityEnforced, {}, {}},
                      {257, abi::kIdentityEnforced, {}, {}},
                      {300, 0, {}, {}}};
  image.identity_names = {"voting-app/app=db;postgres/TCP=5432", "voting-app/app=worker", "kube-system/k8s-app=kube-dns"};
  image.ip_entries = {{0x0af4010f, 256, abi::kIpLocalPod, {}},
                      {0x0af40110, 257, abi::kIpLocalPod, {}},
                      {0x0af40205, 300, 0, {}},
                      {0xc0a8640a, abi::kIdentityHost, 0, {}}};
  image.policies = {{{}, abi::kPolicyIngress, {}}, {{}, abi::kPolicyIngress | abi::kPolicyEgress, {}}};
  image.policy_names = {"voting-app/db-access", "voting-app/default-deny"};
  image.identity_refs = {256, 257, 300};
  image.cidrs = {{0x0a000000, 8, {}}, {0xc0a80000, 16, {}}};
  abi::PolicyRuleRecord ingress{};
  ingress.policy_index = 0;
  ingress.direction = static_cast<uint8_t>(abi::PolicyDirection::kIngress);
  ingress.protocol = abi::kProtoTcp;
  ingress.port_min = ingress.port_max = 5432;
  ingress.subject_first = 0;
  ingress.subject_count = 1;
  ingress.peer_first = 1;
  ingress.peer_count = 1;
  ingress.peer_flags = abi::kPeerAnyAddress;
  abi::PolicyRuleRecord egress{};
  egress.policy_index = 1;
  egress.direction = static_cast<uint8_t>(abi::PolicyDirection::kEgress);
  egress.protocol = 0;
  egress.port_min = 0;
  egress.port_max = 0xffff;
  egress.subject_first = 1;
  egress.subject_count = 1;
  egress.cidr_first = 0;
  egress.cidr_count = 2;
  egress.peer_flags = abi::kPeerAnyIdentity;
  image.rules = {ingress, egress};
  return image;
}

std::string DecodeError(const PolicyImage& image) {
  const std::vector<uint8_t> bytes = EncodePolicySection(image);
  auto decoded = DecodePolicySection(bytes.data(), bytes.size(), nullptr);
  return decoded ? std::string("accepted") : decoded.error().message;
}

TEST(PolicyImage, RoundTrip) {
  const PolicyImage image = SampleImage();
  const std::vector<uint8_t> bytes = EncodePolicySection(image);
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  auto decoded = DecodePolicySection(bytes.data(), bytes.size(), &crc);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->generation, 7u);
  EXPECT_EQ(decoded->info.cluster_cidr_len, 16);
  ASSERT_EQ(decoded->identities.size(), 3u);
  EXPECT_EQ(decoded->identity_names, image.identity_names);
  EXPECT_EQ(decoded->policy_names, image.policy_names);
  ASSERT_EQ(decoded->ip_entries.size(), 4u);
  EXPECT_EQ(decoded->ip_entries[3].identity, abi::kIdentityHost);
  ASSERT_EQ(decoded->rules.size(), 2u);
  EXPECT_EQ(decoded->rules[0].port_min, 5432);
  EXPECT_EQ(decoded->identity_refs, image.identity_refs);
  EXPECT_EQ(decoded->cidrs.size(), 2u);
  EXPECT_EQ(decoded->AclDigest(), image.AclDigest());
  EXPECT_EQ(decoded->AclRuleCount(), 1u + 2u);
  EXPECT_EQ(decoded->FindIdentity(300)->flags, 0);
}

TEST(PolicyImage, DigestIgnoresAddressesButNotRules) {
  PolicyImage image = SampleImage();
  const uint32_t digest = image.AclDigest();
  image.ip_entries.push_back({0x0af40120, 257, abi::kIpLocalPod, {}});
  image.identities[0].flags = 0;
  EXPECT_EQ(image.AclDigest(), digest);
  image.rules[0].port_max = 5433;
  EXPECT_NE(image.AclDigest(), digest);
}

TEST(PolicyImage, RefusesCorruptedBytes) {
  std::vector<uint8_t> bytes = EncodePolicySection(SampleImage());
  const uint32_t crc = Crc32(bytes.data(), bytes.size());
  bytes[bytes.size() - 3] ^= 0x40;
  auto decoded = DecodePolicySection(bytes.data(), bytes.size(), &crc);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error().message, HasSubstr("checksum"));
}

TEST(PolicyImage, RefusesWrongKindTruncationAndTablesOutside) {
  const std::vector<uint8_t> good = EncodePolicySection(SampleImage());
  EXPECT_FALSE(DecodePolicySection(good.data(), good.size() - 8, nullptr).ok());
  EXPECT_FALSE(DecodePolicySection(good.data(), 10, nullptr).ok());
  EXPECT_FALSE(DecodePolicySection(nullptr, 0, nullptr).ok());

  std::vector<uint8_t> bytes = good;
  abi::SectionHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.kind = static_cast<uint32_t>(abi::SectionKind::kServices);
  std::memcpy(bytes.data(), &header, sizeof(header));
  EXPECT_FALSE(DecodePolicySection(bytes.data(), bytes.size(), nullptr).ok());

  bytes = good;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.tables[static_cast<uint32_t>(abi::PolicyTable::kRules)].count = 1000000;
  std::memcpy(bytes.data(), &header, sizeof(header));
  auto decoded = DecodePolicySection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error().message, HasSubstr("outside the image"));

  bytes = good;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.tables[static_cast<uint32_t>(abi::PolicyTable::kRules)].elem_size = 8;
  std::memcpy(bytes.data(), &header, sizeof(header));
  decoded = DecodePolicySection(bytes.data(), bytes.size(), nullptr);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.error().message, HasSubstr("record size"));

  bytes = good;
  std::memcpy(&header, bytes.data(), sizeof(header));
  header.table_count = 5;  // an image from a reader that knows fewer tables
  std::memcpy(bytes.data(), &header, sizeof(header));
  EXPECT_FALSE(DecodePolicySection(bytes.data(), bytes.size(), nullptr).ok());
}

struct Mutation {
  const char* name;
  std::function<void(PolicyImage&)> apply;
  const char* expected;
};

TEST(PolicyImage, RefusesInconsistentRecords) {
  const std::vector<Mutation> mutations = {
      {"reserved identity", [](PolicyImage& i) { i.identities[0].id = 2; }, "reserved"},
      {"duplicate identity", [](PolicyImage& i) { i.identities[1].id = 256; }, "duplicate id"},
      {"identity flags", [](PolicyImage& i) { i.identities[0].flags = 0x80; }, "unknown flags"},
      {"unsorted ips", [](PolicyImage& i) { std::swap(i.ip_entries[0], i.ip_entries[1]); }, "not sorted"},
      {"duplicate ip", [](PolicyImage& i) { i.ip_entries[1].ipv4 = i.ip_entries[0].ipv4; }, "not sorted"},
      {"ip of unknown identity", [](PolicyImage& i) { i.ip_entries[0].identity = 999; }, "unknown identity"},
      {"host marked as pod", [](PolicyImage& i) { i.ip_entries[3].flags = abi::kIpLocalPod; }, "host address"},
      {"policy types", [](PolicyImage& i) { i.policies[0].types = 4; }, "policy types"},
      {"ref to unknown identity", [](PolicyImage& i) { i.identity_refs[2] = 12345; }, "identity ref 2"},
      {"cidr host bits", [](PolicyImage& i) { i.cidrs[0].prefix = 0x0a000001; }, "cidr 0"},
      {"cidr length", [](PolicyImage& i) { i.cidrs[1].prefix_len = 33; }, "cidr 1"},
      {"cluster cidr", [](PolicyImage& i) { i.info.cluster_cidr_len = 40; }, "cluster CIDR"},
      {"rule policy", [](PolicyImage& i) { i.rules[0].policy_index = 2; }, "names no policy"},
      {"rule direction", [](PolicyImage& i) { i.rules[0].direction = 2; }, "unknown direction"},
      {"rule protocol", [](PolicyImage& i) { i.rules[0].protocol = 1; }, "unknown protocol"},
      {"rule port range", [](PolicyImage& i) { i.rules[0].port_min = 6000; }, "empty port range"},
      {"ports without protocol", [](PolicyImage& i) { i.rules[1].port_max = 80; }, "needs a protocol"},
      {"rule peer flags", [](PolicyImage& i) { i.rules[0].peer_flags |= 0x10; }, "unknown peer flags"},
      {"no subjects", [](PolicyImage& i) { i.rules[0].subject_count = 0; }, "subjects out of bounds"},
      {"subjects outside", [](PolicyImage& i) { i.rules[0].subject_first = 3; }, "subjects out of bounds"},
      {"subjects overflow", [](PolicyImage& i) { i.rules[0].subject_count = 0xffffffffu; }, "subjects out of bounds"},
      {"peers outside", [](PolicyImage& i) { i.rules[0].peer_count = 3; }, "peer identities out of bounds"},
      {"empty peer set", [](PolicyImage& i) { i.rules[0].peer_count = 0; }, "peer identities out of bounds"},
      {"cidrs outside", [](PolicyImage& i) { i.rules[1].cidr_first = 1; }, "peer CIDRs out of bounds"},
  };
  for (const Mutation& mutation : mutations) {
    PolicyImage image = SampleImage();
    mutation.apply(image);
    EXPECT_THAT(DecodeError(image), HasSubstr(mutation.expected)) << mutation.name;
  }
}

TEST(PolicyImage, RefusesRulesThatExpandBeyondTheLimit) {
  PolicyImage image = SampleImage();
  // 2048 subjects x 2048 peers = 4M classifier rules + the others.
  image.identities.clear();
  image.identity_names.clear();
  image.identity_refs.clear();
  image.ip_entries.clear();
  for (uint32_t id = 256; id < 256 + 2048; ++id) {
    image.identities.push_back({id, 0, {}, {}});
    image.identity_names.push_back("ns/" + std::to_string(id));
    image.identity_refs.push_back(id);
  }
  image.rules[0].subject_first = 0;
  image.rules[0].subject_count = 2048;
  image.rules[0].peer_first = 0;
  image.rules[0].peer_count = 2048;
  EXPECT_THAT(DecodeError(image), HasSubstr("classifier rules, above the limit"));
}

// Random single-byte damage never crashes the decoder, and whatever it
// accepts is still internally consistent (every reference in bounds).
TEST(PolicyImage, RandomDamageIsRefusedOrConsistent) {
  const std::vector<uint8_t> good = EncodePolicySection(SampleImage());
  std::mt19937 random(12345);
  int refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<uint8_t> bytes = good;
    const int flips = 1 + static_cast<int>(random() % 3);
    for (int f = 0; f < flips; ++f) bytes[random() % bytes.size()] ^= static_cast<uint8_t>(1u << (random() % 8));
    auto decoded = DecodePolicySection(bytes.data(), bytes.size(), nullptr);
    if (!decoded) {
      ++refused;
      continue;
    }
    for (const abi::PolicyRuleRecord& rule : decoded->rules) {
      ASSERT_LE(uint64_t{rule.subject_first} + rule.subject_count, decoded->identity_refs.size());
      ASSERT_LT(rule.policy_index, decoded->policies.size());
      if (!(rule.peer_flags & abi::kPeerAnyAddress)) {
        ASSERT_LE(uint64_t{rule.cidr_first} + rule.cidr_count, decoded->cidrs.size());
      }
    }
  }
  EXPECT_GT(refused, 1000);
  // With the checksum, every damaged image is refused.
  const uint32_t crc = Crc32(good.data(), good.size());
  for (size_t offset = 0; offset < good.size(); offset += 7) {
    std::vector<uint8_t> bytes = good;
    bytes[offset] ^= 1;
    EXPECT_FALSE(DecodePolicySection(bytes.data(), bytes.size(), &crc).ok()) << offset;
  }
}

}  // namespace
}  // namespace np
