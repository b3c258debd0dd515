// Helpers shared by the libFuzzer targets (see docs/fuzzing.md).
#pragma once

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relais/codec/decode.hpp"
#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"

namespace relais::fuzz {

// The input as text.
inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The flow picked by a selector byte (the first byte of the flow-aware targets' inputs).
inline relais::v1::Flow flow_of(std::uint8_t selector) {
  return codec::kAllFlows[selector % codec::kAllFlows.size()];
}

// An invariant of the decoders that does not hold: a bug, reported as a crash.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "relais fuzz invariant violated: %s\n", what);
  std::abort();
}

// protobuf logs every string with invalid UTF-8 it is given: keep the fuzzer output readable.
// Defines the target's LLVMFuzzerInitialize.
#define RELAIS_FUZZ_QUIET_PROTOBUF()                   \
  extern "C" int LLVMFuzzerInitialize(int*, char***) { \
    google::protobuf::SetLogHandler(nullptr);          \
    return 0;                                          \
  }

#define RELAIS_FUZZ_CHECK(cond)               \
  do {                                        \
    if (!(cond)) ::relais::fuzz::fail(#cond); \
  } while (0)

// A notification of `flow` that passed decoding and validation must come back identical through
// its JSON form (to_json, as the APIs and tools print it) and its binary form (the flow message's
// protobuf bytes).
inline void check_round_trips(relais::v1::Flow flow, const relais::v1::Notification& n) {
  RELAIS_FUZZ_CHECK(n.flow() == flow && codec::body_flow(n) == flow);
  const auto* b = codec::body(n);
  RELAIS_FUZZ_CHECK(b != nullptr);
  const std::string expected = n.SerializeAsString();

  std::string json = codec::to_json(*b);
  RELAIS_FUZZ_CHECK(!json.empty());
  relais::v1::Notification from_json;
  auto err = codec::decode_and_validate_json(flow, json, from_json);
  if (err)
    std::fprintf(stderr, "JSON form %s: %s %s\n", json.c_str(), err->code.c_str(),
                 err->field.c_str());
  RELAIS_FUZZ_CHECK(!err);
  RELAIS_FUZZ_CHECK(from_json.SerializeAsString() == expected);

  relais::v1::Notification from_bytes;
  err = codec::decode_and_validate_protobuf(flow, b->SerializeAsString(), from_bytes);
  if (err) std::fprintf(stderr, "protobuf form: %s %s\n", err->code.c_str(), err->field.c_str());
  RELAIS_FUZZ_CHECK(!err);
  RELAIS_FUZZ_CHECK(from_bytes.SerializeAsString() == expected);
}

}  // namespace relais::fuzz
