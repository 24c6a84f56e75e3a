#include "dataplane/packet/parse.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/packet/packet_builder.h"

namespace np {
namespace {

using test::Bytes;
using test::Ip;
using test::Mac;
using test::PacketBuilder;

ParseResult ParseBytes(const Bytes& frame, PacketMeta& meta) {
  return Parse(frame.data(), static_cast<uint32_t>(frame.size()), meta);
}

std::array<uint8_t, 16> V6(uint8_t last) {
  std::array<uint8_t, 16> address{};
  address[0] = 0xfd;
  address[15] = last;
  return address;
}

TEST(ParseResultNames, EveryResultHasAName) {
  for (size_t i = 0; i < static_cast<size_t>(ParseResult::kCount); ++i) {
    EXPECT_FALSE(ParseResultName(static_cast<ParseResult>(i)).empty());
  }
  EXPECT_EQ(ParseResultName(ParseResult::kOk), "ok");
  EXPECT_EQ(ParseResultName(ParseResult::kIpv6), "ipv6");
  EXPECT_EQ(ParseResultName(ParseResult::kCount), "unknown");
}

TEST(Parse, Tcp) {
  Bytes frame = PacketBuilder()
                    .Eth()
                    .IPv4(Ip("10.0.0.1"), Ip("10.96.0.10"), {.ttl = 63, .tos = 0x10, .id = 77, .dont_fragment = true})
                    .Tcp(40000, 80, kTcpSyn | kTcpAck)
                    .Payload("hello")
                    .Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_EQ(meta.ethertype, kEtherTypeIpv4);
  EXPECT_FALSE(meta.has_vlan);
  EXPECT_EQ(meta.l3_offset, 14);
  EXPECT_EQ(meta.l4_offset, 34);
  EXPECT_EQ(meta.ip_header_length, 20);
  EXPECT_EQ(meta.ip_total_length, 20 + 20 + 5);
  EXPECT_EQ(meta.frame_length, frame.size());
  EXPECT_EQ(meta.src_ip, Ip("10.0.0.1"));
  EXPECT_EQ(meta.dst_ip, Ip("10.96.0.10"));
  EXPECT_EQ(meta.protocol, kProtocolTcp);
  EXPECT_EQ(meta.ttl, 63);
  EXPECT_EQ(meta.tos, 0x10);
  EXPECT_EQ(meta.ip_id, 77);
  EXPECT_TRUE(meta.dont_fragment);
  EXPECT_FALSE(meta.is_fragment);
  EXPECT_FALSE(meta.has_ip_options);
  EXPECT_TRUE(meta.has_l4);
  EXPECT_EQ(meta.src_port, 40000);
  EXPECT_EQ(meta.dst_port, 80);
  EXPECT_EQ(meta.tcp_flags, kTcpSyn | kTcpAck);
  EXPECT_FALSE(meta.is_icmp_error);
}

TEST(Parse, UdpWithVlanAndPaddingTrimmed) {
  Bytes frame = PacketBuilder()
                    .Eth()
                    .Vlan(100, 5)
                    .IPv4(Ip("10.0.0.1"), Ip("10.96.0.10"))
                    .Udp(5353, 53)
                    .Payload("q")
                    .Padding(20)
                    .Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_TRUE(meta.has_vlan);
  EXPECT_EQ(meta.vlan_id, 100);
  EXPECT_EQ(meta.vlan_pcp, 5);
  EXPECT_EQ(meta.l3_offset, 18);
  EXPECT_EQ(meta.l4_offset, 38);
  EXPECT_EQ(meta.ip_total_length, 20 + 8 + 1);
  EXPECT_EQ(meta.frame_length, 18u + 29u);
  EXPECT_EQ(meta.frame_length + 20, frame.size());
  EXPECT_EQ(meta.protocol, kProtocolUdp);
  EXPECT_EQ(meta.src_port, 5353);
  EXPECT_EQ(meta.dst_port, 53);
}

TEST(Parse, QinQRejected) {
  PacketMeta meta;
  Bytes outer_88a8 = PacketBuilder().Eth(Mac(1), Mac(2), kEtherTypeQinQ).Vlan(10).Vlan(20).IPv4(1, 2).Udp(1, 2).Build();
  EXPECT_EQ(ParseBytes(outer_88a8, meta), ParseResult::kUnsupportedVlanStack);
  Bytes double_8100 = PacketBuilder().Eth().Vlan(10).Vlan(20).IPv4(1, 2).Udp(1, 2).Build();
  EXPECT_EQ(ParseBytes(double_8100, meta), ParseResult::kUnsupportedVlanStack);
}

TEST(Parse, Sctp) {
  Bytes frame = PacketBuilder().Eth().IPv4(Ip("10.0.0.1"), Ip("10.0.0.2")).Sctp(3868, 3869).PayloadOfSize(16).Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_EQ(meta.protocol, kProtocolSctp);
  EXPECT_EQ(meta.src_port, 3868);
  EXPECT_EQ(meta.dst_port, 3869);
  EXPECT_TRUE(meta.has_l4);
}

TEST(Parse, IcmpEchoIdIsBothPorts) {
  Bytes frame = PacketBuilder().Eth().IPv4(Ip("10.0.0.1"), Ip("10.0.0.2")).IcmpEcho(kIcmpEchoRequest, 0x4242, 7).Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_EQ(meta.protocol, kProtocolIcmp);
  EXPECT_EQ(meta.icmp_type, kIcmpEchoRequest);
  EXPECT_EQ(meta.icmp_code, 0);
  EXPECT_EQ(meta.icmp_id, 0x4242);
  EXPECT_EQ(meta.src_port, 0x4242);
  EXPECT_EQ(meta.dst_port, 0x4242);
  EXPECT_FALSE(meta.is_icmp_error);
}

Bytes QuotedUdp(size_t quoted_l4_bytes) {
  Bytes inner = PacketBuilder().IPv4(Ip("10.244.1.5"), Ip("10.96.0.10")).Udp(33333, 53).PayloadOfSize(40).Build();
  inner.resize(20 + quoted_l4_bytes);
  return inner;
}

TEST(Parse, IcmpErrorInnerTuple) {
  Bytes frame = PacketBuilder()
                    .Eth()
                    .IPv4(Ip("192.168.1.1"), Ip("10.244.1.5"))
                    .IcmpError(kIcmpDestUnreachable, kIcmpCodePortUnreachable)
                    .Payload(QuotedUdp(8))
                    .Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_TRUE(meta.is_icmp_error);
  EXPECT_EQ(meta.icmp_type, kIcmpDestUnreachable);
  EXPECT_EQ(meta.icmp_code, kIcmpCodePortUnreachable);
  EXPECT_EQ(meta.inner.ip_offset, 14 + 20 + 8);
  EXPECT_EQ(meta.inner.l4_offset, 14 + 20 + 8 + 20);
  EXPECT_EQ(meta.inner.l4_available, 8);
  EXPECT_EQ(meta.inner.ip_header_length, 20);
  EXPECT_EQ(meta.inner.protocol, kProtocolUdp);
  EXPECT_EQ(meta.inner.src_ip, Ip("10.244.1.5"));
  EXPECT_EQ(meta.inner.dst_ip, Ip("10.96.0.10"));
  EXPECT_EQ(meta.inner.src_port, 33333);
  EXPECT_EQ(meta.inner.dst_port, 53);
  EXPECT_TRUE(meta.inner.has_l4);
}

TEST(Parse, IcmpErrorWithShortQuoteIsRejected) {
  for (size_t quoted : {0u, 4u, 7u}) {
    Bytes frame = PacketBuilder()
                      .Eth()
                      .IPv4(Ip("192.168.1.1"), Ip("10.244.1.5"))
                      .IcmpError(kIcmpTimeExceeded, 0)
                      .Payload(QuotedUdp(quoted))
                      .Build();
    PacketMeta meta;
    EXPECT_EQ(ParseBytes(frame, meta), ParseResult::kBadIcmpError) << quoted;
  }
  Bytes half_header = PacketBuilder().Eth().IPv4(1, 2).IcmpError(kIcmpTimeExceeded, 0).Payload(Bytes(12, 0x45)).Build();
  PacketMeta meta;
  EXPECT_EQ(ParseBytes(half_header, meta), ParseResult::kBadIcmpError);
}

TEST(Parse, IcmpErrorAboutEcho) {
  Bytes inner = PacketBuilder().IPv4(Ip("10.244.1.5"), Ip("8.8.8.8")).IcmpEcho(kIcmpEchoRequest, 999, 1).Build();
  Bytes frame = PacketBuilder().Eth().IPv4(Ip("1.1.1.1"), Ip("10.244.1.5")).IcmpError(kIcmpTimeExceeded, 0).Payload(inner).Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_EQ(meta.inner.protocol, kProtocolIcmp);
  EXPECT_EQ(meta.inner.icmp_type, kIcmpEchoRequest);
  EXPECT_EQ(meta.inner.src_port, 999);
  EXPECT_EQ(meta.inner.dst_port, 999);
}

TEST(Parse, IpOptions) {
  Bytes frame = PacketBuilder()
                    .Eth()
                    .IPv4(1, 2, {.options = {0x94, 0x04, 0x00, 0x00}})  // router alert
                    .Udp(1, 2)
                    .Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_TRUE(meta.has_ip_options);
  EXPECT_EQ(meta.ip_header_length, 24);
  EXPECT_EQ(meta.l4_offset, 14 + 24);
}

TEST(Parse, Fragments) {
  Bytes whole = PacketBuilder().Eth().IPv4(Ip("10.0.0.1"), Ip("10.0.0.2"), {.id = 555}).Udp(1000, 2000).PayloadOfSize(100).Build();
  auto fragments = test::FragmentIpv4(whole, 14, 48);
  ASSERT_EQ(fragments.size(), 3u);
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(fragments[0], meta), ParseResult::kOk);
  EXPECT_TRUE(meta.is_fragment);
  EXPECT_TRUE(meta.first_fragment);
  EXPECT_TRUE(meta.more_fragments);
  EXPECT_EQ(meta.frag_offset_bytes, 0);
  EXPECT_TRUE(meta.has_l4);
  EXPECT_EQ(meta.src_port, 1000);
  EXPECT_EQ(meta.ip_id, 555);

