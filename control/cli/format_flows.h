// `npctl flows` and `npctl map`: the flow log and the traffic map that
// nodeplane-control's flow collector keeps in its run directory
// (control/flows/flow_model.h), filtered and formatted. Pure functions but
// for ReadFlowLog / RenderSvg (files, Graphviz).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "control/cli/views.h"
#include "control/flows/flow_model.h"

namespace np::cli {

struct FlowFilter {
  std::string namespace_;  // either end's namespace
  std::string workload;    // either end's workload: "name" or "ns/name"
  std::string service;     // "ns/name", "name" or "ns/name:port"
  std::string verdict;     // allowed, denied, no-policy, would-deny, always-allowed

  bool Matches(const flows::FlowLogEntry& entry) const;
  bool Matches(const flows::MapEdge& edge) const;
};

// The log's lines (the rotated file first), joined by flow id: the newest
// event of each connection, oldest first. Unparsable lines are counted in
// `bad_lines` (optional) and skipped.
Result<std::vector<flows::FlowLogEntry>> ReadFlowLog(const std::filesystem::path& log, size_t* bad_lines = nullptr);
std::vector<flows::FlowLogEntry> LatestPerFlow(const std::vector<flows::FlowLogEntry>& events);

// `limit` 0: every flow; else the newest `limit`.
std::string FormatFlows(const std::vector<flows::FlowLogEntry>& flows, const FlowFilter& filter, size_t limit,
                        uint64_t now_ns, OutputFormat format);
// One line per event, for --follow (table: aligned-ish columns; json: the log line).
std::string FormatFlowEvent(const flows::FlowLogEntry& entry, OutputFormat format);

enum class MapFormat { kTable, kJson, kDot, kSvg };
std::string FormatMapTable(const flows::TrafficMapFile& map, const FlowFilter& filter, uint64_t now_ns);
std::string FormatMapJson(const flows::TrafficMapFile& map, const FlowFilter& filter);
// Graphviz: one cluster per namespace, external peers and the node outside;
// edges labelled "PORT/PROTO xN"; edges only ever denied drawn red, dashed.
std::string FormatMapDot(const flows::TrafficMapFile& map, const FlowFilter& filter);
// Runs Graphviz's `dot -Tsvg` on `dot_text`. The error says when dot is missing.
Result<std::string> RenderSvg(const std::string& dot_text);

}  // namespace np::cli
