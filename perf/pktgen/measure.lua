-- Generic measurement for the nodeplane scenarios: run after a scenario's
-- .pkt (which configures and starts the ports), e.g.
--   pktgen ... -f established_clusterip.pkt     (then at the prompt)
--   Pktgen:/> script measure.lua
-- Samples the receive rate of the port facing the node's output (RX_PORT)
-- once a second for WINDOW seconds after WARMUP seconds and prints the
-- median, in the harness's units (Mpps).
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local RX_PORT = "0"    -- the port the node forwards back to (see README.md)
local TX_PORT = "0"
local WARMUP = 3       -- seconds: the first pass creates the conntrack entries
local WINDOW = 10      -- seconds

local function median(values)
  table.sort(values)
  return values[math.floor(#values / 2) + 1]
end

pktgen.delay(WARMUP * 1000)
local rx, tx = {}, {}
for _ = 1, WINDOW do
  pktgen.delay(1000)
  local rate = pktgen.portStats(RX_PORT .. "," .. TX_PORT, "rate")
  rx[#rx + 1] = rate[tonumber(RX_PORT)].pkts_rx
  tx[#tx + 1] = rate[tonumber(TX_PORT)].pkts_tx
end
printf("nodeplane pktgen: offered %.2f Mpps, forwarded back %.2f Mpps (median of %d s)\n",
       median(tx) / 1e6, median(rx) / 1e6, WINDOW)
