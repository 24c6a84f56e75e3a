#include "dataplane/conntrack/timeouts.h"

#include <algorithm>

namespace np::ct {

uint32_t Timeouts::Tcp(TcpState state) const {
  switch (state) {
    case TcpState::kNone:
    case TcpState::kSynSent:
    case TcpState::kSynSent2: return tcp_syn_sent;
    case TcpState::kSynRecv: return tcp_syn_recv;
    case TcpState::kEstablished: return tcp_established;
    case TcpState::kFinWait: return tcp_fin_wait;
    case TcpState::kCloseWait: return tcp_close_wait;
    case TcpState::kLastAck: return tcp_last_ack;
    case TcpState::kTimeWait: return tcp_time_wait;
    case TcpState::kClose:
    case TcpState::kCount: break;
  }
  return tcp_close;
}

Timeouts Timeouts::FromNodeInfo(const abi::NodeInfo& node) {
  Timeouts timeouts;
  auto set = [](uint32_t* field, uint32_t value) {
    if (value != 0) *field = value;
  };
  set(&timeouts.tcp_established, node.tcp_established_timeout_s);
  set(&timeouts.tcp_close_wait, node.tcp_close_wait_timeout_s);
  set(&timeouts.tcp_syn_sent, node.tcp_syn_timeout_s);
  // One SYN knob in the node section: SYN_RECV keeps Linux's shorter 60 s
  // unless the knob asks for less.
  if (node.tcp_syn_timeout_s != 0) {
    timeouts.tcp_syn_recv = std::min(timeouts.tcp_syn_recv, node.tcp_syn_timeout_s);
  }
  set(&timeouts.tcp_fin_wait, node.tcp_fin_timeout_s);
  set(&timeouts.tcp_time_wait, node.tcp_time_wait_timeout_s);
  set(&timeouts.udp, node.udp_timeout_s);
  set(&timeouts.udp_stream, node.udp_stream_timeout_s);
  set(&timeouts.icmp, node.icmp_timeout_s);
  return timeouts;
}

}  // namespace np::ct
