-- Scenario 2 (connection churn, NodePort + SNAT) measured on the generator.
-- Range mode cannot alternate a SYN and a RST of the same tuple on one port,
-- so churn_nodeport_snat.pkt sends the SYNs on port 0 and the RSTs of the
-- same tuples on port 1 (both into the node's uplink). Start it, then run
-- this script to read the offered rates:
--   pktgen ... -m "[1:2].0,[3:4].1" -f churn_nodeport_snat.pkt
--   Pktgen:/> script churn_nodeport_snat.lua
-- and compare the node's conntrack_inserts per second (npctl get counters,
-- twice, N seconds apart) with the SYN rate printed here: inserts ~ SYNs.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local WARMUP, WINDOW = 3, 10

pktgen.delay(WARMUP * 1000)
local syn, rst = 0, 0
for _ = 1, WINDOW do
  pktgen.delay(1000)
  local rate = pktgen.portStats("0,1", "rate")
  syn = syn + rate[0].pkts_tx
  rst = rst + rate[1].pkts_tx
end
printf("nodeplane pktgen churn: SYN %.2f Mpps, RST %.2f Mpps (mean of %d s); "
       .. "compare conntrack_inserts/s on the node\n", syn / WINDOW / 1e6, rst / WINDOW / 1e6, WINDOW)
