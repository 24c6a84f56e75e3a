// Conntrack timeouts in seconds: kube-proxy's choices where it sets them
// (established 24 h, close-wait 1 h), Linux defaults elsewhere.
#pragma once

#include <cstdint>

#include "common/shm_abi.h"
#include "dataplane/conntrack/tcp_state.h"

namespace np::ct {

struct Timeouts {
  uint32_t tcp_syn_sent = 120;
  uint32_t tcp_syn_recv = 60;
  uint32_t tcp_established = 86400;
  uint32_t tcp_fin_wait = 120;
  uint32_t tcp_close_wait = 3600;
  uint32_t tcp_last_ack = 30;
  uint32_t tcp_time_wait = 120;
  uint32_t tcp_close = 10;
  // Linux's TCP_CONNTRACK_UNACK: caps ESTABLISHED while no reply was seen
  // (mid-stream pickups, scans with bare ACKs).
  uint32_t tcp_unacknowledged = 300;
  uint32_t udp = 30;         // until traffic was seen both ways...
  uint32_t udp_stream = 120; // ...and the flow is still active 2 s after creation
  uint32_t icmp = 30;
  uint32_t generic = 600;    // other protocols (SCTP is tracked generically for now)

  uint32_t Tcp(TcpState state) const;

  // Zero fields of the node section mean "default".
  static Timeouts FromNodeInfo(const abi::NodeInfo& node);
};

}  // namespace np::ct
