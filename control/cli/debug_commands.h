// `npctl trace` and `npctl capture` (control/cli/trace.h, capture.h): their
// flags, the wait loop, SIGINT/SIGTERM, the output.
#pragma once

#include <string>
#include <vector>

namespace np::cli {

// `arguments`: everything after "npctl" but the verb (global flags included).
int RunTraceCommand(const std::vector<std::string>& arguments);
int RunCaptureCommand(const std::vector<std::string>& arguments);

}  // namespace np::cli
