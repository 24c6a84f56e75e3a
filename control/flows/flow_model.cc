#include "control/flows/flow_model.h"

#include <yaml-cpp/yaml.h>

#include "control/cli/json_writer.h"

namespace np::flows {
namespace {

using cli::JsonWriter;

void WritePeer(JsonWriter& json, std::string_view key, const FlowPeer& peer) {
  json.Key(key).BeginObject();
  json.Field("kind", peer.kind);
  if (!peer.namespace_.empty()) json.Field("namespace", peer.namespace_);
  json.Field("workload", peer.workload);
  if (!peer.workload_kind.empty()) json.Field("workloadKind", peer.workload_kind);
  if (!peer.pod.empty()) json.Field("pod", peer.pod);
  if (!peer.pod_labels.empty()) {
    json.Key("podLabels").BeginObject();
    for (const auto& [label, value] : peer.pod_labels) json.Field(label, value);
    json.EndObject();
  }
  json.EndObject();
}

// Reading back: yaml-cpp parses JSON. An absent key of a const node is an
// invalid node: test IsDefined() before anything else. A missing field reads as empty/0;
// a field of the wrong type is an error naming it.
class Reader {
 public:
  explicit Reader(std::string what) : what_(std::move(what)) {}
  std::string String(const YAML::Node& node, const char* key) {
    const YAML::Node value = node[key];
    if (!value.IsDefined() || value.IsNull()) return "";
    if (!value.IsScalar()) return Fail(key, "is not a string"), "";
    return value.Scalar();
  }
  uint64_t Uint(const YAML::Node& node, const char* key) {
    const YAML::Node value = node[key];
    if (!value.IsDefined() || value.IsNull()) return 0;
    uint64_t number = 0;
    if (!value.IsScalar() || !YAML::convert<uint64_t>::decode(value, number)) Fail(key, "is not a number");
    return number;
  }
  FlowPeer Peer(const YAML::Node& node, const char* key) {
    FlowPeer peer;
    const YAML::Node value = node[key];
    if (!value.IsDefined() || value.IsNull()) return peer;
    if (!value.IsMap()) return Fail(key, "is not an object"), peer;
    peer.kind = String(value, "kind");
    peer.namespace_ = String(value, "namespace");
    peer.workload = String(value, "workload");
    peer.workload_kind = String(value, "workloadKind");
    peer.pod = String(value, "pod");
    const YAML::Node labels = value["podLabels"];
    if (labels.IsDefined() && labels.IsMap())
      for (const auto& item : labels) peer.pod_labels[item.first.Scalar()] = item.second.Scalar();
    return peer;
  }
  void Fail(const char* key, const char* problem) {
    if (error_.empty()) error_ = what_ + ": \"" + key + "\" " + problem;
  }
  const std::string& error() const { return error_; }

