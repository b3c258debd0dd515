// The routing decision, as a pure function of a notification's identity
// (SSIN, replaced SSIN, effective date) and a directory snapshot: which CPAS
// receive it and through which integration, or why nobody does.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "relais/directory/directory.hpp"

namespace relais::routing {

enum class DropReason {
  none,
  not_integrated,  // no CPAS has ever integrated this person (under any related SSIN)
  outside_period,  // integrations exist, none covers the effective date (none meets its interval)
  // The effective date is incomplete (year, or year and month, only): an integration meets the
  // interval of days it may designate, but none covers the whole interval, so Relais cannot
  // tell whether the event falls within a CPAS's period (see Days).
  incomplete_date_not_covered,
};

std::string_view reason_name(DropReason r);

struct Target {
  std::uint16_t cpas;
  directory::Entry integration;  // the line that allowed it
  std::vector<std::uint16_t>
      qualities;  // quality codes of every line of this CPAS covering the date
};

struct Decision {
  std::vector<Target> targets;  // one per CPAS, ordered by CPAS index
  DropReason drop = DropReason::none;
  void clear() {
    targets.clear();
    drop = DropReason::none;
  }
};

// Every CPAS with an integration of the person (the SSIN, `replaces_ssin` when
// given, and any number linked to them by a recorded replacement) whose period
// contains `effective_day` (start and end inclusive, open end = active).
// When a CPAS holds several covering lines, the one that started last wins,
// then the lowest quality code. `replaces_ssin` is trusted as given: callers
// pass it only for a replacement announced by the authentic source (Subject).
void decide(std::uint64_t ssin, std::optional<std::uint64_t> replaces_ssin,
            std::int32_t effective_day, const directory::Directory& dir, Decision& out);

// Who a notification is about, as the router reads it.
struct Subject {
  std::uint64_t ssin = 0;
  std::optional<std::uint64_t> replaces_ssin;  // the envelope's replaces_ssin, if any
  // The notification announces the replacement: a notify-person SSIN_REPLACED from the
  // National Register. Only then is replaces_ssin followed; on every other event it is the
  // sender's claim, and the person's numbers are the recorded replacements only (a claim
  // would otherwise reach the CPAS of any number named in it).
  bool announces_replacement = false;
};

void decide(const Subject& s, std::int32_t effective_day, const directory::Directory& dir,
            Decision& out);

// The days an effective date may designate, first and last inclusive: one day for a complete
// date, the month or the year for an incomplete one ("2024-05-00", "2024-00-00").
struct Days {
  std::int32_t first = 0;
  std::int32_t last = 0;
};

// The rule for an incomplete effective date, for finality: a CPAS receives the notification only
// when one of its integrations covers the WHOLE interval (start <= first, last <= end), because
// only then is the event within its period whatever the unknown day is. Otherwise it is dropped:
// `incomplete_date_not_covered` when some integration meets part of the interval,
// `outside_period` when none meets it, `not_integrated` when there is no integration at all.
// With first == last this is exactly the single-day decide.
void decide(const Subject& s, Days days, const directory::Directory& dir, Decision& out);

}  // namespace relais::routing
