// One binary notification body, as POST /v1/notifications/{flow} (application/x-protobuf)
// receives it: the serialized flow message. Input: one selector byte (the flow), then the bytes.
// Decoded and validated by libs/codec and libs/validation as relais-ingest does; a notification
// that passes must come back identical through its JSON form. The same bytes are also read as a
// whole relais.v1.Notification and validated, as relais-router reads relais.inbound.v1 records.
#include "fuzz_util.hpp"
#include "relais/validation/notification.hpp"

using namespace relais;

RELAIS_FUZZ_QUIET_PROTOBUF()

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto flow = fuzz::flow_of(data[0]);
  auto bytes = fuzz::text(data + 1, size - 1);

  v1::Notification record;
  if (record.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    (void)validation::validate(record, validation::Limits{});

  v1::Notification n;
  if (auto err = codec::decode_and_validate_protobuf(flow, bytes, n)) {
    RELAIS_FUZZ_CHECK(!err->code.empty());
    return 0;
  }
  fuzz::check_round_trips(flow, n);
  return 0;
}
