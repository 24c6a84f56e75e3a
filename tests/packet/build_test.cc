#include "dataplane/packet/build.h"

#include <gtest/gtest.h>

#include "tests/packet/packet_builder.h"

namespace np {
namespace {

using test::Bytes;
using test::Ip;
using test::Mac;
using test::PacketBuilder;

const MacAddress kOurMac = Mac(0xaa);
const MacAddress kPodMac = Mac(0x05);

PacketMeta MustParse(const uint8_t* data, uint32_t length) {
  PacketMeta meta;
  EXPECT_EQ(Parse(data, length, meta), ParseResult::kOk);
  return meta;
}

TEST(BuildArp, ReplyAnswersTheRequest) {
  uint8_t out[128];
  const uint32_t length = BuildArpReply(out, sizeof(out), kOurMac, Ip("10.244.1.1"), kPodMac, Ip("10.244.1.5"), 0);
  ASSERT_EQ(length, 60u);  // padded to the Ethernet minimum
  const PacketMeta meta = MustParse(out, length);
  EXPECT_EQ(meta.ethertype, kEtherTypeArp);
  EXPECT_FALSE(meta.has_vlan);
  EXPECT_EQ(meta.arp.opcode, kArpOpReply);
  EXPECT_EQ(meta.arp.sender_mac, kOurMac);
  EXPECT_EQ(meta.arp.sender_ip, Ip("10.244.1.1"));
  EXPECT_EQ(meta.arp.target_mac, kPodMac);
  EXPECT_EQ(meta.arp.target_ip, Ip("10.244.1.5"));
  EXPECT_EQ(LoadMac(out + kEthDstOffset), kPodMac);
  EXPECT_EQ(LoadMac(out + kEthSrcOffset), kOurMac);
  // Byte-exact against the test builder.
  const Bytes expected = PacketBuilder()
                             .Eth(kOurMac, kPodMac)
                             .Arp(kArpOpReply, kOurMac, Ip("10.244.1.1"), kPodMac, Ip("10.244.1.5"))
                             .Padding(18)
                             .Build();
  EXPECT_EQ(Bytes(out, out + length), expected);
}

TEST(BuildArp, RequestAndGratuitousWithVlan) {
  uint8_t out[64];
  uint32_t length = BuildArpRequest(out, sizeof(out), kOurMac, Ip("10.0.0.100"), Ip("10.0.0.1"), 300);
  ASSERT_EQ(length, 60u);
  PacketMeta meta = MustParse(out, length);
  EXPECT_TRUE(meta.has_vlan);
  EXPECT_EQ(meta.vlan_id, 300);
  EXPECT_EQ(meta.arp.opcode, kArpOpRequest);
  EXPECT_EQ(meta.arp.target_ip, Ip("10.0.0.1"));
  EXPECT_EQ(meta.arp.target_mac, kZeroMac);
  EXPECT_EQ(LoadMac(out + kEthDstOffset), kBroadcastMac);

  length = BuildGratuitousArp(out, sizeof(out), kOurMac, Ip("192.168.1.240"), 0);
  ASSERT_EQ(length, 60u);
  meta = MustParse(out, length);
  EXPECT_EQ(meta.arp.opcode, kArpOpRequest);
  EXPECT_EQ(meta.arp.sender_ip, Ip("192.168.1.240"));
  EXPECT_EQ(meta.arp.target_ip, Ip("192.168.1.240"));
  EXPECT_EQ(meta.arp.sender_mac, kOurMac);
}

TEST(BuildArp, TooSmallBuffer) {
  uint8_t out[59];
  EXPECT_EQ(BuildArpReply(out, sizeof(out), kOurMac, 1, kPodMac, 2, 0), 0u);
}

TEST(BuildIcmp, PortUnreachableQuotesHeaderAnd8Bytes) {
  const Bytes offending = PacketBuilder()
                              .Eth(kPodMac, kOurMac)
                              .Vlan(12)
                              .IPv4(Ip("10.244.1.5"), Ip("10.96.0.10"), {.options = {1, 1, 1, 0}})
                              .Udp(5555, 53)
                              .PayloadOfSize(300)
                              .Build();
  const PacketMeta meta = MustParse(offending.data(), static_cast<uint32_t>(offending.size()));
  uint8_t out[256];
  const uint32_t length = BuildIcmpPortUnreachable(out, sizeof(out), offending.data(), meta, Ip("10.96.0.10"));
  ASSERT_EQ(length, 18u + 20 + 8 + 24 + 8);
  EXPECT_EQ(length, IcmpErrorFrameLength(meta));
  const Bytes reply(out, out + length);
  const PacketMeta reply_meta = MustParse(out, length);
  EXPECT_EQ(LoadMac(out + kEthDstOffset), kPodMac);
  EXPECT_EQ(LoadMac(out + kEthSrcOffset), kOurMac);
  EXPECT_EQ(reply_meta.vlan_id, 12);
  EXPECT_EQ(reply_meta.src_ip, Ip("10.96.0.10"));
  EXPECT_EQ(reply_meta.dst_ip, Ip("10.244.1.5"));
  EXPECT_EQ(reply_meta.protocol, kProtocolIcmp);
  EXPECT_EQ(reply_meta.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(reply_meta.icmp_code, kIcmpCodePortUnreachable);
  EXPECT_TRUE(reply_meta.is_icmp_error);
  EXPECT_EQ(reply_meta.inner.src_ip, Ip("10.244.1.5"));
  EXPECT_EQ(reply_meta.inner.dst_ip, Ip("10.96.0.10"));
  EXPECT_EQ(reply_meta.inner.src_port, 5555);
  EXPECT_EQ(reply_meta.inner.dst_port, 53);
  EXPECT_EQ(reply_meta.inner.l4_available, 8);
  // The quote is the offending bytes verbatim.
  EXPECT_EQ(Bytes(reply.begin() + reply_meta.inner.ip_offset, reply.end()),
            Bytes(offending.begin() + 18, offending.begin() + 18 + 24 + 8));
  EXPECT_EQ(test::VerifyIpv4Checksums(reply, reply_meta.l3_offset), "");
}

TEST(BuildIcmp, ShortOffendingPacketIsPaddedAndQuotedWhole) {
  const Bytes offending = PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("10.244.1.5"), Ip("10.96.0.10"), {.protocol = 99}).Payload("ab").Build();
  const PacketMeta meta = MustParse(offending.data(), static_cast<uint32_t>(offending.size()));
  uint8_t out[128];
  const uint32_t length = BuildIcmpError(out, sizeof(out), offending.data(), meta, Ip("10.0.0.100"),
                                         kIcmpDestUnreachable, kIcmpCodeProtocolUnreachable, 0);
  ASSERT_EQ(length, 64u);  // 14 + 20 + 8 + 22
  const Bytes reply(out, out + length);
  EXPECT_EQ(test::VerifyIpv4Checksums(reply, 14), "");
}

TEST(BuildIcmp, FragmentationNeededCarriesMtu) {
  const Bytes offending = PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("10.244.1.5"), Ip("1.1.1.1"), {.dont_fragment = true}).Tcp(1, 443).PayloadOfSize(1400).Build();
  const PacketMeta meta = MustParse(offending.data(), static_cast<uint32_t>(offending.size()));
  uint8_t out[128];
  const uint32_t length = BuildIcmpError(out, sizeof(out), offending.data(), meta, Ip("10.244.1.1"),
                                         kIcmpDestUnreachable, kIcmpCodeFragmentationNeeded, 1400);
  ASSERT_GT(length, 0u);
  EXPECT_EQ(LoadBe16(out + 14 + 20 + kIcmpNextHopMtuOffset), 1400);
  EXPECT_EQ(test::VerifyIpv4Checksums(Bytes(out, out + length), 14), "");
}

TEST(BuildIcmp, NeverAboutErrorsFragmentsBroadcastsOrBadSources) {
  uint8_t out[256];
  auto build = [&out](const Bytes& frame) {
    PacketMeta meta;
    EXPECT_EQ(Parse(frame.data(), static_cast<uint32_t>(frame.size()), meta), ParseResult::kOk);
    return BuildIcmpPortUnreachable(out, sizeof(out), frame.data(), meta, Ip("10.0.0.100"));
  };
  const Bytes quoted = PacketBuilder().IPv4(Ip("10.0.0.100"), Ip("1.2.3.4")).Udp(1, 2).Build();
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("1.2.3.4"), Ip("10.0.0.100")).IcmpError(3, 3).Payload(quoted).Build()), 0u);
  const Bytes whole = PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("10.244.1.5"), Ip("10.96.0.10")).Udp(1, 2).PayloadOfSize(100).Build();
  const auto fragments = test::FragmentIpv4(whole, 14, 64);
  EXPECT_GT(build(fragments[0]), 0u);
  EXPECT_EQ(build(fragments[1]), 0u);
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kBroadcastMac).IPv4(Ip("10.244.1.5"), Ip("10.96.0.10")).Udp(1, 2).Build()), 0u);
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("10.244.1.5"), Ip("255.255.255.255")).Udp(1, 2).Build()), 0u);
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("10.244.1.5"), Ip("239.1.1.1")).Udp(1, 2).Build()), 0u);
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("0.0.0.0"), Ip("10.96.0.10")).Udp(1, 2).Build()), 0u);
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("127.0.0.1"), Ip("10.96.0.10")).Udp(1, 2).Build()), 0u);
  EXPECT_EQ(build(PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("224.0.0.5"), Ip("10.96.0.10")).Udp(1, 2).Build()), 0u);
  // Too small a buffer.
  const Bytes ok = PacketBuilder().Eth(kPodMac, kOurMac).IPv4(Ip("10.244.1.5"), Ip("10.96.0.10")).Udp(1, 2).Build();
  PacketMeta meta;
  ASSERT_EQ(Parse(ok.data(), static_cast<uint32_t>(ok.size()), meta), ParseResult::kOk);
  EXPECT_EQ(BuildIcmpPortUnreachable(out, IcmpErrorFrameLength(meta) - 1, ok.data(), meta, 1), 0u);
  EXPECT_GT(BuildIcmpPortUnreachable(out, IcmpErrorFrameLength(meta), ok.data(), meta, 1), 0u);
}

}  // namespace
}  // namespace np
