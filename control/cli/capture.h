// `npctl capture`: arm the dataplane's capture control block
// (common/debug_abi.h), drain the workers' capture rings and write what
// passes the BPF filter to a pcap file (libpcap: tcpdump/Wireshark read
// it). The filter runs here, not in the dataplane: workers only copy the
// armed port's packets, and a filter compiled by libpcap is code the
// fast path should not run.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/debug_abi.h"
#include "common/result.h"

namespace np::cli {

struct CaptureRequest {
  uint32_t port_slot = 0;                      // stats port slot (see PortSlotNamed)
  uint8_t direction = debug::kCaptureBoth;
  uint32_t snaplen = debug::kCaptureBytes;
};

Result<uint8_t> ParseCaptureDirection(const std::string& text);  // rx, tx, both

// Like ArmTrace (control/cli/trace.h): one capture at a time, a lease.
Result<uint32_t> ArmCapture(debug::DebugHeader& header, const CaptureRequest& request, uint32_t now_s,
                            uint32_t lease_until_s);
void RenewCapture(debug::DebugHeader& header, uint32_t lease_until_s);
void DisarmCapture(debug::DebugHeader& header);
// Calls fn for every record of `sequence` waiting in the rings and frees
// them. Returns the packets the workers could not capture (rings full)
// since the dataplane started.
uint64_t DrainCapture(debug::DebugHeader& header, uint32_t sequence,
                      const std::function<void(const debug::CaptureRecord&)>& fn);

// A pcap file with an optional tcpdump-syntax filter.
class PcapSink {
 public:
  static Result<PcapSink> Open(const std::string& path, uint32_t snaplen, const std::string& filter);
  PcapSink(PcapSink&& other) noexcept;
  PcapSink& operator=(PcapSink&&) = delete;
  PcapSink(const PcapSink&) = delete;
  ~PcapSink();
  // Writes the record when it passes the filter; returns whether it did.
  bool Write(const debug::CaptureRecord& record);
  void Flush();

 private:
  PcapSink() = default;
  pcap_t* handle_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  bpf_program program_{};
  bool filtered_ = false;
};

}  // namespace np::cli
