// npctl status / get ports / get counters.
#include <cstdio>

#include "control/cli/format.h"
#include "control/cli/json_writer.h"
#include "control/cli/text_table.h"

namespace np::cli {
namespace {

bool DataplaneRunning(const StatusView& status) {
  return status.heartbeat_ns != 0 &&
         (status.heartbeat_ns >= status.now_ns || status.now_ns - status.heartbeat_ns <= kHeartbeatStaleNs);
}

double BusyRatio(const LcoreStatus& lcore) {
  return lcore.total_cycles == 0 ? 0.0 : static_cast<double>(lcore.busy_cycles) / static_cast<double>(lcore.total_cycles);
}

std::string Generation(uint64_t generation) { return generation == 0 ? "-" : std::to_string(generation); }

std::string SecondsAgo(uint64_t then_ns, uint64_t now_ns) {
  if (then_ns == 0) return "never";
  if (then_ns >= now_ns) return "0s ago";
  const uint64_t ms = (now_ns - then_ns) / 1'000'000;
  if (ms < 10'000) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.1fs ago", static_cast<double>(ms) / 1000.0);
    return text;
  }
  return FormatDuration(ms / 1000) + " ago";
}

void PortsJson(JsonWriter& json, const std::vector<PortStatus>& ports) {
  json.BeginArray();
  for (const PortStatus& port : ports) {
    json.BeginObject()
        .Field("name", port.name)
        .Field("link", port.link_up ? "up" : "down")
        .Field("rxPackets", port.rx_packets)
        .Field("rxBytes", port.rx_bytes)
        .Field("txPackets", port.tx_packets)
        .Field("txBytes", port.tx_bytes)
        .Field("txDropped", port.tx_dropped)
        .EndObject();
  }
  json.EndArray();
}

}  // namespace

std::string FormatStatus(const StatusView& status, OutputFormat format) {
  const bool running = DataplaneRunning(status);
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Field("instance", status.instance);
    json.Key("dataplane").BeginObject().Field("running", running).Field("pid", status.dataplane_pid);
    json.Field("bootEpochNs", status.boot_epoch_ns).Field("heartbeatNs", status.heartbeat_ns);
    json.Key("heartbeatAgeMs");
    if (status.heartbeat_ns == 0) json.Null();
    else json.Uint(status.heartbeat_ns >= status.now_ns ? 0 : (status.now_ns - status.heartbeat_ns) / 1'000'000);
    json.EndObject();
    json.Key("sections").BeginArray();
    for (const SectionStatus& section : status.sections) {
      json.BeginObject()
          .Field("name", section.name)
          .Field("published", section.published)
          .Field("applied", section.applied)
          .Field("refused", section.refused)
          .Field("refusalReason", section.refusal_reason)
          .Field("appliedAtNs", section.applied_at_ns)
          .Field("upToDate", section.published != 0 && section.applied == section.published)
          .EndObject();
    }
    json.EndArray();
    json.Key("ports");
    PortsJson(json, status.ports);
    json.Key("lcores").BeginArray();
    for (const LcoreStatus& lcore : status.lcores) {
      json.BeginObject()
          .Field("lcore", lcore.lcore)
          .Field("loops", lcore.loops)
          .Field("busyLoops", lcore.busy_loops)
          .Field("busyCycles", lcore.busy_cycles)
          .Field("totalCycles", lcore.total_cycles);
      json.Key("busyRatio").Double(BusyRatio(lcore));
      json.Key("longestLoopMicroseconds").Double(lcore.longest_loop_us);
      json.Key("longestSwapLoopMicroseconds").Double(lcore.longest_swap_loop_us);
      json.EndObject();
    }
    json.EndArray().EndObject();
    return json.Finish();
  }

