#include "relais/alerts/backlog.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>

namespace relais::alerts {
namespace {

namespace json = boost::json;
using validation::Date;

std::chrono::year_month_day ymd(Date d) {
  return std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{d.days}}};
}

}  // namespace

std::size_t age_bucket(std::int32_t age_days) {
  for (std::size_t i = 0; i < kAgeBuckets.size(); ++i)
    if (kAgeBuckets[i].max_days < 0 || age_days <= kAgeBuckets[i].max_days) return i;
  return kAgeBuckets.size() - 1;
}

Date six_months_before(Date as_of) {
  using namespace std::chrono;
  const auto d = ymd(as_of);
  year_month ym = year_month{d.year(), d.month()} - months{6};
  const auto last = year_month_day_last{ym.year(), month_day_last{ym.month()}}.day();
  const day dd = d.day() > last ? last : d.day();
  return Date{static_cast<std::int32_t>(sys_days{ym / dd}.time_since_epoch().count())};
}

Backlog backlog(std::string cpas_cbe, Date as_of, const std::vector<BacklogRow>& rows) {
  Backlog b;
  b.cpas_cbe = std::move(cpas_cbe);
  b.as_of = as_of;
  b.cutoff = six_months_before(as_of);
  for (const auto& r : rows) {
    if (r.issued > as_of) continue;
    if (r.first_reaction && *r.first_reaction <= as_of) continue;
    const std::int32_t age = as_of.days - r.issued.days;
    const std::size_t bucket = age_bucket(age);
    const bool reminder = r.issued <= b.cutoff;
    b.open.push_back({&r, age, bucket, reminder});
    ++b.by_bucket_type[bucket][r.type];
    ++b.by_type[r.type];
    if (reminder) ++b.reminder_count;
  }
  std::sort(b.open.begin(), b.open.end(), [](const OpenClignotant& x, const OpenClignotant& y) {
    if (x.row->issued != y.row->issued) return x.row->issued < y.row->issued;
    return x.row->sppis_id < y.row->sppis_id;
  });
  return b;
}

namespace {
json::object counts(const std::map<std::string, std::int64_t>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[k] = v;
  return o;
}

json::object clignotant_json(const OpenClignotant& c) {
  const auto& r = *c.row;
  return json::object{
      {"sppis_id", r.sppis_id},
      {"alert_id", r.alert_id},
      {"type", r.type},
      {"ssin", r.ssin},
      {"issued_date", validation::to_string(r.issued)},
      {"due_date", r.due ? json::value(validation::to_string(*r.due)) : json::value(nullptr)},
      {"age_days", c.age_days},
      {"age_bucket", kAgeBuckets[c.bucket].label}};
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
void csv_field(std::string& out, std::string_view v, bool last = false) {
  if (v.find_first_of(",\"\r\n") != std::string_view::npos) {
    out.push_back('"');
    for (char ch : v) {
      if (ch == '"') out.push_back('"');
      out.push_back(ch);
    }
    out.push_back('"');
  } else {
    out.append(v);
  }
  out.append(last ? "\r\n" : ",");
}
}  // namespace

std::string backlog_json(const Backlog& b) {
  json::array by_age;
  for (std::size_t i = 0; i < kAgeBuckets.size(); ++i) {
    std::int64_t n = 0;
    for (const auto& [k, v] : b.by_bucket_type[i]) n += v;
    by_age.push_back(json::object{
        {"bucket", kAgeBuckets[i].label},
        {"min_days", kAgeBuckets[i].min_days},
        {"max_days",
         kAgeBuckets[i].max_days < 0 ? json::value(nullptr) : json::value(kAgeBuckets[i].max_days)},
        {"open", n},
        {"by_type", counts(b.by_bucket_type[i])}});
  }
  json::array reminder;
  for (const auto& c : b.open)
    if (c.reminder) reminder.push_back(clignotant_json(c));
  json::object o{{"cpas_cbe", b.cpas_cbe},
                 {"as_of", validation::to_string(b.as_of)},
                 {"open", static_cast<std::int64_t>(b.open.size())},
                 {"by_age", std::move(by_age)},
                 {"by_type", counts(b.by_type)},
                 {"reminder", json::object{{"cutoff", validation::to_string(b.cutoff)},
                                           {"count", b.reminder_count},
                                           {"clignotants", std::move(reminder)}}}};
  return json::serialize(o);
}

std::string backlog_csv(const Backlog& b) {
  std::string out =
      "sppis_id,alert_id,type,ssin,issued_date,due_date,age_days,age_bucket,six_month_list\r\n";
  for (const auto& c : b.open) {
    const auto& r = *c.row;
    csv_field(out, r.sppis_id);
    csv_field(out, r.alert_id);
    csv_field(out, r.type);
    csv_field(out, r.ssin);
    csv_field(out, validation::to_string(r.issued));
    csv_field(out, r.due ? validation::to_string(*r.due) : std::string{});
    csv_field(out, std::to_string(c.age_days));
    csv_field(out, kAgeBuckets[c.bucket].label);
    csv_field(out, c.reminder ? "true" : "false", true);
  }
  return out;
}

}  // namespace relais::alerts
