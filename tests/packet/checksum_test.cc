#include "dataplane/packet/checksum.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>

#include "tests/packet/packet_builder.h"

namespace np {
namespace {

using test::Bytes;

TEST(Crc32c, KnownAnswers) {
  constexpr std::string_view kCheck = "123456789";
  EXPECT_EQ(Crc32c(reinterpret_cast<const uint8_t*>(kCheck.data()), kCheck.size()), 0xe3069283u);
  // RFC 3720 B.4 (iSCSI) vectors.
  Bytes zeros(32, 0x00);
  EXPECT_EQ(Crc32c(zeros.data(), 32), 0x8a9136aau);
  Bytes ones(32, 0xff);
  EXPECT_EQ(Crc32c(ones.data(), 32), 0x62a8ab43u);
  Bytes ascending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(ascending.data(), 32), 0x46dd794eu);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, SctpChecksumMatchesNaive) {
  std::mt19937 random(7);
  for (int round = 0; round < 50; ++round) {
    Bytes sctp(12 + random() % 200);
    for (auto& byte : sctp) byte = static_cast<uint8_t>(random());
    const uint32_t fast = SctpChecksum(sctp.data(), static_cast<uint32_t>(sctp.size()));
    std::memset(sctp.data() + kSctpChecksumOffset, 0, 4);
    EXPECT_EQ(fast, test::NaiveCrc32c(sctp.data(), sctp.size()));
  }
}

TEST(InternetChecksum, AccumulateMatchesNaiveForEveryLength) {
  std::mt19937 random(11);
  for (uint32_t length = 0; length < 80; ++length) {
    Bytes data(length);
    for (auto& byte : data) byte = static_cast<uint8_t>(random());
    EXPECT_EQ(static_cast<uint16_t>(~ChecksumFold(ChecksumAccumulate(data.data(), length, 0))),
              test::NaiveFinish(test::NaiveSum(data.data(), length)))
        << length;
  }
}

TEST(InternetChecksum, Ipv4HeaderRfc1071Example) {
  // A classic header: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7
  const Bytes header = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                        0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(Ipv4HeaderChecksum(header.data(), 20), 0xb861);
  EXPECT_TRUE(Ipv4HeaderChecksumValid(header.data(), 20));
  Bytes broken = header;
  broken[8] = 0x3f;
  EXPECT_FALSE(Ipv4HeaderChecksumValid(broken.data(), 20));
}

TEST(InternetChecksum, L4ChecksumsMatchBuilder) {
  using test::Ip;
  Bytes tcp = test::PacketBuilder().Eth().IPv4(Ip("10.0.0.1"), Ip("10.0.0.2")).Tcp(1, 2).Payload("abc").Build();
  EXPECT_EQ(L4ChecksumIpv4(Ip("10.0.0.1"), Ip("10.0.0.2"), kProtocolTcp, tcp.data() + 34, 23),
            LoadBe16(tcp.data() + 34 + kTcpChecksumOffset));
  EXPECT_TRUE(L4ChecksumIpv4Valid(Ip("10.0.0.1"), Ip("10.0.0.2"), kProtocolTcp, tcp.data() + 34, 23));
  Bytes udp = test::PacketBuilder().Eth().IPv4(Ip("10.0.0.1"), Ip("10.0.0.2")).Udp(1, 2).Payload("abcd").Build();
  EXPECT_EQ(L4ChecksumIpv4(Ip("10.0.0.1"), Ip("10.0.0.2"), kProtocolUdp, udp.data() + 34, 12),
            LoadBe16(udp.data() + 34 + kUdpChecksumOffset));
  Bytes icmp = test::PacketBuilder().Eth().IPv4(1, 2).IcmpEcho(8, 3, 4).Payload("ping").Build();
  EXPECT_EQ(IcmpChecksum(icmp.data() + 34, 12), LoadBe16(icmp.data() + 34 + kIcmpChecksumOffset));
}

TEST(InternetChecksum, UdpComputedZeroIsSentAsAllOnes) {
  // Search a payload word that makes the UDP sum come out as 0.
  using test::Ip;
  Bytes udp = test::PacketBuilder().Eth().IPv4(Ip("10.0.0.1"), Ip("10.0.0.2")).Udp(1, 2).Payload(Bytes{0, 0}).Build();
  uint8_t* l4 = udp.data() + 34;
  const uint16_t checksum = L4ChecksumIpv4(Ip("10.0.0.1"), Ip("10.0.0.2"), kProtocolUdp, l4, 10);
  // Put the checksum's value into the payload: the sum then becomes 0xffff, i.e. checksum 0.
  StoreBe16(l4 + 8, checksum);
  EXPECT_EQ(L4ChecksumIpv4(Ip("10.0.0.1"), Ip("10.0.0.2"), kProtocolUdp, l4, 10), 0xffff);
  StoreBe16(l4 + kUdpChecksumOffset, 0xffff);
  EXPECT_TRUE(L4ChecksumIpv4Valid(Ip("10.0.0.1"), Ip("10.0.0.2"), kProtocolUdp, l4, 10));
}

TEST(IncrementalChecksum, MatchesFullRecomputation) {
  std::mt19937 random(99);
  for (int round = 0; round < 20000; ++round) {
    Bytes data(20 + (random() % 16) * 2);
    for (auto& byte : data) byte = static_cast<uint8_t>(random());
    StoreBe16(data.data() + kIpv4ChecksumOffset, Ipv4HeaderChecksum(data.data(), static_cast<uint32_t>(data.size())));
    const uint16_t before = LoadBe16(data.data() + kIpv4ChecksumOffset);
    // Change one 32-bit field (an address) and one 16-bit field.
    const uint32_t old32 = LoadBe32(data.data() + 12);
    const uint32_t new32 = (round % 7 == 0) ? 0 : static_cast<uint32_t>(random());
    const uint16_t old16 = LoadBe16(data.data() + 4);
    const uint16_t new16 = (round % 5 == 0) ? 0xffff : static_cast<uint16_t>(random());
    StoreBe32(data.data() + 12, new32);
    StoreBe16(data.data() + 4, new16);
    const uint16_t incremental = ChecksumUpdate16(ChecksumUpdate32(before, old32, new32), old16, new16);
    ChecksumDelta delta;
    delta.Add32(old32, new32);
    delta.Add16(old16, new16);
    const uint16_t full = Ipv4HeaderChecksum(data.data(), static_cast<uint32_t>(data.size()));
    ASSERT_EQ(incremental, full) << round;
    ASSERT_EQ(delta.Apply(before), full) << round;
  }
}

}  // namespace
}  // namespace np
