// The rows of the backlog report (alerts::backlog): one CPAS's SPP IS clignotants issued on or
// before a day, with the day of their first reaction. Shared by relais-api's
// GET /v1/cpas/{cbe}/clignotants/backlog and `relaisctl alerts backlog`.
#pragma once

#include <string>
#include <vector>

#include "relais/alerts/backlog.hpp"
#include "relais/pg/pg.hpp"

namespace relais::api {

std::vector<alerts::BacklogRow> load_backlog_rows(pg::Connection& c, const std::string& cbe,
                                                  validation::Date as_of);

}  // namespace relais::api
