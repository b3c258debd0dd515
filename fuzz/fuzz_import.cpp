// A directory bulk import body, as POST /v1/cpas/{cbe}/integrations:import receives it.
// Input: one selector byte (even: text/csv, odd: application/x-ndjson), then the body. Split
// into lines by libs/codec and checked by relais::api::check_import, the validation pass of the
// route; every valid line must become exactly one well-formed COPY row (no tab, newline or
// backslash smuggled in from the input).
#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "relais/api/service.hpp"
#include "relais/codec/ndjson.hpp"

using namespace relais;

namespace {
constexpr std::size_t kMaxLines = 2000;  // over 1000 errors is reachable, TOO_MANY_ITEMS too
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  bool csv = (data[0] & 1) == 0;
  auto body = fuzz::text(data + 1, size - 1);
  std::vector<codec::Line> lines;
  if (codec::split_lines(body, kMaxLines, lines)) return 0;
  auto checked = api::check_import(csv, lines);
  RELAIS_FUZZ_CHECK(checked.valid + checked.errors.size() <= lines.size());
  RELAIS_FUZZ_CHECK(checked.errors.size() <= 1001);
  std::vector<std::string_view> rows;
  std::string_view copy = checked.copy;
  while (!copy.empty()) {
    auto nl = copy.find('\n');
    RELAIS_FUZZ_CHECK(nl != std::string_view::npos);
    std::string_view row = copy.substr(0, nl);
    copy.remove_prefix(nl + 1);
    std::size_t tabs = 0;
    for (char c : row) {
      if (c == '\t') ++tabs;
      RELAIS_FUZZ_CHECK(c != '\r' && c != '\0');
    }
    RELAIS_FUZZ_CHECK(tabs == 3);
    auto last = row.substr(row.rfind('\t') + 1);
    RELAIS_FUZZ_CHECK(row.find('\\') == std::string_view::npos ||
                      (last == "\\N" && row.find('\\') == row.size() - 2));
    rows.push_back(row);
  }
  RELAIS_FUZZ_CHECK(rows.size() == checked.valid);

  // NDJSON: each accepted line's row holds what the line said (no value read as another).
  if (csv || checked.errors.size() > 1000) return 0;
  std::set<std::uint64_t> refused;
  for (const auto& e : checked.errors)
    refused.insert(e.as_object().at("line").to_number<std::uint64_t>());
  std::size_t next = 0;
  for (const auto& line : lines) {
    if (refused.contains(line.number)) continue;
    RELAIS_FUZZ_CHECK(next < rows.size());
    std::string_view row = rows[next++];
    auto v = boost::json::parse(line.text);
    const auto& o = v.as_object();
    std::string expected = std::string(o.at("ssin").as_string()) + "\t";
    const auto& q = o.at("quality_code");
    expected += q.is_int64() ? std::to_string(q.as_int64()) : std::to_string(q.as_uint64());
    expected += "\t" + std::string(o.at("start_date").as_string()) + "\t";
    RELAIS_FUZZ_CHECK(row.starts_with(expected));
  }
  RELAIS_FUZZ_CHECK(next == rows.size());
  return 0;
}
