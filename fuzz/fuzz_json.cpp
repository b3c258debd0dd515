// One JSON notification body, as POST /v1/notifications/{flow} (application/json) receives it.
// Input: one selector byte (the flow), then the body. Decoded and validated by libs/codec and
// libs/validation exactly as relais-ingest does; a notification that passes must come back
// identical through the JSON and binary forms (to_json, and the protobuf bytes).
#include "fuzz_util.hpp"

using namespace relais;

RELAIS_FUZZ_QUIET_PROTOBUF()

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto flow = fuzz::flow_of(data[0]);
  v1::Notification n;
  if (auto err = codec::decode_and_validate_json(flow, fuzz::text(data + 1, size - 1), n)) {
    RELAIS_FUZZ_CHECK(!err->code.empty());
    (void)codec::error_json(*err);
    return 0;
  }
  fuzz::check_round_trips(flow, n);
  return 0;
}
