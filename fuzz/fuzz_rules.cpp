// A clignotant rule file (router.rules_file), parsed and validated by
// relais::alerts::parse_rules; a ruleset that loads is evaluated against a valid notification of
// every flow, with a few covering quality codes and a territory.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "relais/alerts/rules.hpp"
#include "relais/codec/samples.hpp"

using namespace relais;

namespace {
std::vector<v1::Notification> samples() {
  std::vector<v1::Notification> out;
  for (auto flow : codec::kAllFlows)
    out.push_back(codec::sample_notification(flow, "6f1c1f8e-3b8a-4c5e-9d1e-2a7b9c0d4e5f",
                                             "68060105329", "2026-11-01"));
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto notifications = samples();
  auto parsed = alerts::parse_rules(fuzz::text(data, size), "fuzz.yaml");
  if (const auto* err = std::get_if<std::string>(&parsed)) {
    RELAIS_FUZZ_CHECK(!err->empty());
    return 0;
  }
  const auto& rules = std::get<alerts::Ruleset>(parsed);
  static const std::array<std::uint16_t, 3> qualities{2, 3, 5};
  static const std::array<std::string, 2> territory{"21004", "44021"};
  std::vector<const alerts::Rule*> fired;
  for (const auto& n : notifications) {
    alerts::Context ctx{n, qualities, territory};
    alerts::evaluate(rules, ctx, fired);
  }
  for (const auto* r : fired) {
    RELAIS_FUZZ_CHECK(!r->id.empty());
    // Two contents under one ticket never share an id (issue 21, finding 5).
    const auto& ticket = notifications.front().envelope().ticket();
    RELAIS_FUZZ_CHECK(alerts::alert_id(ticket, 1, "0212344876", r->id) !=
                      alerts::alert_id(ticket, 2, "0212344876", r->id));
  }
  return 0;
}