  ASSERT_EQ(ParseBytes(fragments[1], meta), ParseResult::kOk);
  EXPECT_TRUE(meta.is_fragment);
  EXPECT_FALSE(meta.first_fragment);
  EXPECT_TRUE(meta.more_fragments);
  EXPECT_EQ(meta.frag_offset_bytes, 48);
  EXPECT_FALSE(meta.has_l4);
  EXPECT_EQ(meta.src_port, 0);

  ASSERT_EQ(ParseBytes(fragments[2], meta), ParseResult::kOk);
  EXPECT_FALSE(meta.more_fragments);
  EXPECT_EQ(meta.frag_offset_bytes, 96);
}

TEST(Parse, TinyFirstFragmentAndOverlapAreRejected) {
  PacketMeta meta;
  // First fragment with only 8 bytes of a TCP header: RFC 1858.
  Bytes tcp = PacketBuilder().Eth().IPv4(1, 2).Tcp(1, 2).PayloadOfSize(40).Build();
  auto tcp_fragments = test::FragmentIpv4(tcp, 14, 8);
  EXPECT_EQ(ParseBytes(tcp_fragments[0], meta), ParseResult::kBadL4);
  EXPECT_EQ(ParseBytes(tcp_fragments[1], meta), ParseResult::kBadFragment);  // offset 8 on TCP
  EXPECT_EQ(ParseBytes(tcp_fragments[2], meta), ParseResult::kOk);
  // Ping of death: offset + payload beyond 65535.
  Bytes death = PacketBuilder()
                    .Eth()
                    .IPv4(1, 2, {.frag_offset_bytes = 65528, .protocol = kProtocolIcmp})
                    .PayloadOfSize(16)
                    .Build();
  EXPECT_EQ(ParseBytes(death, meta), ParseResult::kBadFragment);
}

TEST(Parse, BadHeaders) {
  PacketMeta meta;
  Bytes frame = PacketBuilder().Eth().IPv4(1, 2).Udp(1, 2).Build();
  Bytes bad_version = frame;
  bad_version[14] = 0x55;
  EXPECT_EQ(ParseBytes(bad_version, meta), ParseResult::kBadIpHeader);
  Bytes bad_ihl = frame;
  bad_ihl[14] = 0x44;
  EXPECT_EQ(ParseBytes(bad_ihl, meta), ParseResult::kBadIpHeader);
  Bytes short_total = PacketBuilder().Eth().IPv4(1, 2, {.total_length = 19}).Udp(1, 2).Build();
  EXPECT_EQ(ParseBytes(short_total, meta), ParseResult::kBadIpLength);
  Bytes long_total = PacketBuilder().Eth().IPv4(1, 2, {.total_length = 100}).Udp(1, 2).Build();
  EXPECT_EQ(ParseBytes(long_total, meta), ParseResult::kBadIpLength);
  Bytes udp_length_too_big = frame;
  StoreBe16(udp_length_too_big.data() + 34 + kUdpLengthOffset, 9);
  EXPECT_EQ(ParseBytes(udp_length_too_big, meta), ParseResult::kBadL4);
  Bytes tcp = PacketBuilder().Eth().IPv4(1, 2).Tcp(1, 2).Build();
  tcp[34 + kTcpDataOffsetOffset] = 0x40;  // 16-byte header
  EXPECT_EQ(ParseBytes(tcp, meta), ParseResult::kBadL4);
  tcp[34 + kTcpDataOffsetOffset] = 0x60;  // 24 bytes, only 20 present
  EXPECT_EQ(ParseBytes(tcp, meta), ParseResult::kBadL4);
  Bytes unknown = PacketBuilder().Eth(Mac(1), Mac(2), 0x88cc).Payload(Bytes(50, 0)).Build();
  EXPECT_EQ(ParseBytes(unknown, meta), ParseResult::kUnsupportedEtherType);
}

TEST(Parse, OtherIpProtocolHasNoL4) {
  Bytes gre = PacketBuilder().Eth().IPv4(1, 2, {.protocol = 47}).PayloadOfSize(20).Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(gre, meta), ParseResult::kOk);
  EXPECT_EQ(meta.protocol, 47);
  EXPECT_FALSE(meta.has_l4);
}

