// Packets-per-second limits on the slow exits of the fast path (the host
// exception port, generated ICMP errors), so a flood cannot starve the
// workers or the node's kernel. A DPDK srTCM meter fed with a "length" of 1
// per packet: its committed rate is then in packets per second.
#pragma once

#include <rte_meter.h>

#include <algorithm>
#include <cstdint>

namespace np {

class RateLimiter {
 public:
  void Configure(uint64_t packets_per_second, uint64_t burst) {
    rte_meter_srtcm_params params{};
    params.cir = std::max<uint64_t>(packets_per_second, 1);
    params.cbs = std::max<uint64_t>(burst, 1);
    params.ebs = 0;
    configured_ = rte_meter_srtcm_profile_config(&profile_, &params) == 0 &&
                  rte_meter_srtcm_config(&meter_, &profile_) == 0;
  }
  bool Allow(uint64_t tsc) {
    return configured_ && rte_meter_srtcm_color_blind_check(&meter_, &profile_, tsc, 1) == RTE_COLOR_GREEN;
  }

 private:
  rte_meter_srtcm_profile profile_{};
  rte_meter_srtcm meter_{};
  bool configured_ = false;
};

}  // namespace np
