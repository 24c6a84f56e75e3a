// npctl get services / backends / conntrack.
#include <map>

#include "control/cli/format.h"
#include "control/cli/json_writer.h"
#include "control/cli/text_table.h"
#include "dataplane/conntrack/tcp_state.h"

namespace np::cli {
namespace {

std::string Endpoint(uint32_t ip, uint16_t port) { return FormatIpv4(ip) + ":" + std::to_string(port); }

std::string ServicePortName(const ServicesImage& services, size_t index) {
  return index < services.service_port_names.size() ? services.service_port_names[index] : "?";
}

std::vector<std::string> FlagNames(const abi::ServicePortRecord& record) {
  std::vector<std::string> flags;
  if (record.flags & abi::kAffinityClientIP) flags.push_back("affinity=" + std::to_string(record.affinity_timeout_s) + "s");
  if (record.flags & abi::kExternalTrafficLocal) flags.push_back("etp=Local");
  if (record.flags & abi::kInternalTrafficLocal) flags.push_back("itp=Local");
  if (record.source_range_count != 0) flags.push_back("sourceRanges=" + std::to_string(record.source_range_count));
  if (record.health_check_node_port != 0) flags.push_back("hc=" + std::to_string(record.health_check_node_port));
  return flags;
}

std::string Join(const std::vector<std::string>& items, const char* separator, const char* empty) {
  if (items.empty()) return empty;
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string NatName(const ct::EntrySnapshot& entry) {
  std::vector<std::string> parts;
  if (entry.nat_flags & ct::kNatDnat) parts.push_back("DNAT");
  if (entry.nat_flags & ct::kNatSnat) parts.push_back("SNAT");
  if (entry.origin_flags & ct::kHairpin) parts.push_back("hairpin");
  return Join(parts, "+", "-");
}

std::string StateName(const ct::EntrySnapshot& entry) {
  if (entry.original.protocol == ct::kProtoTcp) return ct::TcpStateName(entry.tcp_state);
  return entry.seen_reply ? "REPLIED" : "UNREPLIED";
}

std::string Flow(const ct::FlowKey& key) {
  return Endpoint(key.src_ip, key.src_port) + " -> " + Endpoint(key.dst_ip, key.dst_port);
}

}  // namespace

std::string FormatServices(const ServicesImage& services, const std::map<uint32_t, ServiceCounterSums>& counters,
                           OutputFormat format) {
  // Frontends list their service port by index: group them once.
  std::vector<std::vector<const abi::FrontendRecord*>> frontends(services.service_ports.size());
  for (const abi::FrontendRecord& frontend : services.frontends)
    if (frontend.service_port_index < frontends.size()) frontends[frontend.service_port_index].push_back(&frontend);

  JsonWriter json;
  TextTable table({"NAME", "PROTO", "FRONTENDS", "BACKENDS", "FLAGS", "PACKETS", "BYTES", "CONNECTIONS", "NO-ENDPOINT"});
  json.BeginArray();
  for (size_t i = 0; i < services.service_ports.size(); ++i) {
    const abi::ServicePortRecord& record = services.service_ports[i];
    const auto found = counters.find(record.id);
    const ServiceCounterSums sums = found == counters.end() ? ServiceCounterSums{} : found->second;
    const std::vector<std::string> flags = FlagNames(record);
    if (format == OutputFormat::kJson) {
      json.BeginObject()
          .Field("name", ServicePortName(services, i))
          .Field("id", record.id)
          .Field("protocol", ProtocolName(record.protocol));
      json.Key("frontends").BeginArray();
      for (const abi::FrontendRecord* frontend : frontends[i])
        json.BeginObject()
            .Field("type", FrontendKindName(frontend->kind))
            .Field("ip", FormatIpv4(frontend->ipv4))
            .Field("port", uint32_t{frontend->port})
            .EndObject();
      json.EndArray();
      json.Field("backends", record.backend_count)
          .Field("affinityClientIP", (record.flags & abi::kAffinityClientIP) != 0)
          .Field("affinityTimeoutSeconds", record.affinity_timeout_s)
          .Field("externalTrafficPolicyLocal", (record.flags & abi::kExternalTrafficLocal) != 0)
          .Field("internalTrafficPolicyLocal", (record.flags & abi::kInternalTrafficLocal) != 0)
          .Field("healthCheckNodePort", uint32_t{record.health_check_node_port});
      json.Key("counters")
          .BeginObject()
          .Field("packets", sums.packets)
          .Field("bytes", sums.bytes)
          .Field("connections", sums.connections)
          .Field("noEndpointRejects", sums.no_endpoint_rejects)
          .EndObject();
      json.EndObject();
      continue;
    }
    std::vector<std::string> frontend_texts;
    for (const abi::FrontendRecord* frontend : frontends[i])
      frontend_texts.push_back(std::string(FrontendKindName(frontend->kind)) + " " +
                               Endpoint(frontend->ipv4, frontend->port));
    table.AddRow({ServicePortName(services, i), ProtocolName(record.protocol), Join(frontend_texts, ", ", "<none>"),
                  std::to_string(record.backend_count), Join(flags, ",", "-"), std::to_string(sums.packets),
                  FormatBytes(sums.bytes), std::to_string(sums.connections), std::to_string(sums.no_endpoint_rejects)});
  }
  json.EndArray();
  return format == OutputFormat::kJson ? json.Finish() : table.Render();
}

std::string FormatBackends(const ServicesImage& services, OutputFormat format) {
  JsonWriter json;
  TextTable table({"SERVICE", "PROTO", "BACKEND", "LOCAL", "TERMINATING"});
  json.BeginArray();
  for (size_t i = 0; i < services.service_ports.size(); ++i) {
    const abi::ServicePortRecord& record = services.service_ports[i];
    for (uint32_t b = record.backend_first;
         b < record.backend_first + record.backend_count && b < services.backends.size(); ++b) {
      const abi::BackendRecord& backend = services.backends[b];
      const bool local = backend.flags & abi::kBackendLocal;
      const bool terminating = backend.flags & abi::kBackendTerminating;
      if (format == OutputFormat::kJson) {
        json.BeginObject()
            .Field("service", ServicePortName(services, i))
            .Field("protocol", ProtocolName(record.protocol))
            .Field("ip", FormatIpv4(backend.ipv4))
            .Field("port", uint32_t{backend.port})
            .Field("local", local)
            .Field("terminating", terminating)
            .EndObject();
      } else {
        table.AddRow({ServicePortName(services, i), ProtocolName(record.protocol), Endpoint(backend.ipv4, backend.port),
                      local ? "yes" : "no", terminating ? "yes" : "no"});
      }
    }
  }
  json.EndArray();
  return format == OutputFormat::kJson ? json.Finish() : table.Render();
}

std::string FormatConntrack(const std::vector<ct::EntrySnapshot>& entries, const ct::CtCounters& counters,
                            const ServicesImage* services, uint32_t now_s, OutputFormat format) {
  std::map<uint32_t, std::string> service_names;
  if (services != nullptr)
    for (size_t i = 0; i < services->service_ports.size(); ++i)
      service_names[services->service_ports[i].id] = ServicePortName(*services, i);
  auto service_of = [&](uint32_t id) -> std::string {
    if (id == ct::kNoServicePort) return "-";
    const auto found = service_names.find(id);
    return found == service_names.end() ? "id:" + std::to_string(id) : found->second;
  };
  // Clocks are coarse and read at slightly different times: never negative.
  auto since = [&](uint32_t then) -> uint32_t { return now_s > then ? now_s - then : 0; };

  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginObject().Key("summary").BeginObject()
        .Field("entries", counters.entries)
        .Field("capacity", counters.capacity)
        .Field("inserts", counters.inserts)
        .Field("tableFull", counters.table_full)
        .Field("earlyDrops", counters.early_drops)
        .Field("expired", counters.expired)
        .EndObject();
    json.Key("entries").BeginArray();
    for (const ct::EntrySnapshot& entry : entries) {
      const uint32_t idle = since(entry.last_seen_s);
      auto key = [&](const char* name, const ct::FlowKey& flow) {
        json.Key(name).BeginObject()
            .Field("src", FormatIpv4(flow.src_ip))
            .Field("srcPort", uint32_t{flow.src_port})
            .Field("dst", FormatIpv4(flow.dst_ip))
            .Field("dstPort", uint32_t{flow.dst_port})
            .EndObject();
      };
      json.BeginObject().Field("protocol", ProtocolName(entry.original.protocol));
      key("original", entry.original);
      key("reply", entry.reply);
      json.Field("nat", NatName(entry))
          .Field("service", service_of(entry.service_port_id))
          .Field("state", StateName(entry))
          .Field("ageSeconds", since(entry.created_s))
          .Field("timeoutSeconds", entry.timeout_s > idle ? entry.timeout_s - idle : 0u)
          .Field("packetsOriginal", entry.packets[0])
          .Field("packetsReply", entry.packets[1])
          .Field("bytesOriginal", entry.bytes[0])
          .Field("bytesReply", entry.bytes[1])
          .EndObject();
    }
    json.EndArray();
    return json.EndObject().Finish();
  }

  TextTable table({"PROTO", "ORIGINAL", "REPLY", "NAT", "SERVICE", "STATE", "AGE", "TIMEOUT", "PACKETS", "BYTES"});
  for (const ct::EntrySnapshot& entry : entries) {
    const uint32_t idle = since(entry.last_seen_s);
    table.AddRow({ProtocolName(entry.original.protocol), Flow(entry.original), Flow(entry.reply), NatName(entry),
                  service_of(entry.service_port_id), StateName(entry), FormatDuration(since(entry.created_s)),
                  FormatDuration(entry.timeout_s > idle ? entry.timeout_s - idle : 0),
                  std::to_string(entry.packets[0]) + "/" + std::to_string(entry.packets[1]),
                  FormatBytes(entry.bytes[0]) + "/" + FormatBytes(entry.bytes[1])});
  }
  return table.Render() + "\nentries " + std::to_string(counters.entries) + "/" + std::to_string(counters.capacity) +
         ", inserts " + std::to_string(counters.inserts) + ", table_full " + std::to_string(counters.table_full) +
         ", early_drops " + std::to_string(counters.early_drops) + "\n";
}

}  // namespace np::cli