TEST(Parse, Arp) {
  Bytes frame = PacketBuilder()
                    .Eth(Mac(9), kBroadcastMac)
                    .Arp(kArpOpRequest, Mac(9), Ip("10.244.1.5"), kZeroMac, Ip("10.244.1.1"))
                    .Padding(18)
                    .Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kOk);
  EXPECT_EQ(meta.ethertype, kEtherTypeArp);
  EXPECT_EQ(meta.arp.opcode, kArpOpRequest);
  EXPECT_EQ(meta.arp.sender_mac, Mac(9));
  EXPECT_EQ(meta.arp.sender_ip, Ip("10.244.1.5"));
  EXPECT_EQ(meta.arp.target_mac, kZeroMac);
  EXPECT_EQ(meta.arp.target_ip, Ip("10.244.1.1"));
  EXPECT_EQ(meta.frame_length, 42u);

  frame[14 + kArpProtocolLengthOffset] = 16;
  EXPECT_EQ(ParseBytes(frame, meta), ParseResult::kBadArp);
}

TEST(Parse, Ipv6WithExtensionHeaders) {
  Bytes frame = PacketBuilder()
                    .Eth()
                    .Vlan(7)
                    .IPv6(V6(1), V6(2), 33)
                    .Ipv6Extension(kIpv6HopByHop, 0)
                    .Ipv6Extension(kIpv6DestOptions, 1)
                    .Ipv6Extension(kIpv6Routing, 2)
                    .Tcp(1234, 443, kTcpSyn)
                    .Build();
  PacketMeta meta;
  ASSERT_EQ(ParseBytes(frame, meta), ParseResult::kIpv6);
  EXPECT_EQ(meta.ethertype, kEtherTypeIpv6);
  EXPECT_EQ(meta.l3_offset, 18);
  EXPECT_EQ(meta.ip_header_length, 40 + 8 + 16 + 24);
  EXPECT_EQ(meta.l4_offset, 18 + 40 + 8 + 16 + 24);
  EXPECT_EQ(meta.protocol, kProtocolTcp);
  EXPECT_EQ(meta.ttl, 33);
  EXPECT_TRUE(meta.has_l4);
  EXPECT_EQ(meta.src_port, 1234);
  EXPECT_EQ(meta.dst_port, 443);
  EXPECT_EQ(meta.tcp_flags, kTcpSyn);
  EXPECT_EQ(meta.frame_length, frame.size());
}

