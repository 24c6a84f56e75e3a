#include "dataplane/conntrack/tcp_state.h"

namespace np::ct {
namespace {

// Packet classes, in Linux's order (get_conntrack_index).
enum PacketClass : uint8_t { kSynClass, kSynAckClass, kFinClass, kAckClass, kRstClass, kNoneClass,
                             kClassCount };

PacketClass Classify(uint8_t flags) {
  if (flags & tcp_flags::kRst) return kRstClass;
  if (flags & tcp_flags::kSyn) return (flags & tcp_flags::kAck) ? kSynAckClass : kSynClass;
  if (flags & tcp_flags::kFin) return kFinClass;
  if (flags & tcp_flags::kAck) return kAckClass;
  return kNoneClass;
}

// Table cells: a TcpState, or one of these two outcomes.
constexpr uint8_t kIv = 0xfe;  // invalid
constexpr uint8_t kIg = 0xff;  // ignore

constexpr uint8_t kNo = static_cast<uint8_t>(TcpState::kNone);
constexpr uint8_t kSs = static_cast<uint8_t>(TcpState::kSynSent);
constexpr uint8_t kSr = static_cast<uint8_t>(TcpState::kSynRecv);
constexpr uint8_t kEs = static_cast<uint8_t>(TcpState::kEstablished);
constexpr uint8_t kFw = static_cast<uint8_t>(TcpState::kFinWait);
constexpr uint8_t kCw = static_cast<uint8_t>(TcpState::kCloseWait);
constexpr uint8_t kLa = static_cast<uint8_t>(TcpState::kLastAck);
constexpr uint8_t kTw = static_cast<uint8_t>(TcpState::kTimeWait);
constexpr uint8_t kCl = static_cast<uint8_t>(TcpState::kClose);
constexpr uint8_t kS2 = static_cast<uint8_t>(TcpState::kSynSent2);
constexpr uint32_t kStates = static_cast<uint32_t>(TcpState::kCount);

// [direction][packet class][current state] -> next state, as in Linux.
// Columns: NONE SYN_SENT SYN_RECV ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE SYN_SENT2
constexpr uint8_t kTransitions[2][kClassCount][kStates] = {
    {
        // original direction
        /* syn    */ {kSs, kSs, kIg, kIg, kIg, kIg, kIg, kSs, kSs, kS2},
        /* synack */ {kIv, kIv, kIg, kIg, kIg, kIg, kIg, kIg, kIg, kSr},
        /* fin    */ {kIv, kIv, kFw, kFw, kLa, kLa, kLa, kTw, kCl, kIv},
        /* ack    */ {kEs, kIv, kEs, kEs, kCw, kCw, kTw, kTw, kCl, kIv},
        /* rst    */ {kIv, kCl, kCl, kCl, kCl, kCl, kCl, kCl, kCl, kCl},
        /* none   */ {kIv, kIv, kIv, kIv, kIv, kIv, kIv, kIv, kIv, kIv},
    },
    {
        // reply direction
        /* syn    */ {kIv, kS2, kIv, kIv, kIv, kIv, kIv, kIv, kIv, kS2},
        /* synack */ {kIv, kSr, kIg, kIg, kIg, kIg, kIg, kIg, kIg, kSr},
        /* fin    */ {kIv, kIv, kFw, kFw, kLa, kLa, kLa, kTw, kCl, kIv},
        /* ack    */ {kIv, kIg, kSr, kEs, kCw, kCw, kTw, kTw, kCl, kIg},
        /* rst    */ {kIv, kCl, kCl, kCl, kCl, kCl, kCl, kCl, kCl, kCl},
        /* none   */ {kIv, kIv, kIv, kIv, kIv, kIv, kIv, kIv, kIv, kIv},
    },
};
static_assert(kNo == 0);

}  // namespace

TcpTransition NextTcpState(TcpState current, Direction direction, uint8_t flags) {
  const uint32_t state = static_cast<uint32_t>(current);
  if (state >= kStates) return {current, TcpVerdict::kInvalid};
  const uint8_t next =
      kTransitions[static_cast<uint32_t>(direction) & 1u][Classify(flags)][state];
  if (next == kIv) return {current, TcpVerdict::kInvalid};
  if (next == kIg) return {current, TcpVerdict::kIgnored};
  const TcpState next_state = static_cast<TcpState>(next);
  if (next_state == TcpState::kSynSent &&
      (current == TcpState::kTimeWait || current == TcpState::kClose)) {
    return {next_state, TcpVerdict::kReopen};
  }
  return {next_state, TcpVerdict::kValid};
}

const char* TcpStateName(TcpState state) {
  switch (state) {
    case TcpState::kNone: return "NONE";
    case TcpState::kSynSent: return "SYN_SENT";
    case TcpState::kSynRecv: return "SYN_RECV";
    case TcpState::kEstablished: return "ESTABLISHED";
    case TcpState::kFinWait: return "FIN_WAIT";
    case TcpState::kCloseWait: return "CLOSE_WAIT";
    case TcpState::kLastAck: return "LAST_ACK";
    case TcpState::kTimeWait: return "TIME_WAIT";
    case TcpState::kClose: return "CLOSE";
    case TcpState::kSynSent2: return "SYN_SENT2";
    case TcpState::kCount: break;
  }
  return "?";
}

}  // namespace np::ct
