-- Throughput versus concurrent established flows (the harness's
-- scaling_flows.png, on hardware): scenario 1's traffic with 1k, 10k, 100k
-- and 1M flows (1024 source ports x N/1024 source IPs), each measured for
-- WINDOW seconds after a warm-up that creates every flow's entry.
-- Set DUT_MAC to the node's uplink MAC; conntrackCapacity >= 2M on the node.
--   pktgen -l 0-2 -n 4 -a <PCI> -- -P -T -m "[1:2].0" -f sweep_flows.lua
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local PORT = "0"
local DUT_MAC = "02:bb:00:00:00:01"
local GATEWAY_MAC = "02:cc:00:00:00:01"
local WARMUP, WINDOW = 5, 10
local FLOWS = {1024, 10240, 102400, 1048576}

local function nth_source(n)
  -- the n-th source address (1-based), 250 per /24 as in perf/run_harness
  local third = 2 + math.floor((n - 1) / 250)
  local fourth = 1 + (n - 1) % 250
  return string.format("10.244.%d.%d", third, fourth)
end

local function median(values)
  table.sort(values)
  return values[math.floor(#values / 2) + 1]
end

pktgen.set_proto(PORT, "tcp")
pktgen.set(PORT, "rate", 100)
pktgen.set(PORT, "count", 0)
pktgen.range.dst_mac(PORT, "start", DUT_MAC)
pktgen.range.src_mac(PORT, "start", GATEWAY_MAC)
pktgen.range.dst_ip(PORT, "start", "10.96.0.10")
pktgen.range.dst_ip(PORT, "min", "10.96.0.10")
pktgen.range.dst_ip(PORT, "max", "10.96.0.10")
pktgen.range.dst_ip(PORT, "inc", "0.0.0.0")
pktgen.range.dst_port(PORT, "start", 80)
pktgen.range.dst_port(PORT, "min", 80)
pktgen.range.dst_port(PORT, "max", 80)
pktgen.range.dst_port(PORT, "inc", 0)
pktgen.range.src_port(PORT, "start", 10000)
pktgen.range.src_port(PORT, "min", 10000)
pktgen.range.src_port(PORT, "max", 11023)
pktgen.range.src_port(PORT, "inc", 1)
pktgen.range.pkt_size(PORT, "start", 64)
pktgen.range.pkt_size(PORT, "min", 64)
pktgen.range.pkt_size(PORT, "max", 64)
pktgen.range.pkt_size(PORT, "inc", 0)
pktgen.set_range(PORT, "on")

for _, flows in ipairs(FLOWS) do
  local addresses = math.max(1, math.floor(flows / 1024))
  pktgen.range.src_ip(PORT, "start", "10.244.2.1")
  pktgen.range.src_ip(PORT, "min", "10.244.2.1")
  pktgen.range.src_ip(PORT, "max", nth_source(addresses))
  pktgen.range.src_ip(PORT, "inc", "0.0.0.1")
  pktgen.clr()
  pktgen.start(PORT)
  pktgen.delay(WARMUP * 1000)
  local rx = {}
  for _ = 1, WINDOW do
    pktgen.delay(1000)
    rx[#rx + 1] = pktgen.portStats(PORT, "rate")[tonumber(PORT)].pkts_rx
  end
  pktgen.stop(PORT)
  printf("flows=%d mpps=%.2f\n", addresses * 1024, median(rx) / 1e6)
  pktgen.delay(2000)
end
