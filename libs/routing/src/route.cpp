#include "relais/routing/route.hpp"

#include <algorithm>

namespace relais::routing {

std::string_view reason_name(DropReason r) {
  switch (r) {
    case DropReason::none: return "none";
    case DropReason::not_integrated: return "not_integrated";
    case DropReason::outside_period: return "outside_period";
  }
  return "unknown";
}

void decide(std::uint64_t ssin, std::optional<std::uint64_t> replaces_ssin, std::int32_t effective_day,
            const directory::Directory& dir, Decision& out) {
  out.clear();
  thread_local std::vector<std::uint64_t> numbers, more;
  dir.related(ssin, numbers);
  if (replaces_ssin && *replaces_ssin != ssin) {
    dir.related(*replaces_ssin, more);
    for (auto n : more)
      if (std::find(numbers.begin(), numbers.end(), n) == numbers.end()) numbers.push_back(n);
  }
  bool any = false;
  for (auto n : numbers) {
    dir.for_each(n, [&](const directory::Entry& e) {
      any = true;
      if (!e.covers(effective_day)) return;
      auto it = std::find_if(out.targets.begin(), out.targets.end(), [&](const Target& t) { return t.cpas == e.cpas; });
      if (it == out.targets.end()) {
        out.targets.push_back(Target{e.cpas, e, {e.quality}});
        return;
      }
      if (std::find(it->qualities.begin(), it->qualities.end(), e.quality) == it->qualities.end())
        it->qualities.push_back(e.quality);
      if (e.start > it->integration.start ||
          (e.start == it->integration.start && e.quality < it->integration.quality)) {
        it->integration = e;
      }
    });
  }
  if (out.targets.empty()) {
    out.drop = any ? DropReason::outside_period : DropReason::not_integrated;
    return;
  }
  std::sort(out.targets.begin(), out.targets.end(), [](const Target& a, const Target& b) { return a.cpas < b.cpas; });
}

}  // namespace relais::routing
