#include "dataplane/conntrack/tcp_state.h"

#include <gtest/gtest.h>

#include "dataplane/conntrack/timeouts.h"

namespace np::ct {
namespace {

using namespace tcp_flags;
constexpr Direction kOrig = Direction::kOriginal;
constexpr Direction kReply = Direction::kReply;

TcpState Step(TcpState state, Direction direction, uint8_t flags) {
  return NextTcpState(state, direction, flags).state;
}

TEST(TcpState, ThreeWayHandshakeAndActiveClose) {
  TcpState s = InitialTcpState(kSyn).state;
  EXPECT_EQ(s, TcpState::kSynSent);
  s = Step(s, kReply, kSyn | kAck);
  EXPECT_EQ(s, TcpState::kSynRecv);
  s = Step(s, kOrig, kAck);
  EXPECT_EQ(s, TcpState::kEstablished);
  s = Step(s, kOrig, kAck | kPsh);
  EXPECT_EQ(s, TcpState::kEstablished);
  s = Step(s, kOrig, kFin | kAck);
  EXPECT_EQ(s, TcpState::kFinWait);
  s = Step(s, kReply, kAck);
  EXPECT_EQ(s, TcpState::kCloseWait);
  s = Step(s, kReply, kFin | kAck);
  EXPECT_EQ(s, TcpState::kLastAck);
  s = Step(s, kOrig, kAck);
  EXPECT_EQ(s, TcpState::kTimeWait);
}

TEST(TcpState, SimultaneousFinGoesThroughLastAck) {
  TcpState s = TcpState::kEstablished;
  s = Step(s, kOrig, kFin | kAck);
  s = Step(s, kReply, kFin | kAck);
  EXPECT_EQ(s, TcpState::kLastAck);
  EXPECT_EQ(Step(s, kOrig, kAck), TcpState::kTimeWait);
}

TEST(TcpState, RstClosesFromAnyTrackedState) {
  for (TcpState s : {TcpState::kSynSent, TcpState::kSynRecv, TcpState::kEstablished,
                     TcpState::kFinWait, TcpState::kCloseWait, TcpState::kLastAck,
                     TcpState::kTimeWait}) {
    EXPECT_EQ(Step(s, kOrig, kRst), TcpState::kClose) << TcpStateName(s);
    EXPECT_EQ(Step(s, kReply, kRst | kAck), TcpState::kClose) << TcpStateName(s);
  }
}

TEST(TcpState, MidStreamPickupIsEstablishedLikeTcpLoose) {
  const TcpTransition t = InitialTcpState(kAck | kPsh);
  EXPECT_EQ(t.verdict, TcpVerdict::kValid);
  EXPECT_EQ(t.state, TcpState::kEstablished);
  // FIN, RST or flagless packets never create an entry.
  EXPECT_EQ(InitialTcpState(kFin | kAck).verdict, TcpVerdict::kInvalid);
  EXPECT_EQ(InitialTcpState(kRst).verdict, TcpVerdict::kInvalid);
  EXPECT_EQ(InitialTcpState(0).verdict, TcpVerdict::kInvalid);
  EXPECT_EQ(InitialTcpState(kSyn | kAck).verdict, TcpVerdict::kInvalid);
}

TEST(TcpState, IgnoredAndInvalidKeepTheState) {
  TcpTransition t = NextTcpState(TcpState::kEstablished, kOrig, kSyn);
  EXPECT_EQ(t.verdict, TcpVerdict::kIgnored);
  EXPECT_EQ(t.state, TcpState::kEstablished);
  t = NextTcpState(TcpState::kSynSent, kOrig, kAck);  // ACK before the SYN/ACK
  EXPECT_EQ(t.verdict, TcpVerdict::kInvalid);
  EXPECT_EQ(t.state, TcpState::kSynSent);
  t = NextTcpState(TcpState::kSynSent, kReply, kSyn);  // simultaneous open
  EXPECT_EQ(t.state, TcpState::kSynSent2);
}

TEST(TcpState, SynOnTimeWaitReopens) {
  const TcpTransition t = NextTcpState(TcpState::kTimeWait, kOrig, kSyn);
  EXPECT_EQ(t.verdict, TcpVerdict::kReopen);
  EXPECT_EQ(t.state, TcpState::kSynSent);
  EXPECT_EQ(NextTcpState(TcpState::kClose, kOrig, kSyn).verdict, TcpVerdict::kReopen);
}

TEST(Timeouts, KubeProxyAndLinuxDefaults) {
  const Timeouts t;
  EXPECT_EQ(t.Tcp(TcpState::kSynSent), 120u);
  EXPECT_EQ(t.Tcp(TcpState::kSynRecv), 60u);
  EXPECT_EQ(t.Tcp(TcpState::kEstablished), 86400u);
  EXPECT_EQ(t.Tcp(TcpState::kFinWait), 120u);
  EXPECT_EQ(t.Tcp(TcpState::kCloseWait), 3600u);
  EXPECT_EQ(t.Tcp(TcpState::kLastAck), 30u);
  EXPECT_EQ(t.Tcp(TcpState::kTimeWait), 120u);
  EXPECT_EQ(t.Tcp(TcpState::kClose), 10u);
  EXPECT_EQ(t.udp, 30u);
  EXPECT_EQ(t.udp_stream, 120u);
  EXPECT_EQ(t.icmp, 30u);
}

TEST(Timeouts, FromNodeInfoKeepsDefaultsForZeroes) {
  abi::NodeInfo node{};
  node.tcp_established_timeout_s = 7200;
  node.udp_timeout_s = 20;
  node.tcp_syn_timeout_s = 30;
  const Timeouts t = Timeouts::FromNodeInfo(node);
  EXPECT_EQ(t.tcp_established, 7200u);
  EXPECT_EQ(t.udp, 20u);
  EXPECT_EQ(t.tcp_syn_sent, 30u);
  EXPECT_EQ(t.tcp_syn_recv, 30u);
  EXPECT_EQ(t.tcp_close_wait, 3600u);
  EXPECT_EQ(t.icmp, 30u);
}

}  // namespace
}  // namespace np::ct