TEST(Parse, Ipv6Fragments) {
  PacketMeta meta;
  Bytes first = PacketBuilder().Eth().IPv6(V6(1), V6(2)).Ipv6Fragment(0, true, 0xabcdef01).Udp(53, 5353).Build();
  ASSERT_EQ(ParseBytes(first, meta), ParseResult::kIpv6);
  EXPECT_TRUE(meta.first_fragment);
  EXPECT_EQ(meta.ip_id, 0xef01);
  EXPECT_EQ(meta.protocol, kProtocolUdp);
  EXPECT_EQ(meta.src_port, 53);
  Bytes later = PacketBuilder().Eth().IPv6(V6(1), V6(2)).Ipv6Fragment(64, false, 7).Udp(53, 5353).Build();
  ASSERT_EQ(ParseBytes(later, meta), ParseResult::kIpv6);
  EXPECT_EQ(meta.frag_offset_bytes, 64);
  EXPECT_FALSE(meta.has_l4);
  EXPECT_EQ(meta.protocol, kProtocolUdp);
}

TEST(Parse, Ipv6TooManyExtensionHeaders) {
  PacketBuilder builder;
  builder.Eth().IPv6(V6(1), V6(2));
  for (int i = 0; i < 9; ++i) builder.Ipv6Extension(kIpv6DestOptions);
  builder.Udp(1, 2);
  Bytes frame = builder.Build();
  PacketMeta meta;
  EXPECT_EQ(ParseBytes(frame, meta), ParseResult::kBadIpv6ExtensionChain);
}

