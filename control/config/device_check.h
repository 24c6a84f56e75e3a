// Does a port's devargs name a device that exists on this machine? Checked
// when the node config loads so that a typo fails there, with the field's
// name, rather than as an opaque EAL probe error in the dataplane.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace np::config {

// The one system access, injectable so tests need no real interfaces.
using PathExists = std::function<bool(const std::string& path)>;
PathExists RealPathExists();

// nullopt when the device exists or needs nothing that exists (net_tap,
// net_null, net_ring, net_memif create theirs); otherwise what is missing.
// `unchecked` (optional) is set for drivers this function does not know.
std::optional<std::string> CheckDevargs(std::string_view devargs, const PathExists& exists,
                                        bool* unchecked = nullptr);

}  // namespace np::config
