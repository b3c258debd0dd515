#include "relais/routing/route.hpp"

#include <algorithm>

namespace relais::routing {

std::string_view reason_name(DropReason r) {
  switch (r) {
    case DropReason::none:
      return "none";
    case DropReason::not_integrated:
      return "not_integrated";
    case DropReason::outside_period:
      return "outside_period";
    case DropReason::incomplete_date_not_covered:
      return "incomplete_date_not_covered";
  }
  return "unknown";
}

namespace {

void decide_days(std::uint64_t ssin, std::optional<std::uint64_t> replaces_ssin, Days days,
                 const directory::Directory& dir, Decision& out) {
  // The quality lists of the previous decision's targets are kept for reuse,
  // so that a hit does not allocate (one small list per target otherwise).
  thread_local std::vector<std::vector<std::uint16_t>> spare;
  for (auto& t : out.targets) {
    if (spare.size() >= 64 || t.qualities.capacity() == 0) break;
    t.qualities.clear();
    spare.push_back(std::move(t.qualities));
  }
  out.clear();
  bool any = false;
  bool meets = false;  // some integration meets part of the interval without covering all of it
  auto visit = [&](std::uint64_t n) {
    dir.for_each(n, [&](const directory::Entry& e) {
      any = true;
      if (!(e.start <= days.first && days.last <= e.end)) {
        if (e.start <= days.last && days.first <= e.end) meets = true;
        return;
      }
      auto it = std::find_if(out.targets.begin(), out.targets.end(),
                             [&](const Target& t) { return t.cpas == e.cpas; });
      if (it == out.targets.end()) {
        Target t{e.cpas, e, {}};
        if (!spare.empty()) {
          t.qualities = std::move(spare.back());
          spare.pop_back();
        }
        t.qualities.push_back(e.quality);
        out.targets.push_back(std::move(t));
        return;
      }
      if (std::find(it->qualities.begin(), it->qualities.end(), e.quality) == it->qualities.end())
        it->qualities.push_back(e.quality);
      if (e.start > it->integration.start ||
          (e.start == it->integration.start && e.quality < it->integration.quality)) {
        it->integration = e;
      }
    });
  };
  const bool other = replaces_ssin && *replaces_ssin != ssin;
  if (!other && !dir.may_have_replacement(ssin)) {
    // The common case: no replacement can involve the SSIN (a filter in the
    // directory, no map lookup), so the person is this one number.
    visit(ssin);
  } else {
    thread_local std::vector<std::uint64_t> numbers, more;
    dir.related(ssin, numbers);
    if (other) {
      dir.related(*replaces_ssin, more);
      for (auto n : more)
        if (std::find(numbers.begin(), numbers.end(), n) == numbers.end()) numbers.push_back(n);
    }
    for (auto n : numbers) visit(n);
  }
  if (out.targets.empty()) {
    out.drop = !any    ? DropReason::not_integrated
               : meets ? DropReason::incomplete_date_not_covered
                       : DropReason::outside_period;
    return;
  }
  std::sort(out.targets.begin(), out.targets.end(),
            [](const Target& a, const Target& b) { return a.cpas < b.cpas; });
}

}  // namespace

void decide(std::uint64_t ssin, std::optional<std::uint64_t> replaces_ssin,
            std::int32_t effective_day, const directory::Directory& dir, Decision& out) {
  decide_days(ssin, replaces_ssin, Days{effective_day, effective_day}, dir, out);
}

void decide(const Subject& s, std::int32_t effective_day, const directory::Directory& dir,
            Decision& out) {
  decide_days(s.ssin, s.announces_replacement ? s.replaces_ssin : std::nullopt,
              Days{effective_day, effective_day}, dir, out);
}

void decide(const Subject& s, Days days, const directory::Directory& dir, Decision& out) {
  decide_days(s.ssin, s.announces_replacement ? s.replaces_ssin : std::nullopt, days, dir, out);
}

}  // namespace relais::routing
