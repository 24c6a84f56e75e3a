// The node config (node.yaml, kind NodeConfig) -> the node section image.
//
// Everything is validated here, with the file and field in each message,
// so that the dataplane only ever sees a consistent node: addresses, CIDRs,
// the SNAT port range, one uplink, pod IPs inside the pod CIDR, devices that
// exist. Port IDs are FNV-1a 32 of the port name, so they do not depend on
// the ports' order and survive restarts.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/section_image.h"
#include "control/config/device_check.h"

namespace np::config {

inline constexpr const char* kNodeConfigApiVersion = "nodeplane.io/v1alpha1";

// `file_name` names the file in messages. The Error lists every problem
// found, one per line. `warnings` (optional) receives unknown fields and
// devices that could not be checked. The image's generation is 0.
Result<NodeImage> ParseNodeConfig(std::string_view yaml_text, const std::string& file_name,
                                  const PathExists& path_exists,
                                  std::vector<std::string>* warnings = nullptr);

Result<NodeImage> LoadNodeConfig(const std::filesystem::path& path,
                                 const PathExists& path_exists = RealPathExists(),
                                 std::vector<std::string>* warnings = nullptr);

// The port ID a port named `name` gets (FNV-1a 32).
uint32_t PortIdForName(std::string_view name);

}  // namespace np::config
