#include "control/cli/format_flows.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "control/cli/format.h"
#include "control/cli/json_writer.h"
#include "control/cli/text_table.h"

namespace np::cli {
namespace {

using flows::DoubleQuote;
using flows::FlowLogEntry;
using flows::FlowPeer;
using flows::MapEdge;

bool WorkloadMatches(const FlowPeer& peer, const std::string& wanted) {
  return peer.workload == wanted || peer.namespace_ + "/" + peer.workload == wanted;
}

bool ServiceMatches(const std::string& service, const std::string& wanted) {
  if (service.empty()) return false;
  const std::string without_port = service.substr(0, service.rfind(':'));
  const std::string name = without_port.substr(without_port.find('/') + 1);
  return service == wanted || without_port == wanted || name == wanted;
}

std::string Age(uint64_t now_ns, uint64_t then_ns) {
  if (then_ns == 0 || now_ns < then_ns) return "0s";
  return FormatDuration((now_ns - then_ns) / 1'000'000'000ull);
}

std::string State(const FlowLogEntry& entry) {
  if (entry.event == "start") return "active";
  if (entry.event == "end") return "closed" + (entry.end_reason.empty() ? "" : " (" + entry.end_reason + ")");
  return entry.event;
}

std::string Endpoint(const std::string& ip, uint16_t port) { return ip + ":" + std::to_string(port); }

}  // namespace

bool FlowFilter::Matches(const FlowLogEntry& entry) const {
  if (!namespace_.empty() && entry.client.namespace_ != namespace_ && entry.server.namespace_ != namespace_)
    return false;
  if (!workload.empty() && !WorkloadMatches(entry.client, workload) && !WorkloadMatches(entry.server, workload))
    return false;
  if (!service.empty() && !ServiceMatches(entry.service, service)) return false;
  return verdict.empty() || entry.verdict == verdict;
}

bool FlowFilter::Matches(const MapEdge& edge) const {
  if (!namespace_.empty() && edge.client.namespace_ != namespace_ && edge.server.namespace_ != namespace_)
    return false;
  if (!workload.empty() && !WorkloadMatches(edge.client, workload) && !WorkloadMatches(edge.server, workload))
    return false;
  if (!service.empty()) {
    bool any = false;
    for (const std::string& name : edge.services) any |= ServiceMatches(name, service);
    if (!any) return false;
  }
  return verdict.empty() || edge.verdicts.count(verdict) != 0;
}

Result<std::vector<FlowLogEntry>> ReadFlowLog(const std::filesystem::path& log, size_t* bad_lines) {
  std::vector<FlowLogEntry> events;
  bool any_file = false;
  for (const std::filesystem::path& path : {std::filesystem::path(log.string() + ".1"), log}) {
    std::ifstream in(path);
    if (!in) continue;
    any_file = true;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Result<FlowLogEntry> entry = flows::ParseFlowLogLine(line);
      if (entry) events.push_back(std::move(*entry));
      else if (bad_lines) ++*bad_lines;
    }
  }
  if (!any_file)
    return MakeError("no flow log " + log.string() +
                     " (is nodeplane-control running with this --run-dir, and has the dataplane seen traffic?)");
  return events;
}

std::vector<FlowLogEntry> LatestPerFlow(const std::vector<FlowLogEntry>& events) {
  std::vector<FlowLogEntry> flows;
  std::map<uint64_t, size_t> index;  // flow id -> position in `flows`
  for (const FlowLogEntry& event : events) {
    if (event.flow_id == 0) {  // denials have no connection to join
      flows.push_back(event);
      continue;
    }
    auto [it, inserted] = index.try_emplace(event.flow_id, flows.size());
    if (inserted) flows.push_back(event);
    else flows[it->second] = event;
  }
  return flows;
}

std::string FormatFlows(const std::vector<FlowLogEntry>& all, const FlowFilter& filter, size_t limit,
                        uint64_t now_ns, OutputFormat format) {
  std::vector<const FlowLogEntry*> selected;
  for (const FlowLogEntry& entry : all)
    if (filter.Matches(entry)) selected.push_back(&entry);
  if (limit != 0 && selected.size() > limit) selected.erase(selected.begin(), selected.end() - limit);
  if (format == OutputFormat::kJson) {
    JsonWriter json;
    json.BeginArray();
    for (const FlowLogEntry* entry : selected) {
      std::string line = flows::FormatFlowLogLine(*entry);
      line.pop_back();  // the newline
      json.BeginObject();
      json.Field("state", State(*entry));
      json.Field("client", entry->client.Label());
      json.Field("server", entry->server.Label());
      json.Field("clientPod", entry->client.pod);
      json.Field("serverPod", entry->server.pod);
      json.Field("protocol", entry->protocol);
      json.Field("source", Endpoint(entry->src_ip, entry->src_port));
      json.Field("destination", Endpoint(entry->dst_ip, entry->dst_port));
      json.Field("backend", Endpoint(entry->backend_ip, entry->backend_port));
      json.Field("service", entry->service);
      json.Field("verdict", entry->verdict);
      json.Key("flowId").Uint(entry->flow_id);
      json.Key("startNs").Uint(entry->start_ns);
      json.Key("timeNs").Uint(entry->time_ns);
      json.Key("packets").BeginArray().Uint(entry->packets[0]).Uint(entry->packets[1]).EndArray();
      json.Key("bytes").BeginArray().Uint(entry->bytes[0]).Uint(entry->bytes[1]).EndArray();
      json.EndObject();
    }
    json.EndArray();
    return json.Finish();
  }
  if (selected.empty()) return "No flows found.\n";
  TextTable table({"STATE", "CLIENT", "SERVER", "PROTO", "SOURCE", "DESTINATION", "BACKEND", "SERVICE", "VERDICT",
                   "PACKETS", "BYTES", "AGE"});
  for (const FlowLogEntry* entry : selected) {
    table.AddRow({State(*entry), entry->client.Label() + (entry->client.pod.empty() ? "" : " (" + entry->client.pod + ")"),
                  entry->server.Label() + (entry->server.pod.empty() ? "" : " (" + entry->server.pod + ")"),
                  entry->protocol, Endpoint(entry->src_ip, entry->src_port),
                  Endpoint(entry->dst_ip, entry->dst_port), Endpoint(entry->backend_ip, entry->backend_port),
                  entry->service.empty() ? "-" : entry->service, entry->verdict,
                  std::to_string(entry->packets[0]) + "/" + std::to_string(entry->packets[1]),
                  FormatBytes(entry->bytes[0]) + "/" + FormatBytes(entry->bytes[1]),
                  Age(now_ns, entry->start_ns ? entry->start_ns : entry->time_ns)});
  }
  return table.Render();
}

std::string FormatFlowEvent(const FlowLogEntry& entry, OutputFormat format) {
  if (format == OutputFormat::kJson) return flows::FormatFlowLogLine(entry);
  return entry.event + "  " + entry.client.Label() + " -> " + entry.server.Label() + "  " + entry.protocol + " " +
         Endpoint(entry.src_ip, entry.src_port) + " -> " + Endpoint(entry.dst_ip, entry.dst_port) +
         (entry.backend_ip != entry.dst_ip || entry.backend_port != entry.dst_port
              ? " => " + Endpoint(entry.backend_ip, entry.backend_port)
              : "") +
         "  " + entry.verdict + (entry.service.empty() ? "" : "  via " + entry.service) + "\n";
}

std::string FormatMapTable(const flows::TrafficMapFile& map, const FlowFilter& filter, uint64_t now_ns) {
  TextTable table({"CLIENT", "SERVER", "PORT", "CONNECTIONS", "VIA", "VERDICTS", "LAST SEEN"});
  for (const MapEdge& edge : map.edges) {
    if (!filter.Matches(edge)) continue;
    std::string services, verdicts;
    for (const std::string& service : edge.services) services += (services.empty() ? "" : ",") + service;
    for (const std::string& verdict : edge.verdicts) verdicts += (verdicts.empty() ? "" : ",") + verdict;
    table.AddRow({edge.client.Label(), edge.server.Label(), std::to_string(edge.port) + "/" + edge.protocol,
                  std::to_string(edge.connections), services.empty() ? "-" : services, verdicts,
                  Age(now_ns, edge.last_seen_ns) + " ago"});
  }
  std::string out = table.empty() ? "No traffic seen yet.\n" : table.Render();
  if (map.records_dropped != 0)
    out += "warning: the dataplane dropped " + std::to_string(map.records_dropped) +
           " flow records (full rings): the map may miss connections\n";
  if (map.edges_overflow != 0)
    out += "warning: the map is full: " + std::to_string(map.edges_overflow) + " connections on new edges were not mapped\n";
  return out;
}

std::string FormatMapJson(const flows::TrafficMapFile& map, const FlowFilter& filter) {
  flows::TrafficMapFile filtered = map;
  filtered.edges.clear();
  for (const MapEdge& edge : map.edges)
    if (filter.Matches(edge)) filtered.edges.push_back(edge);
  return flows::FormatTrafficMapJson(filtered);
}

std::string FormatMapDot(const flows::TrafficMapFile& map, const FlowFilter& filter) {
  std::map<std::string, std::map<std::string, const FlowPeer*>> by_namespace;  // "" = outside the cluster
  std::vector<const MapEdge*> edges;
  for (const MapEdge& edge : map.edges) {
    if (!filter.Matches(edge)) continue;
    edges.push_back(&edge);
    for (const FlowPeer* peer : {&edge.client, &edge.server})
      by_namespace[peer->kind == "pod" || peer->kind == "service-vip" ? peer->namespace_ : ""][peer->Label()] = peer;
  }
  std::string out =
      "digraph traffic {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
      "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& [ns, peers] : by_namespace) {
    const std::string indent = ns.empty() ? "  " : "    ";
    if (!ns.empty()) out += "  subgraph " + DoubleQuote("cluster_" + ns) + " {\n    label=" + DoubleQuote(ns) + ";\n";
    for (const auto& [label, peer] : peers) {
      std::string text = peer->kind == "pod" ? peer->workload + "\\n" + peer->workload_kind : label;
      std::string attributes = "label=\"" + text + "\"";
      if (peer->kind != "pod") attributes += ", shape=ellipse";
      out += indent + DoubleQuote(label) + " [" + attributes + "];\n";
    }
    if (!ns.empty()) out += "  }\n";
  }
  for (const MapEdge* edge : edges) {
    std::string attributes =
        "label=" + DoubleQuote(std::to_string(edge->port) + "/" + edge->protocol + " x" + std::to_string(edge->connections));
    if (!edge->Passed()) attributes += ", color=red, fontcolor=red, style=dashed";
    out += "  " + DoubleQuote(edge->client.Label()) + " -> " + DoubleQuote(edge->server.Label()) + " [" + attributes + "];\n";
  }
  return out + "}\n";
}

Result<std::string> RenderSvg(const std::string& dot_text) {
  char input_path[] = "/tmp/npctl-map-XXXXXX";
  const int fd = mkstemp(input_path);
  if (fd < 0) return MakeError("cannot create a temporary file for Graphviz");
  const bool written = write(fd, dot_text.data(), dot_text.size()) == static_cast<ssize_t>(dot_text.size());
  close(fd);
  if (!written) {
    unlink(input_path);
    return MakeError("cannot write the temporary file for Graphviz");
  }
  const std::string command = std::string("dot -Tsvg ") + input_path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    unlink(input_path);
    return MakeError("cannot run Graphviz's dot");
  }
  std::string svg;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) svg.append(buffer, n);
  const int status = pclose(pipe);
  unlink(input_path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
      return MakeError("-o svg needs Graphviz's dot on PATH (apt-get install graphviz; tools/setup installs it)");
    return MakeError("dot -Tsvg failed: " + svg);
  }
  return svg;
}

}  // namespace np::cli