 private:
  std::string what_;
  std::string error_;
};

Result<YAML::Node> ParseJson(std::string_view text, const std::string& what) {
  try {
    YAML::Node node = YAML::Load(std::string(text));
    if (!node.IsMap()) return MakeError(what + ": expected a JSON object");
    return node;
  } catch (const YAML::Exception& error) {
    return MakeError(what + ": not valid JSON: " + error.what());
  }
}

}  // namespace

std::string FlowPeer::Label() const {
  if (kind == "pod") return namespace_ + "/" + workload;
  if (kind == "service-vip") return "service " + namespace_ + "/" + workload;
  return kind + " " + workload;
}

bool MapEdge::Passed() const {
  for (const std::string& verdict : verdicts)
    if (verdict != "denied") return true;
  return false;
}

std::string FormatFlowLogLine(const FlowLogEntry& entry) {
  JsonWriter json(JsonWriter::Style::kCompact);
  json.BeginObject();
  json.Field("event", entry.event);
  json.Key("flowId").Uint(entry.flow_id);
  json.Key("startNs").Uint(entry.start_ns);
  json.Key("timeNs").Uint(entry.time_ns);
  json.Field("protocol", entry.protocol);
  json.Field("srcIp", entry.src_ip);
  json.Key("srcPort").Uint(entry.src_port);
  json.Field("dstIp", entry.dst_ip);
  json.Key("dstPort").Uint(entry.dst_port);
  json.Field("backendIp", entry.backend_ip);
  json.Key("backendPort").Uint(entry.backend_port);
  json.Field("verdict", entry.verdict);
  if (!entry.end_reason.empty()) json.Field("endReason", entry.end_reason);
  if (!entry.service.empty()) json.Field("service", entry.service);
  WritePeer(json, "client", entry.client);
  WritePeer(json, "server", entry.server);
  json.Key("packets").BeginArray().Uint(entry.packets[0]).Uint(entry.packets[1]).EndArray();
  json.Key("bytes").BeginArray().Uint(entry.bytes[0]).Uint(entry.bytes[1]).EndArray();
  json.EndObject();
  return json.Finish();
}

Result<FlowLogEntry> ParseFlowLogLine(std::string_view line) {
  Result<YAML::Node> node = ParseJson(line, "flow log line");
  if (!node) return node.error();
  Reader read("flow log line");
  FlowLogEntry entry;
  entry.event = read.String(*node, "event");
  entry.flow_id = read.Uint(*node, "flowId");
  entry.start_ns = read.Uint(*node, "startNs");
  entry.time_ns = read.Uint(*node, "timeNs");
  entry.protocol = read.String(*node, "protocol");
  entry.src_ip = read.String(*node, "srcIp");
  entry.src_port = static_cast<uint16_t>(read.Uint(*node, "srcPort"));
  entry.dst_ip = read.String(*node, "dstIp");
  entry.dst_port = static_cast<uint16_t>(read.Uint(*node, "dstPort"));
  entry.backend_ip = read.String(*node, "backendIp");
  entry.backend_port = static_cast<uint16_t>(read.Uint(*node, "backendPort"));
  entry.verdict = read.String(*node, "verdict");
  entry.end_reason = read.String(*node, "endReason");
  entry.service = read.String(*node, "service");
  entry.client = read.Peer(*node, "client");
  entry.server = read.Peer(*node, "server");
  for (const char* key : {"packets", "bytes"}) {
    const YAML::Node pair = (*node)[key];
    uint64_t* out = std::string_view(key) == "packets" ? entry.packets : entry.bytes;
    if (pair.IsDefined() && pair.IsSequence() && pair.size() == 2) {
      if (!YAML::convert<uint64_t>::decode(pair[0], out[0]) || !YAML::convert<uint64_t>::decode(pair[1], out[1]))
        read.Fail(key, "is not a pair of numbers");
    }
  }
  if (entry.event.empty()) read.Fail("event", "is missing");
  if (!read.error().empty()) return MakeError(read.error());
  return entry;
}

std::string FormatTrafficMapJson(const TrafficMapFile& map) {
  JsonWriter json;
  json.BeginObject();
  json.Key("updatedNs").Uint(map.updated_ns);
  json.Key("records").Uint(map.records);
  json.Key("recordsDropped").Uint(map.records_dropped);
  json.Key("activeFlows").Uint(map.active_flows);
  json.Key("edgesOverflow").Uint(map.edges_overflow);
  json.Key("edges").BeginArray();
  for (const MapEdge& edge : map.edges) {
    json.BeginObject();
    WritePeer(json, "client", edge.client);
    WritePeer(json, "server", edge.server);
    json.Key("port").Uint(edge.port);
    json.Field("protocol", edge.protocol);
    json.Key("connections").Uint(edge.connections);
    json.Key("services").BeginArray();
    for (const std::string& service : edge.services) json.String(service);
    json.EndArray();
    json.Key("verdicts").BeginArray();
    for (const std::string& verdict : edge.verdicts) json.String(verdict);
    json.EndArray();
    json.Key("firstSeenNs").Uint(edge.first_seen_ns);
    json.Key("lastSeenNs").Uint(edge.last_seen_ns);
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.Finish();
}

Result<TrafficMapFile> ParseTrafficMapJson(std::string_view text) {
  Result<YAML::Node> node = ParseJson(text, "traffic map");
  if (!node) return node.error();
  Reader read("traffic map");
  TrafficMapFile map;
  map.updated_ns = read.Uint(*node, "updatedNs");
  map.records = read.Uint(*node, "records");
  map.records_dropped = read.Uint(*node, "recordsDropped");
  map.active_flows = read.Uint(*node, "activeFlows");
  map.edges_overflow = read.Uint(*node, "edgesOverflow");
  const YAML::Node edges = (*node)["edges"];
  if (edges.IsDefined() && !edges.IsSequence()) read.Fail("edges", "is not an array");
  if (edges.IsDefined() && edges.IsSequence()) {
    for (const YAML::Node& item : edges) {
      MapEdge edge;
      edge.client = read.Peer(item, "client");
      edge.server = read.Peer(item, "server");
      edge.port = static_cast<uint16_t>(read.Uint(item, "port"));
      edge.protocol = read.String(item, "protocol");
      edge.connections = read.Uint(item, "connections");
      for (const char* key : {"services", "verdicts"}) {
        const YAML::Node list = item[key];
        std::set<std::string>& out = std::string_view(key) == "services" ? edge.services : edge.verdicts;
        if (list.IsDefined() && list.IsSequence())
          for (const YAML::Node& value : list) out.insert(value.Scalar());
      }
      edge.first_seen_ns = read.Uint(item, "firstSeenNs");
      edge.last_seen_ns = read.Uint(item, "lastSeenNs");
      map.edges.push_back(std::move(edge));
    }
  }
  if (!read.error().empty()) return MakeError(read.error());
  return map;
}

std::string DoubleQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::filesystem::path FlowLogPath(const std::filesystem::path& run_dir, const std::string& instance) {
  return run_dir / (instance + ".flows.jsonl");
}

std::filesystem::path TrafficMapPath(const std::filesystem::path& run_dir, const std::string& instance) {
  return run_dir / (instance + ".map.json");
}

}  // namespace np::flows
