// Two PolicyTables judging the same flows alike: verdict, reason and the
// rule indices that allowed each direction.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "dataplane/policy/policy_tables.h"

namespace np::policy::testing {

// Expects got_tables to give every query the verdict want_tables gives.
// With `want_identity` (tables that number identities differently), each
// source identity of got must be want's mapped through it. Returns got's
// verdicts.
inline std::vector<FlowVerdict> ExpectSameVerdicts(const std::vector<FlowQuery>& queries,
                                                   const PolicyTables& got_tables, const PolicyTables& want_tables,
                                                   const std::function<uint32_t(uint32_t)>& want_identity = {}) {
  std::vector<FlowVerdict> got(queries.size()), want(queries.size());
  got_tables.Check(queries.data(), static_cast<uint32_t>(queries.size()), got.data());
  want_tables.Check(queries.data(), static_cast<uint32_t>(queries.size()), want.data());
  for (size_t i = 0; i < queries.size(); ++i) {
    EXPECT_EQ(got[i].allowed, want[i].allowed) << i;
    EXPECT_EQ(got[i].reason, want[i].reason) << i;
    EXPECT_EQ(got[i].ingress_rule, want[i].ingress_rule) << i;
    EXPECT_EQ(got[i].egress_rule, want[i].egress_rule) << i;
    if (want_identity) {
      EXPECT_EQ(got[i].src_identity, want_identity(want[i].src_identity)) << i;
    }
  }
  return got;
}

inline size_t CountAllowed(const std::vector<FlowVerdict>& verdicts) {
  size_t allowed = 0;
  for (const FlowVerdict& verdict : verdicts) allowed += verdict.allowed;
  return allowed;
}

}  // namespace np::policy::testing
