// An NDJSON batch body, as POST /v1/notifications/{flow}:batch receives it. Input: one selector
// byte (the flow), then the body. Split into lines by libs/codec (split_lines, and LineSplitter
// which must agree with it), then each line decoded and validated as relais-ingest's batch
// handler does: a refused line has its ticket read on its own (ingest::ticket_of_line), an
// accepted one becomes the inbound record (ingest::make_record).
// (A line keeps a '\r' before its "\r\n": only one is stripped, and JSON takes it as space.)
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "relais/codec/decode.hpp"
#include "relais/codec/ndjson.hpp"
#include "relais/ingest/service.hpp"
#include "relais/validation/ids.hpp"

using namespace relais;

namespace {
constexpr std::size_t kMaxLines = 256;  // small, so that the limit is reached too
}

RELAIS_FUZZ_QUIET_PROTOBUF()

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto flow = fuzz::flow_of(data[0]);
  auto body = fuzz::text(data + 1, size - 1);

  std::vector<codec::Line> lines;
  auto split_error = codec::split_lines(body, kMaxLines, lines);
  codec::LineSplitter splitter(body, kMaxLines);
  std::vector<codec::Line> one_by_one;
  std::size_t last = 0;
  while (auto l = splitter.next()) {
    RELAIS_FUZZ_CHECK(l->number > last);
    last = l->number;
    RELAIS_FUZZ_CHECK(l->text.find('\n') == std::string_view::npos);
    RELAIS_FUZZ_CHECK(l->text.data() >= body.data() &&
                      l->text.data() + l->text.size() <= body.data() + body.size());
    one_by_one.push_back(*l);
  }
  RELAIS_FUZZ_CHECK(split_error.has_value() == splitter.error().has_value());
  if (split_error) {
    RELAIS_FUZZ_CHECK(lines.empty() && one_by_one.size() == kMaxLines);
    return 0;
  }
  RELAIS_FUZZ_CHECK(lines == one_by_one);

  codec::Limits limits;
  std::string_view fid = codec::flow_id(flow);
  for (const auto& line : lines) {
    v1::Notification n;
    if (auto err = codec::decode_and_validate_json(flow, line.text, n, limits)) {
      std::string ticket = n.envelope().ticket();
      if (ticket.empty()) {
        ticket = ingest::ticket_of_line(line.text, limits.max_body);
        RELAIS_FUZZ_CHECK(ticket.empty() || validation::is_valid_ticket(ticket));
      }
      continue;
    }
    auto record = ingest::make_record(n, fid, "application/x-ndjson");
    RELAIS_FUZZ_CHECK(record.key == n.envelope().ssin() && !record.value.empty());
    v1::Notification back;
    RELAIS_FUZZ_CHECK(back.ParseFromString(record.value));
    RELAIS_FUZZ_CHECK(!validation::validate(back, limits.validation));
  }
  return 0;
}