// Every strict prefix of a valid frame is an error, and parsing it reads no
// byte past the prefix (ASan/valgrind catch it: each prefix is its own heap
// allocation).
TEST(Parse, EveryTruncationIsAnError) {
  Bytes quoted = PacketBuilder().IPv4(Ip("10.244.1.5"), Ip("10.96.0.10")).Tcp(1, 2).Build();
  quoted.resize(28);
  const std::vector<Bytes> frames = {
      PacketBuilder().Eth().IPv4(1, 2).Tcp(1, 2).Build(),
      PacketBuilder().Eth().Vlan(3).IPv4(1, 2, {.options = {1, 1, 1, 0}}).Udp(1, 2).Payload("x").Build(),
      PacketBuilder().Eth().IPv4(1, 2).Sctp(1, 2).Build(),
      PacketBuilder().Eth().IPv4(1, 2).IcmpEcho(8, 1, 1).Build(),
      PacketBuilder().Eth().IPv4(1, 2).IcmpError(3, 3).Payload(quoted).Build(),
      PacketBuilder().Eth().Arp(1, Mac(1), 1, kZeroMac, 2).Build(),
      PacketBuilder().Eth().IPv6(V6(1), V6(2)).Ipv6Extension(0).Ipv6Extension(kIpv6Auth, 1).Tcp(1, 2).Build(),
  };
  for (const Bytes& frame : frames) {
    PacketMeta meta;
    const ParseResult whole = ParseBytes(frame, meta);
    ASSERT_TRUE(whole == ParseResult::kOk || whole == ParseResult::kIpv6) << ParseResultName(whole);
    for (size_t length = 0; length < frame.size(); ++length) {
      Bytes prefix(frame.begin(), frame.begin() + static_cast<long>(length));
      const ParseResult result = Parse(prefix.data(), static_cast<uint32_t>(length), meta);
      EXPECT_NE(result, ParseResult::kOk) << "prefix " << length << " of " << frame.size();
      EXPECT_NE(result, ParseResult::kIpv6) << "prefix " << length << " of " << frame.size();
    }
  }
}

TEST(Parse, RandomBytesNeverCrash) {
  std::mt19937 random(12345);
  const Bytes seed_frame = PacketBuilder().Eth().Vlan(1).IPv4(1, 2).Tcp(1, 2).PayloadOfSize(30).Build();
  size_t ok = 0;
  for (int iteration = 0; iteration < 200000; ++iteration) {
    const size_t length = random() % 128;
    Bytes bytes(length);
    for (auto& byte : bytes) byte = static_cast<uint8_t>(random());
    // Half the time keep a plausible prefix so parsing goes deep.
    if (iteration & 1) {
      const size_t keep = std::min(length, static_cast<size_t>(random() % 40));
      std::copy(seed_frame.begin(), seed_frame.begin() + static_cast<long>(keep), bytes.begin());
      if (iteration % 4 == 1 && length > 18) StoreBe16(bytes.data() + 16, kEtherTypeIpv4);
    }
    PacketMeta meta;
    const ParseResult result = Parse(bytes.data(), static_cast<uint32_t>(length), meta);
    ASSERT_LT(static_cast<size_t>(result), static_cast<size_t>(ParseResult::kCount));
    if (result == ParseResult::kOk) {
      ++ok;
      ASSERT_LE(meta.frame_length, length);
      ASSERT_LE(meta.l4_offset, meta.frame_length);
    }
  }
  EXPECT_GT(ok, 0u);
}

}  // namespace
}  // namespace np