  std::string out;
  if (status.heartbeat_ns == 0) {
    out += "Dataplane:  not running (it never started on instance " + status.instance + ")\n";
  } else if (!running) {
    out += "Dataplane:  dataplane not running (last heartbeat " + SecondsAgo(status.heartbeat_ns, status.now_ns) +
           ", pid " + std::to_string(status.dataplane_pid) + ")\n";
  } else {
    out += "Dataplane:  running, pid " + std::to_string(status.dataplane_pid) + ", started " +
           SecondsAgo(status.boot_epoch_ns, status.now_ns) + ", heartbeat " +
           SecondsAgo(status.heartbeat_ns, status.now_ns) + "\n";
  }
  out += "\n";
  TextTable sections({"SECTION", "PUBLISHED", "APPLIED", "REFUSED", "STATE"});
  for (const SectionStatus& section : status.sections) {
    std::string state;
    if (section.published == 0) state = "never published";
    else if (section.refused == section.published) state = "refused: " + section.refusal_reason;
    else if (section.applied == section.published) state = "applied " + SecondsAgo(section.applied_at_ns, status.now_ns);
    else state = "pending";
    sections.AddRow({section.name, Generation(section.published), Generation(section.applied),
                     Generation(section.refused), state});
  }
  out += sections.Render();
  if (!status.stats_available) return out + "\n(no stats region: the dataplane has not started)\n";
  out += "\n";
  TextTable ports({"PORT", "LINK"});
  for (const PortStatus& port : status.ports) ports.AddRow({port.name, port.link_up ? "up" : "down"});
  out += ports.Render();
  out += "\n";
  TextTable lcores({"LCORE", "LOOPS", "BUSY", "LONGEST LOOP", "LONGEST SWAP LOOP"});
  for (const LcoreStatus& lcore : status.lcores) {
    char busy[16], longest[32], swap[32];
    std::snprintf(busy, sizeof(busy), "%.1f%%", 100.0 * BusyRatio(lcore));
    std::snprintf(longest, sizeof(longest), "%.1f us", lcore.longest_loop_us);
    std::snprintf(swap, sizeof(swap), "%.1f us", lcore.longest_swap_loop_us);
    lcores.AddRow({std::to_string(lcore.lcore), std::to_string(lcore.loops), busy, longest, swap});
  }
  out += lcores.Render();
  return out;
}

std::string FormatPorts(const std::vector<PortStatus>& ports, OutputFormat format) {
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    PortsJson(json, ports);
    return json.Finish();
  }
  TextTable table({"PORT", "LINK", "RX-PACKETS", "RX-BYTES", "TX-PACKETS", "TX-BYTES", "TX-DROPPED"});
  for (const PortStatus& port : ports)
    table.AddRow({port.name, port.link_up ? "up" : "down", std::to_string(port.rx_packets), FormatBytes(port.rx_bytes),
                  std::to_string(port.tx_packets), FormatBytes(port.tx_bytes), std::to_string(port.tx_dropped)});
  return table.Render();
}

std::string FormatCounters(const CountersView& counters, OutputFormat format) {
  const std::pair<const char*, uint64_t> datapath[] = {
      {"rx_packets", counters.rx_packets},
      {"arp_replies", counters.arp_replies},       {"arp_requests", counters.arp_requests},
      {"icmp_generated", counters.icmp_generated}, {"to_host", counters.to_host},
      {"from_host", counters.from_host},           {"fragments", counters.fragments},
      {"conntrack_hits", counters.conntrack_hits}, {"conntrack_inserts", counters.conntrack_inserts},
      {"conntrack_early_drops", counters.conntrack_early_drops},
      {"policy_allowed_connections", counters.policy_allowed_connections},
      {"policy_denied_packets", counters.policy_denied_packets},
      {"policy_would_deny_connections", counters.policy_would_deny_connections},
  };
  std::vector<std::pair<const char*, uint64_t>> table_counters;
  if (counters.conntrack) {
    const ct::CtCounters& c = *counters.conntrack;
    table_counters = {{"entries", c.entries},       {"capacity", c.capacity},
                      {"inserts", c.inserts},       {"insert_exists", c.insert_exists},
                      {"reply_clashes", c.reply_clashes}, {"table_full", c.table_full},
                      {"pool_empty", c.pool_empty}, {"early_drops", c.early_drops},
                      {"expired", c.expired},       {"removed", c.removed},
                      {"reclaimed", c.reclaimed},   {"awaiting_reclaim", c.awaiting_reclaim}};
  }
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("drops").BeginObject();
    for (size_t i = 0; i < counters.drops.size(); ++i) json.Field(stats::kDropReasonNames[i], counters.drops[i]);
    json.EndObject().Key("datapath").BeginObject();
    for (const auto& [name, value] : datapath) json.Field(name, value);
    json.EndObject().Key("conntrack");
    if (!counters.conntrack) {
      json.Null();
    } else {
      json.BeginObject();
      for (const auto& [name, value] : table_counters) json.Field(name, value);
      json.EndObject();
    }
    return json.EndObject().Finish();
  }
  TextTable table({"GROUP", "COUNTER", "VALUE"});
  for (size_t i = 0; i < counters.drops.size(); ++i)
    table.AddRow({"drop", stats::kDropReasonNames[i], std::to_string(counters.drops[i])});
  for (const auto& [name, value] : datapath) table.AddRow({"datapath", name, std::to_string(value)});
  for (const auto& [name, value] : table_counters) table.AddRow({"conntrack", name, std::to_string(value)});
  std::string out = table.Render();
  if (!counters.conntrack) out += "(conntrack table not attached)\n";
  return out;
}

}  // namespace np::cli
