// npctl's output: pure functions from decoded data to text (aligned
// columns) or JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "control/cli/views.h"

namespace np::cli {

inline constexpr uint64_t kHeartbeatStaleNs = 3'000'000'000ull;

std::string FormatIpv4(uint32_t address);  // host order -> "a.b.c.d"
std::string FormatBytes(uint64_t bytes);   // "1.5Ki", "20Mi"
std::string FormatDuration(uint64_t seconds);  // "42s", "5m3s", "2h10m", "3d4h"
const char* FrontendKindName(abi::FrontendKind kind);  // ClusterIP, NodePort, ...
const char* ProtocolName(uint8_t protocol);            // TCP, UDP, SCTP, ICMP

std::string FormatStatus(const StatusView& status, OutputFormat format);
std::string FormatServices(const ServicesImage& services, const std::map<uint32_t, ServiceCounterSums>& counters,
                           OutputFormat format);
// One row per (service port, backend): `get backends` and `get endpoints`.
std::string FormatBackends(const ServicesImage& services, OutputFormat format);
// `now_s`: the dataplane's conntrack clock (CLOCK_MONOTONIC seconds).
std::string FormatConntrack(const std::vector<ct::EntrySnapshot>& entries, const ct::CtCounters& counters,
                            const ServicesImage* services, uint32_t now_s, OutputFormat format);
std::string FormatPorts(const std::vector<PortStatus>& ports, OutputFormat format);
std::string FormatCounters(const CountersView& counters, OutputFormat format);

}  // namespace np::cli
