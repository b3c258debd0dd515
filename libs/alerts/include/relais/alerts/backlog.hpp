// The backlog of one CPAS's SPP IS clignotants, as a pure function of its clignotants and a
// date (docs/clignotants.md, "Backlog and reminder list"): those without a reaction on that day,
// by age bucket and type, and the list SPP IS sends twice a year (March and October) of those
// still without a reaction six months after they were issued. relais-api
// (GET /v1/cpas/{cbe}/clignotants/backlog) and relaisctl (alerts backlog) load the rows and
// render the same report.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "relais/validation/date.hpp"

namespace relais::alerts {

// One SPP IS clignotant of the CPAS.
struct BacklogRow {
  std::string alert_id;
  std::string sppis_id;
  std::string type;
  std::string ssin;
  validation::Date issued;
  std::optional<validation::Date> due;             // SPP IS's deadline
  std::optional<validation::Date> first_reaction;  // the day of its first reaction (UTC), if any
};

// Age buckets in days since issue: [0, 30), [30, 90), [90, 180), [180, 365), [365, ...).
struct AgeBucket {
  const char* label;
  std::int32_t min_days;
  std::int32_t max_days;  // inclusive; -1 = no upper bound
};
inline constexpr std::array<AgeBucket, 5> kAgeBuckets{{{"0-29", 0, 29},
                                                       {"30-89", 30, 89},
                                                       {"90-179", 90, 179},
                                                       {"180-364", 180, 364},
                                                       {"365+", 365, -1}}};
// The bucket index of an age in days (>= 0).
std::size_t age_bucket(std::int32_t age_days);

// The reminder list's cutoff: `as_of` six calendar months earlier (the same day of the month, or
// the month's last day when it has no such day: 2026-08-31 -> 2026-02-28).
validation::Date six_months_before(validation::Date as_of);

struct OpenClignotant {
  const BacklogRow* row;
  std::int32_t age_days;
  std::size_t bucket;
  bool reminder;  // issued on or before the cutoff: on SPP IS's six-month list
};

struct Backlog {
  std::string cpas_cbe;
  validation::Date as_of;
  validation::Date cutoff;           // six_months_before(as_of)
  std::vector<OpenClignotant> open;  // issued on or before as_of, no reaction by as_of
  std::array<std::map<std::string, std::int64_t>, kAgeBuckets.size()> by_bucket_type;
  std::map<std::string, std::int64_t> by_type;
  std::int64_t reminder_count = 0;
};

// Open on `as_of`: issued on or before it, and no reaction on or before it. Ordered by issue day,
// then SPP IS identifier. `rows` must outlive the result.
Backlog backlog(std::string cpas_cbe, validation::Date as_of, const std::vector<BacklogRow>& rows);

// JSON: {"cpas_cbe", "as_of", "open", "by_age": [{"bucket", "min_days", "max_days", "open",
// "by_type": {...}}], "by_type": {...}, "reminder": {"cutoff", "count", "clignotants": [...]}}.
std::string backlog_json(const Backlog& b);
// CSV (RFC 4180, header line): one line per open clignotant, oldest first: sppis_id, alert_id,
// type, ssin, issued_date, due_date, age_days, age_bucket, six_month_list.
std::string backlog_csv(const Backlog& b);

}  // namespace relais::alerts
