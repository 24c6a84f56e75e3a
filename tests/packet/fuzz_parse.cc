// libFuzzer: Parse any bytes; on accepted IPv4 run every rewrite and builder
// on a copy, under ASan/UBSan. Parse must stay within `size` bytes.
#include <cstdint>
#include <cstring>
#include <vector>

#include "dataplane/frag/fragment_table.h"
#include "dataplane/nat/rewrite.h"
#include "dataplane/packet/build.h"
#include "dataplane/packet/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535 + 18) return 0;
  // Exactly-sized heap copy so ASan sees any read past the end.
  std::vector<uint8_t> frame(data, data + size);
  np::PacketMeta meta;
  const np::ParseResult result = np::Parse(frame.data(), static_cast<uint32_t>(size), meta);
  if (result != np::ParseResult::kOk || meta.ethertype != np::kEtherTypeIpv4) return 0;
  np::RewriteSourceAndDestination(frame.data(), meta, 0x0a000001, 1234, 0x0a000002, 80);
  np::DecrementTtl(frame.data(), meta);
  if (meta.is_icmp_error) np::RewriteIcmpErrorInner(frame.data(), meta, 1, 2, 3, 4);
  uint8_t out[2048];
  np::BuildIcmpPortUnreachable(out, sizeof(out), frame.data(), meta, 0x0a000001);
  static np::FixedFragmentTable<64> table(100);
  uint16_t src_port, dst_port;
  if (meta.first_fragment) table.RememberFirst(meta, 0);
  if (meta.frag_offset_bytes != 0) table.Lookup(meta, 0, src_port, dst_port);
  return 0;
}
