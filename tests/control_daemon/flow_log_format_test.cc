// `npctl flows`: the JSON-lines flow log read back, joined per connection
// (the newest event wins), filtered and formatted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control/cli/format_flows.h"
#include "control/flows/flow_model.h"

namespace np::cli {
namespace {

using flows::FlowLogEntry;
using flows::FlowPeer;
using ::testing::HasSubstr;

constexpr uint64_t kSecond = 1'000'000'000ull;

FlowLogEntry Event(const std::string& event, uint64_t flow_id, const std::string& client, const std::string& server,
                   const std::string& verdict, const std::string& service = "") {
  FlowLogEntry entry;
  entry.event = event;
  entry.flow_id = flow_id;
  entry.start_ns = 100 * kSecond;
  entry.time_ns = 101 * kSecond;
  entry.protocol = "TCP";
  entry.src_ip = "10.244.1.11";
  entry.src_port = 40000;
  entry.dst_ip = "10.96.0.13";
  entry.dst_port = 6379;
  entry.backend_ip = "10.244.1.14";
  entry.backend_port = 6379;
  entry.verdict = verdict;
  entry.service = service;
  entry.client = FlowPeer{"pod", "voting-app", client, "Deployment", client + "-abc", {{"app", client}}};
  entry.server = FlowPeer{"pod", "voting-app", server, "Deployment", server + "-xyz", {{"app", server}}};
  entry.packets[0] = 5;
  entry.bytes[0] = 2048;
  return entry;
}

TEST(FlowLog, LineRoundTripAndErrorsNameTheField) {
  FlowLogEntry entry = Event("end", 42, "vote", "redis", "allowed", "voting-app/redis:redis");
  entry.end_reason = "expired";
  const std::string line = flows::FormatFlowLogLine(entry);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);  // one line
  Result<FlowLogEntry> parsed = flows::ParseFlowLogLine(line);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(flows::FormatFlowLogLine(*parsed), line);
  EXPECT_THAT(flows::ParseFlowLogLine("{\"event\": \"end\", \"flowId\": \"x\"}").error().message,
              HasSubstr("\"flowId\" is not a number"));
  EXPECT_THAT(flows::ParseFlowLogLine("{\"flowId\": 1}").error().message, HasSubstr("\"event\" is missing"));
}

TEST(FlowLog, TheNewestEventOfEachConnectionAndEveryDenial) {
  const std::vector<FlowLogEntry> events = {
      Event("start", 1, "vote", "redis", "allowed"), Event("start", 2, "worker", "db", "allowed"),
      Event("denied", 0, "vote", "db", "denied"),    Event("end", 1, "vote", "redis", "allowed"),
      Event("denied", 0, "vote", "db", "denied")};
  const std::vector<FlowLogEntry> flows = LatestPerFlow(events);
  ASSERT_EQ(flows.size(), 4u);
  EXPECT_EQ(flows[0].event, "end");  // connection 1, in the place it started
  EXPECT_EQ(flows[1].event, "start");
  EXPECT_EQ(flows[2].event, "denied");
  EXPECT_EQ(flows[3].event, "denied");
}

TEST(FlowLog, TableAndJsonWithFiltersAndLimit) {
  const std::vector<FlowLogEntry> flows = {Event("end", 1, "vote", "redis", "allowed", "voting-app/redis:redis"),
                                           Event("start", 2, "worker", "db", "no-policy"),
                                           Event("denied", 0, "vote", "db", "denied")};
  const uint64_t now = 130 * kSecond;
  const std::string table = FormatFlows(flows, FlowFilter{"", "vote", "", ""}, 0, now, OutputFormat::kTable);
  EXPECT_THAT(table, HasSubstr("closed   voting-app/vote (vote-abc)   voting-app/redis (redis-xyz)   TCP     "
                               "10.244.1.11:40000   10.96.0.13:6379   10.244.1.14:6379   voting-app/redis:redis"));
  EXPECT_THAT(table, HasSubstr("denied   voting-app/vote (vote-abc)   voting-app/db (db-xyz)"));
  EXPECT_EQ(table.find("worker"), std::string::npos);
  EXPECT_THAT(table, HasSubstr("5/0       2.0Ki/0   30s"));

  EXPECT_EQ(FormatFlows(flows, FlowFilter{"", "", "redis", ""}, 0, now, OutputFormat::kTable).find("worker"),
            std::string::npos);
  EXPECT_EQ(FormatFlows(flows, FlowFilter{"kube-system", "", "", ""}, 0, now, OutputFormat::kTable), "No flows found.\n");
  const std::string newest = FormatFlows(flows, FlowFilter{}, 1, now, OutputFormat::kJson);
  EXPECT_THAT(newest, HasSubstr("\"state\": \"denied\""));
  EXPECT_EQ(newest.find("\"state\": \"active\""), std::string::npos);  // --limit 1: only the newest
  const std::string verdict = FormatFlows(flows, FlowFilter{"", "", "", "no-policy"}, 0, now, OutputFormat::kJson);
  EXPECT_THAT(verdict, HasSubstr("\"client\": \"voting-app/worker\""));
  EXPECT_THAT(verdict, HasSubstr("\"backend\": \"10.244.1.14:6379\""));
  EXPECT_EQ(verdict.find("voting-app/vote"), std::string::npos);
}

TEST(FlowLog, FollowLinesSayWhatHappened) {
  EXPECT_EQ(FormatFlowEvent(Event("start", 1, "vote", "redis", "allowed", "voting-app/redis:redis"), OutputFormat::kTable),
            "start  voting-app/vote -> voting-app/redis  TCP 10.244.1.11:40000 -> 10.96.0.13:6379 => 10.244.1.14:6379"
            "  allowed  via voting-app/redis:redis\n");
}

}  // namespace
}  // namespace np::cli
