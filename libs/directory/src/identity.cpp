#include "relais/directory/identity.hpp"

#include <algorithm>
#include <charconv>

#include "relais/refdata/refdata.hpp"
#include "relais/validation/ids.hpp"

namespace relais::directory {

CpasRef cpas_ref_kind(std::string_view s) {
  if (s.size() != 10 && s.size() != 5) return CpasRef::invalid;
  for (char c : s)
    if (c < '0' || c > '9') return CpasRef::invalid;
  return s.size() == 10 ? CpasRef::cbe : CpasRef::nis;
}

namespace {

std::uint32_t nis_number(std::string_view s) {
  std::uint32_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string nis_text(std::uint32_t n) {
  std::string s = std::to_string(n);
  return std::string(5 - std::min<std::size_t>(5, s.size()), '0') + s;
}

}  // namespace

std::optional<validation::Error> normalize_identity(const std::vector<std::string>& codes,
                                                    CpasIdentity& out) {
  using validation::Error;
  if (codes.size() > 50) return Error{"TOO_MANY_ITEMS", "at most 50 NIS codes", "nis_codes"};
  out.nis.clear();
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::string field = "nis_codes[" + std::to_string(i) + "]";
    if (!validation::is_valid_nis_code(codes[i]) || cpas_ref_kind(codes[i]) != CpasRef::nis)
      return Error{"INVALID_NIS_CODE", "expected a 5-digit NIS code", field};
    auto now = refdata::current_municipality(nis_number(codes[i]));
    if (!now)
      return Error{"UNKNOWN_NIS_CODE",
                   "not a municipality of the official list (data/refdata/municipalities.csv)",
                   field};
    if (std::find(out.nis.begin(), out.nis.end(), *now) == out.nis.end()) out.nis.push_back(*now);
  }
  std::sort(out.nis.begin(), out.nis.end());
  if (out.sector.has_value() != out.institution.has_value())
    return Error{"INCONSISTENT",
                 "sector and institution go together (BCSS OrganizationIdentification)",
                 out.sector ? "institution" : "sector"};
  if (out.sector && *out.sector > 999) return Error{"OUT_OF_RANGE", "0 to 999", "sector"};
  if (out.institution && *out.institution > 999)
    return Error{"OUT_OF_RANGE", "0 to 999", "institution"};
  return std::nullopt;
}

Serving serving_cpas(std::uint32_t nis, const std::vector<NisServed>& served) {
  Serving out;
  auto now = refdata::current_municipality(nis);
  if (!now) return out;
  out.municipality = *now;
  for (const auto& s : served) {
    if (refdata::current_municipality(s.nis) != now) continue;
    if (std::find(out.cbes.begin(), out.cbes.end(), s.cbe) == out.cbes.end())
      out.cbes.push_back(s.cbe);
  }
  std::sort(out.cbes.begin(), out.cbes.end());
  return out;
}

std::vector<NisServed> load_nis_served(pg::Connection& c) {
  auto r = c.exec("SELECT nis, cbe FROM cpas_nis ORDER BY nis");
  std::vector<NisServed> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back({nis_number(r.get(i, 0)), r.str(i, 1)});
  return out;
}

std::vector<CpasIdentity> load_identities(pg::Connection& c,
                                          const std::optional<std::string>& cbe) {
  auto r = c.exec(
      "SELECT i.cbe, coalesce((SELECT string_agg(n.nis, ',' ORDER BY n.nis) FROM cpas_nis n WHERE "
      "n.cbe = i.cbe), ''), "
      "i.bcss_sector, i.bcss_institution, i.reason, i.updated_by, "
      "to_char(i.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
      "FROM cpas_identity i WHERE $1::text IS NULL OR i.cbe = $1 ORDER BY i.cbe",
      {cbe ? pg::Param(*cbe) : pg::Param()});
  std::vector<CpasIdentity> out;
  for (int i = 0; i < r.rows(); ++i) {
    CpasIdentity id;
    id.cbe = r.str(i, 0);
    std::string_view list = r.get(i, 1);
    while (!list.empty()) {
      auto comma = list.find(',');
      id.nis.push_back(nis_number(list.substr(0, comma)));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
    if (!r.is_null(i, 2)) id.sector = static_cast<unsigned>(r.integer(i, 2));
    if (!r.is_null(i, 3)) id.institution = static_cast<unsigned>(r.integer(i, 3));
    id.reason = r.str(i, 4);
    id.updated_by = r.str(i, 5);
    id.updated_at = r.str(i, 6);
    out.push_back(std::move(id));
  }
  return out;
}

IdentityConflict write_identity(pg::Connection& c, const CpasIdentity& id, const std::string& actor,
                                const std::string& reason) {
  return pg::transaction(c, [&]() -> IdentityConflict {
    c.exec(
        "SELECT pg_advisory_xact_lock(7317001)");  // the directory's write lock (directory_stamp)
    if (c.exec("SELECT 1 FROM cpas WHERE cbe = $1", {id.cbe}).rows() != 1)
      return {IdentityConflict::no_cpas, 0, {}};
    for (auto n : id.nis) {
      auto s = serving_cpas(n, load_nis_served(c));
      for (const auto& other : s.cbes)
        if (other != id.cbe) return {IdentityConflict::nis_taken, n, other};
    }
    if (id.sector) {
      auto r = c.exec(
          "SELECT cbe FROM cpas_identity WHERE bcss_sector = $1 AND bcss_institution = $2 AND cbe "
          "<> $3",
          {std::to_string(*id.sector), std::to_string(*id.institution), id.cbe});
      if (r.rows() > 0) return {IdentityConflict::bcss_id_taken, 0, r.str(0, 0)};
    }
    std::string nis_array = "{";
    for (auto n : id.nis) nis_array += (nis_array.size() > 1 ? "," : "") + nis_text(n);
    nis_array += "}";
    const pg::Param sector = id.sector ? pg::Param(std::to_string(*id.sector)) : pg::Param();
    const pg::Param institution =
        id.institution ? pg::Param(std::to_string(*id.institution)) : pg::Param();
    c.exec(
        "INSERT INTO cpas_identity (cbe, bcss_sector, bcss_institution, reason, updated_by) "
        "VALUES ($1, $2::int, $3::int, $4, $5) ON CONFLICT (cbe) DO UPDATE SET bcss_sector = "
        "EXCLUDED.bcss_sector, "
        "bcss_institution = EXCLUDED.bcss_institution, reason = EXCLUDED.reason, updated_by = "
        "EXCLUDED.updated_by, "
        "updated_at = now()",
        {id.cbe, sector, institution, reason, actor});
    c.exec("DELETE FROM cpas_nis WHERE cbe = $1", {id.cbe});
    c.exec("INSERT INTO cpas_nis (nis, cbe) SELECT unnest($2::text[]), $1", {id.cbe, nis_array});
    c.exec(
        "INSERT INTO directory_journal (actor, action, cbe, detail) VALUES ($1, 'cpas-identity', "
        "$2, "
        "jsonb_build_object('nis_codes', to_jsonb($3::text[]), 'sector', $4::int, 'institution', "
        "$5::int, "
        "'reason', $6::text))",
        {actor, id.cbe, nis_array, sector, institution, reason});
    return {};
  });
}

}  // namespace relais::directory
