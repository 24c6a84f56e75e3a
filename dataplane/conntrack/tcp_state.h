// TCP connection tracking state machine: Linux nf_conntrack_tcp's state
// table (states, transitions, IGNORE/INVALID outcomes), without its window
// tracking (sequence numbers are not checked, as with
// nf_conntrack_tcp_be_liberal=1).
//
// Mid-stream pickup (Linux's nf_conntrack_tcp_loose=1): a non-SYN packet
// with ACK that finds no entry may create one, which starts ESTABLISHED.
// Maglev needs this: after an ECMP change another node receives the middle
// of a connection and must keep forwarding it to the same backend. Until a
// reply is seen such an entry gets the short "unacknowledged" timeout.
#pragma once

#include <cstdint>

#include "dataplane/conntrack/flow_key.h"

namespace np::ct {

enum class TcpState : uint8_t {
  kNone = 0,
  kSynSent,
  kSynRecv,
  kEstablished,
  kFinWait,
  kCloseWait,
  kLastAck,
  kTimeWait,
  kClose,
  kSynSent2,  // simultaneous open: SYN seen in both directions
  kCount,
};

// The TCP header's flag byte.
namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flags

enum class TcpVerdict : uint8_t {
  kValid,    // state updated (maybe unchanged)
  kIgnored,  // unexpected but harmless (e.g. SYN on an established flow): pass, state kept
  kInvalid,  // not possible in this state: kube-proxy drops ctstate INVALID
  kReopen,   // SYN on TIME_WAIT/CLOSE: the client reuses the port; state is SYN_SENT again
};

struct TcpTransition {
  TcpState state;
  TcpVerdict verdict;
};

TcpTransition NextTcpState(TcpState current, Direction direction, uint8_t flags);

// State for a new entry created by a packet in the original direction:
// SYN -> SYN_SENT, ACK without SYN/FIN/RST -> ESTABLISHED (pickup); any
// other packet is kInvalid and must not create an entry.
inline TcpTransition InitialTcpState(uint8_t flags) {
  return NextTcpState(TcpState::kNone, Direction::kOriginal, flags);
}

const char* TcpStateName(TcpState state);

}  // namespace np::ct
