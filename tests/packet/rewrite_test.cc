// Every rewrite is checked against a packet built from scratch with the new
// tuple by the test builder, whose checksums are computed naively: equal
// bytes means the incremental updates equal a full recomputation.
#include "dataplane/nat/rewrite.h"

#include <gtest/gtest.h>

#include <functional>

#include "tests/packet/packet_builder.h"

namespace np {
namespace {

using test::Bytes;
using test::Ip;
using test::PacketBuilder;

const uint32_t kClient = Ip("192.168.1.50");
const uint32_t kVip = Ip("10.96.0.10");
const uint32_t kNode = Ip("10.0.0.100");
const uint32_t kBackend = Ip("10.244.2.7");

PacketMeta MustParse(const Bytes& frame) {
  PacketMeta meta;
  const ParseResult result = Parse(frame.data(), static_cast<uint32_t>(frame.size()), meta);
  EXPECT_EQ(result, ParseResult::kOk) << ParseResultName(result);
  return meta;
}

using Build = std::function<PacketBuilder&(PacketBuilder&, uint32_t src, uint16_t sport, uint32_t dst,
                                           uint16_t dport)>;

// Builds the packet with the original and the rewritten tuple, rewrites the
// first and compares.
void CheckRewrite(const Build& build, bool snat, bool dnat) {
  PacketBuilder original_builder;
  build(original_builder, kClient, 40000, kVip, 80);
  Bytes packet = original_builder.Build();
  PacketBuilder expected_builder;
  build(expected_builder, snat ? kNode : kClient, snat ? 61000 : 40000, dnat ? kBackend : kVip,
        dnat ? 8080 : 80);
  const Bytes expected = expected_builder.Build();
  const PacketMeta meta = MustParse(packet);
  if (snat && dnat) {
    ASSERT_TRUE(RewriteSourceAndDestination(packet.data(), meta, kNode, 61000, kBackend, 8080));
  } else if (snat) {
    ASSERT_TRUE(RewriteSource(packet.data(), meta, kNode, 61000));
  } else {
    ASSERT_TRUE(RewriteDestination(packet.data(), meta, kBackend, 8080));
  }
  EXPECT_EQ(packet, expected);
  EXPECT_EQ(test::VerifyIpv4Checksums(packet, meta.l3_offset), "");
}

void CheckAllDirections(const Build& build) {
  {
    SCOPED_TRACE("snat");
    CheckRewrite(build, true, false);
  }
  {
    SCOPED_TRACE("dnat");
    CheckRewrite(build, false, true);
  }
  {
    SCOPED_TRACE("both");
    CheckRewrite(build, true, true);
  }
}

TEST(Rewrite, Tcp) {
  CheckAllDirections([](PacketBuilder& b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) -> PacketBuilder& {
    return b.Eth().IPv4(src, dst).Tcp(sport, dport, kTcpSyn).Payload("GET / HTTP/1.1\r\n");
  });
}

TEST(Rewrite, TcpVlanIpOptionsOddPayload) {
  CheckAllDirections([](PacketBuilder& b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) -> PacketBuilder& {
    return b.Eth().Vlan(42).IPv4(src, dst, {.options = {0x94, 4, 0, 0}}).Tcp(sport, dport, kTcpAck).PayloadOfSize(33);
  });
}

TEST(Rewrite, Udp) {
  CheckAllDirections([](PacketBuilder& b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) -> PacketBuilder& {
    return b.Eth().IPv4(src, dst).Udp(sport, dport).PayloadOfSize(21);
  });
}

TEST(Rewrite, UdpZeroChecksumStaysZero) {
  CheckAllDirections([](PacketBuilder& b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) -> PacketBuilder& {
    return b.Eth().IPv4(src, dst).Udp(sport, dport, {.zero_checksum = true}).PayloadOfSize(21);
  });
}

TEST(Rewrite, UdpChecksumThatBecomesZeroIsSentAsAllOnes) {
  // Pick a payload word such that the rewritten datagram's checksum computes
  // to 0 (transmitted as 0xffff).
  Bytes probe = PacketBuilder().Eth().IPv4(kClient, kBackend).Udp(40000, 8080).Payload(Bytes{0, 0}).Build();
  const uint16_t checksum = LoadBe16(probe.data() + 34 + kUdpChecksumOffset);
  Bytes payload(2);
  StoreBe16(payload.data(), checksum);
  Bytes packet = PacketBuilder().Eth().IPv4(kClient, kVip).Udp(40000, 80).Payload(payload).Build();
  const Bytes expected = PacketBuilder().Eth().IPv4(kClient, kBackend).Udp(40000, 8080).Payload(payload).Build();
  ASSERT_EQ(LoadBe16(expected.data() + 34 + kUdpChecksumOffset), 0xffff);
  const PacketMeta meta = MustParse(packet);
  ASSERT_TRUE(RewriteDestination(packet.data(), meta, kBackend, 8080));
  EXPECT_EQ(packet, expected);
}

TEST(Rewrite, Sctp) {
  CheckAllDirections([](PacketBuilder& b, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) -> PacketBuilder& {
    return b.Eth().IPv4(src, dst).Sctp(sport, dport).PayloadOfSize(48);
  });
}

TEST(Rewrite, IcmpEchoIdentifierActsAsPort) {
  Bytes packet = PacketBuilder().Eth().IPv4(kClient, kVip).IcmpEcho(kIcmpEchoRequest, 0x1111, 5).Payload("data").Build();
  const Bytes expected =
      PacketBuilder().Eth().IPv4(kNode, kVip).IcmpEcho(kIcmpEchoRequest, 0x2222, 5).Payload("data").Build();
  const PacketMeta meta = MustParse(packet);
  ASSERT_TRUE(RewriteSource(packet.data(), meta, kNode, 0x2222));
  EXPECT_EQ(packet, expected);
  // The reply direction: destination rewrite restores the identifier.
  Bytes reply = PacketBuilder().Eth().IPv4(kVip, kNode).IcmpEcho(kIcmpEchoReply, 0x2222, 5).Payload("data").Build();
  const Bytes expected_reply =
      PacketBuilder().Eth().IPv4(kVip, kClient).IcmpEcho(kIcmpEchoReply, 0x1111, 5).Payload("data").Build();
  const PacketMeta reply_meta = MustParse(reply);
  ASSERT_TRUE(RewriteDestination(reply.data(), reply_meta, kClient, 0x1111));
  EXPECT_EQ(reply, expected_reply);
  // Keeping the identifier (pass meta's port) changes only the address.
  Bytes again = expected_reply;
  const PacketMeta again_meta = MustParse(again);
  ASSERT_TRUE(RewriteDestination(again.data(), again_meta, kNode, again_meta.dst_port));
  EXPECT_EQ(again, PacketBuilder().Eth().IPv4(kVip, kNode).IcmpEcho(kIcmpEchoReply, 0x1111, 5).Payload("data").Build());
}

TEST(Rewrite, FragmentsFollowTheWholeDatagram) {
  for (uint8_t protocol : {kProtocolUdp, kProtocolTcp}) {
    auto build = [protocol](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
      PacketBuilder b;
      b.Eth().IPv4(src, dst, {.id = 999});
      if (protocol == kProtocolUdp) {
        b.Udp(sport, dport);
      } else {
        b.Tcp(sport, dport, kTcpAck);
      }
      return b.PayloadOfSize(200).Build();
    };
    const auto original = test::FragmentIpv4(build(kClient, 40000, kVip, 80), 14, 64);
    const auto expected = test::FragmentIpv4(build(kClient, 40000, kBackend, 8080), 14, 64);
    ASSERT_EQ(original.size(), expected.size());
    for (size_t i = 0; i < original.size(); ++i) {
      Bytes fragment = original[i];
      const PacketMeta meta = MustParse(fragment);
      // Later fragments get the ports the first one had (from the fragment table).
      ASSERT_TRUE(RewriteDestination(fragment.data(), meta, kBackend, 8080));
      EXPECT_EQ(fragment, expected[i]) << "fragment " << i;
    }
  }
}

TEST(Rewrite, SctpPortChangeOnFragmentIsRefused) {
  Bytes whole = PacketBuilder().Eth().IPv4(kClient, kVip).Sctp(40000, 80).PayloadOfSize(100).Build();
  auto fragments = test::FragmentIpv4(whole, 14, 64);
  Bytes first = fragments[0];
  const PacketMeta meta = MustParse(first);
  EXPECT_FALSE(RewriteDestination(first.data(), meta, kBackend, 8080));
  EXPECT_EQ(first, fragments[0]);
  // Address-only changes are fine (the CRC does not cover addresses).
  EXPECT_TRUE(RewriteDestination(first.data(), meta, kBackend, 80));
}

TEST(Rewrite, NotIpv4IsRefused) {
  Bytes arp = PacketBuilder().Eth().Arp(1, test::Mac(1), 1, kZeroMac, 2).Build();
  const PacketMeta meta = MustParse(arp);
  EXPECT_FALSE(RewriteSource(arp.data(), meta, 1, 1));
  EXPECT_FALSE(DecrementTtl(arp.data(), meta));
  EXPECT_FALSE(RewriteIcmpErrorInner(arp.data(), meta, 1, 1, 2, 2));
}

TEST(Rewrite, DecrementTtl) {
  Bytes packet = PacketBuilder().Eth().IPv4(kClient, kVip, {.ttl = 64}).Udp(1, 2).Build();
  const PacketMeta meta = MustParse(packet);
  ASSERT_TRUE(DecrementTtl(packet.data(), meta));
  EXPECT_EQ(packet, PacketBuilder().Eth().IPv4(kClient, kVip, {.ttl = 63}).Udp(1, 2).Build());
  for (uint8_t ttl : {0, 1}) {
    Bytes expiring = PacketBuilder().Eth().IPv4(kClient, kVip, {.ttl = ttl}).Udp(1, 2).Build();
    const Bytes before = expiring;
    EXPECT_FALSE(DecrementTtl(expiring.data(), MustParse(expiring)));
    EXPECT_EQ(expiring, before);
  }
}

// --- ICMP errors ----------------------------------------------------------------

// An ICMP error from a router about a datagram the node sent after NAT
// (kNode:61000 -> kBackend:8080); reverse NAT must make it look like an
// error about what the client sent (kClient:40000 -> kVip:80), to the client.
Bytes IcmpErrorFrame(uint32_t outer_dst, const Bytes& inner_datagram, size_t quoted) {
  Bytes quote(inner_datagram.begin(), inner_datagram.begin() + static_cast<long>(quoted));
  return PacketBuilder()
      .Eth()
      .Vlan(9)
      .IPv4(Ip("172.16.0.1"), outer_dst, {.ttl = 250})
      .IcmpError(kIcmpDestUnreachable, kIcmpCodeHostUnreachable)
      .Payload(quote)
      .Build();
}

void CheckIcmpErrorRewrite(const std::function<Bytes(uint32_t, uint16_t, uint32_t, uint16_t)>& inner,
                           size_t quoted, uint16_t client_port = 40000, uint16_t vip_port = 80) {
  Bytes packet = IcmpErrorFrame(kNode, inner(kNode, 61000, kBackend, 8080), quoted);
  const Bytes expected = IcmpErrorFrame(kClient, inner(kClient, client_port, kVip, vip_port), quoted);
  const PacketMeta meta = MustParse(packet);
  ASSERT_TRUE(meta.is_icmp_error);
  ASSERT_TRUE(RewriteIcmpErrorInner(packet.data(), meta, kClient, client_port, kVip, vip_port));
  ASSERT_TRUE(RewriteDestination(packet.data(), meta, kClient, 0));
  EXPECT_EQ(packet, expected);
  const PacketMeta after = MustParse(packet);
  EXPECT_EQ(after.inner.src_ip, kClient);
  EXPECT_EQ(after.inner.dst_ip, kVip);
  EXPECT_EQ(after.inner.src_port, client_port);
  EXPECT_EQ(after.inner.dst_port, vip_port);
  EXPECT_EQ(test::VerifyIpv4Checksums(packet, after.l3_offset), "");
}

TEST(RewriteIcmpError, UdpInnerWithChecksumQuoted) {
  auto inner = [](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
    return PacketBuilder().IPv4(src, dst).Udp(sport, dport).PayloadOfSize(100).Build();
  };
  CheckIcmpErrorRewrite(inner, 28);
  CheckIcmpErrorRewrite(inner, 60);
}

TEST(RewriteIcmpError, UdpInnerWithZeroChecksum) {
  CheckIcmpErrorRewrite(
      [](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
        return PacketBuilder().IPv4(src, dst).Udp(sport, dport, {.zero_checksum = true}).PayloadOfSize(10).Build();
      },
      28);
}

TEST(RewriteIcmpError, TcpInnerTruncatedBeforeChecksum) {
  auto inner = [](uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport) {
    return PacketBuilder().IPv4(src, dst, {.options = {1, 1, 1, 0}}).Tcp(sport, dport, kTcpSyn).Build();
  };
  // 8 quoted bytes: ports and sequence only; the checksum is not there.
  CheckIcmpErrorRewrite(inner, 24 + 8);
  // 17 bytes: half the checksum, not updated (only the outer checksums must hold).
  {
    Bytes packet = IcmpErrorFrame(kNode, inner(kNode, 61000, kBackend, 8080), 24 + 17);
    const PacketMeta meta = MustParse(packet);
    ASSERT_TRUE(RewriteIcmpErrorInner(packet.data(), meta, kClient, 40000, kVip, 80));
    EXPECT_EQ(test::VerifyIpv4Checksums(packet, meta.l3_offset), "");
    EXPECT_EQ(MustParse(packet).inner.dst_port, 80);
  }
  // Whole header quoted (RFC 1812 lets routers quote more): checksum updated.
  CheckIcmpErrorRewrite(inner, 24 + 20);
}

TEST(RewriteIcmpError, SctpInnerPortsOnly) {
  // The CRC covers the whole original packet, which is not quoted: ports are
  // rewritten, the CRC is left as it was.
  Bytes packet = IcmpErrorFrame(kNode, PacketBuilder().IPv4(kNode, kBackend).Sctp(61000, 8080).Build(), 32);
  const PacketMeta meta = MustParse(packet);
  const uint32_t crc_before = LoadLe32(packet.data() + meta.inner.l4_offset + kSctpChecksumOffset);
  ASSERT_TRUE(RewriteIcmpErrorInner(packet.data(), meta, kClient, 40000, kVip, 80));
  const PacketMeta after = MustParse(packet);
  EXPECT_EQ(after.inner.src_port, 40000);
  EXPECT_EQ(after.inner.dst_port, 80);
  EXPECT_EQ(LoadLe32(packet.data() + meta.inner.l4_offset + kSctpChecksumOffset), crc_before);
  EXPECT_EQ(test::VerifyIpv4Checksums(packet, after.l3_offset), "");
}

TEST(RewriteIcmpError, EchoInner) {
  auto inner = [](uint32_t src, uint16_t id, uint32_t dst, uint16_t) {
    return PacketBuilder().IPv4(src, dst).IcmpEcho(kIcmpEchoRequest, id, 3).Payload("ping!").Build();
  };
  // Reverse of an echo SNATed from identifier 40000 to 61000.
  Bytes packet = IcmpErrorFrame(kNode, inner(kNode, 61000, kBackend, 0), 28);
  const Bytes expected = IcmpErrorFrame(kClient, inner(kClient, 40000, kBackend, 0), 28);
  const PacketMeta meta = MustParse(packet);
  ASSERT_TRUE(RewriteIcmpErrorInner(packet.data(), meta, kClient, 40000, kBackend, 40000));
  ASSERT_TRUE(RewriteDestination(packet.data(), meta, kClient, 0));
  EXPECT_EQ(packet, expected);
}

TEST(RewriteIcmpError, InnerNonFirstFragmentAddressesOnly) {
  Bytes whole = PacketBuilder().IPv4(kNode, kBackend, {.id = 5}).Udp(61000, 8080).PayloadOfSize(100).Build();
  Bytes framed = PacketBuilder().Eth().Payload(whole).Build();
  Bytes later_fragment = test::FragmentIpv4(framed, 14, 64)[1];
  Bytes inner(later_fragment.begin() + 14, later_fragment.end());
  Bytes packet = IcmpErrorFrame(kNode, inner, 28);
  const PacketMeta meta = MustParse(packet);
  ASSERT_FALSE(meta.inner.has_l4);
  const Bytes quoted_payload(packet.begin() + meta.inner.l4_offset, packet.end());
  ASSERT_TRUE(RewriteIcmpErrorInner(packet.data(), meta, kClient, 40000, kVip, 80));
  EXPECT_EQ(Bytes(packet.begin() + meta.inner.l4_offset, packet.end()), quoted_payload);
  const PacketMeta after = MustParse(packet);
  EXPECT_EQ(after.inner.src_ip, kClient);
  EXPECT_EQ(after.inner.dst_ip, kVip);
  EXPECT_EQ(test::VerifyIpv4Checksums(packet, after.l3_offset), "");
}

TEST(RewriteIcmpError, NotAnIcmpErrorIsRefused) {
  Bytes packet = PacketBuilder().Eth().IPv4(kClient, kVip).Udp(1, 2).Build();
  const Bytes before = packet;
  EXPECT_FALSE(RewriteIcmpErrorInner(packet.data(), MustParse(packet), 1, 2, 3, 4));
  EXPECT_EQ(packet, before);
}

}  // namespace
}  // namespace np
