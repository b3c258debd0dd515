#include "relais/api/backlog.hpp"

namespace relais::api {

std::vector<alerts::BacklogRow> load_backlog_rows(pg::Connection& c, const std::string& cbe,
                                                  validation::Date as_of) {
  // Days since 1970-01-01 (validation::Date), computed by PostgreSQL: no date parsing here. The
  // reaction day is the first reaction's, in UTC.
  auto r = c.exec(
      "SELECT a.alert_id::text, a.sppis_id, a.type, a.ssin, "
      "coalesce(a.issued_date, (a.raised_at AT TIME ZONE 'UTC')::date) - DATE '1970-01-01', "
      "a.due_date - DATE '1970-01-01', "
      "(SELECT min(r.created_at AT TIME ZONE 'UTC')::date FROM reactions r "
      " WHERE r.alert_id = a.alert_id) - DATE '1970-01-01' "
      "FROM alerts a WHERE a.kind = 'SPPIS_CLIGNOTANT' AND a.cpas_cbe = $1 "
      "AND coalesce(a.issued_date, (a.raised_at AT TIME ZONE 'UTC')::date) <= $2::date",
      {cbe, validation::to_string(as_of)});
  std::vector<alerts::BacklogRow> rows;
  rows.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    alerts::BacklogRow row;
    row.alert_id = r.str(i, 0);
    row.sppis_id = r.str(i, 1);
    row.type = r.str(i, 2);
    row.ssin = r.str(i, 3);
    row.issued = validation::Date{static_cast<std::int32_t>(r.integer(i, 4))};
    if (!r.is_null(i, 5)) row.due = validation::Date{static_cast<std::int32_t>(r.integer(i, 5))};
    if (!r.is_null(i, 6))
      row.first_reaction = validation::Date{static_cast<std::int32_t>(r.integer(i, 6))};
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace relais::api
