#include "control/cli/capture.h"

#include <algorithm>

namespace np::cli {

Result<uint8_t> ParseCaptureDirection(const std::string& text) {
  if (text == "rx" || text == "in") return static_cast<uint8_t>(debug::kCaptureRx);
  if (text == "tx" || text == "out") return static_cast<uint8_t>(debug::kCaptureTx);
  if (text == "both" || text.empty()) return static_cast<uint8_t>(debug::kCaptureBoth);
  return MakeError("--direction: \"" + text + "\" is not rx, tx or both");
}

Result<uint32_t> ArmCapture(debug::DebugHeader& header, const CaptureRequest& request, uint32_t now_s,
                            uint32_t lease_until_s) {
  debug::CaptureControl& control = header.capture;
  const uint32_t previous_lease = control.expiry_s.load(std::memory_order_relaxed);
  if ((header.armed.load(std::memory_order_acquire) & debug::kCaptureArmed) &&
      (previous_lease == 0 || now_s <= previous_lease))
    return MakeError("a capture is already running on this dataplane (another npctl capture?)");
  if (request.port_slot >= stats::kMaxPorts) return MakeError("no such port slot");
  control.port_slot = request.port_slot;
  control.direction = request.direction;
  control.snaplen = std::clamp<uint32_t>(request.snaplen, 64, debug::kCaptureBytes);
  control.expiry_s.store(lease_until_s, std::memory_order_relaxed);
  const uint32_t sequence = control.sequence.load(std::memory_order_relaxed) + 1;
  control.sequence.store(sequence, std::memory_order_release);
  for (uint32_t worker = 0; worker < header.worker_count; ++worker)  // an earlier session's leftovers
    header.capture_rings[worker].Drain([](const debug::CaptureRecord&) {});
  header.armed.fetch_or(debug::kCaptureArmed, std::memory_order_release);
  return sequence;
}

void RenewCapture(debug::DebugHeader& header, uint32_t lease_until_s) {
  header.capture.expiry_s.store(lease_until_s, std::memory_order_relaxed);
}

void DisarmCapture(debug::DebugHeader& header) {
  header.armed.fetch_and(~debug::kCaptureArmed, std::memory_order_release);
}

uint64_t DrainCapture(debug::DebugHeader& header, uint32_t sequence,
                      const std::function<void(const debug::CaptureRecord&)>& fn) {
  uint64_t dropped = 0;
  for (uint32_t worker = 0; worker < header.worker_count; ++worker) {
    debug::CaptureRing& ring = header.capture_rings[worker];
    ring.Drain([&](const debug::CaptureRecord& record) {
      if (record.sequence == sequence) fn(record);
    });
    dropped += ring.dropped.load(std::memory_order_relaxed);
  }
  return dropped;
}

Result<PcapSink> PcapSink::Open(const std::string& path, uint32_t snaplen, const std::string& filter) {
  PcapSink sink;
  sink.handle_ = pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen));
  if (sink.handle_ == nullptr) return MakeError("libpcap: cannot open a dead handle");
  if (!filter.empty()) {
    if (pcap_compile(sink.handle_, &sink.program_, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
      return MakeError("--filter \"" + filter + "\": " + pcap_geterr(sink.handle_));
    sink.filtered_ = true;
  }
  sink.dumper_ = pcap_dump_open(sink.handle_, path.c_str());
  if (sink.dumper_ == nullptr) return MakeError("cannot write " + path + ": " + pcap_geterr(sink.handle_));
  return sink;
}

PcapSink::PcapSink(PcapSink&& other) noexcept
    : handle_(other.handle_), dumper_(other.dumper_), program_(other.program_), filtered_(other.filtered_) {
  other.handle_ = nullptr;
  other.dumper_ = nullptr;
  other.filtered_ = false;
}

PcapSink::~PcapSink() {
  if (dumper_ != nullptr) pcap_dump_close(dumper_);
  if (filtered_) pcap_freecode(&program_);
  if (handle_ != nullptr) pcap_close(handle_);
}

bool PcapSink::Write(const debug::CaptureRecord& record) {
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(record.time_ns / 1000000000ull);
  header.ts.tv_usec = static_cast<suseconds_t>((record.time_ns % 1000000000ull) / 1000);
  header.caplen = std::min<uint32_t>(record.captured, debug::kCaptureBytes);
  header.len = record.original_length;
  if (filtered_ && pcap_offline_filter(&program_, &header, record.data) == 0) return false;
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &header, record.data);
  return true;
}

void PcapSink::Flush() {
  if (dumper_ != nullptr) pcap_dump_flush(dumper_);
}

}  // namespace np::cli
