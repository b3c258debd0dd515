#include "relais/ctl/reconcile.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "relais/http/client.hpp"

namespace relais::ctl {
namespace json = boost::json;
namespace ma = relais::manageaccess;
using boost::beast::http::verb;

ReconcileReport reconcile(const Settings& s, const ReconcileOptions& o) {
  ReconcileReport rep;
  auto url = parse_url(s.api_url);
  if (!url) throw std::invalid_argument("api.url: not an http://host:port URL: " + s.api_url);
  std::ifstream in(o.file, std::ios::binary);
  if (!in) throw std::invalid_argument(o.file + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  if (content.size() > (256u << 20)) throw std::invalid_argument(o.file + ": larger than 256 MiB");

  std::shared_ptr<const xml::Schema> schema;
  if (content.find_first_not_of(" \t\r\n\xEF\xBB\xBF") != std::string::npos &&
      content[content.find_first_not_of(" \t\r\n\xEF\xBB\xBF")] == '<') {
    auto sc = xml::Schema::load(ma::schema_files(o.xsd_dir), o.xsd_dir);
    if (!sc)
      throw std::invalid_argument("--xsd-dir " + o.xsd_dir +
                                  ": the ManageAccess XSDs do not load: " + sc.error().message);
    schema = *sc;
  }
  auto units = o.org_units;
  units.insert(o.cbe);
  auto exp = ma::read_export(content, units, schema.get());
  if (!exp)
    throw std::invalid_argument(o.file + ": " + std::string(ma::code_name(exp.error().code)) +
                                ": " + exp.error().message +
                                (exp.error().path.empty() ? "" : " (" + exp.error().path + ")"));
  rep.export_lines = exp->lines.size();

  // The mirror, page by page.
  http::Client client(url->host, url->port, std::chrono::milliseconds(s.timeout_ms));
  // Who acts is the token's credential (relais-api journals it), never a header.
  http::ClientHeaders headers;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, single-threaded command.
  if (const char* t = std::getenv("RELAIS_API_TOKEN"); t && *t)
    headers.emplace_back("Authorization", std::string("Bearer ") + t);
  std::vector<ma::Line> mirror;
  std::string after = "0";
  while (true) {
    auto r = client.request(
        verb::get, url->base_path + "/v1/cpas/" + o.cbe + "/integrations?limit=1000&after=" + after,
        {}, {}, headers);
    if (r.status != 200)
      throw std::runtime_error("relais-api GET integrations: HTTP " + std::to_string(r.status) +
                               " " + r.body);
    auto v = json::parse(r.body).as_object();
    for (const auto& x : v.at("integrations").as_array()) {
      const auto& l = x.as_object();
      mirror.push_back(ma::Line{
          std::string(l.at("ssin").as_string()), static_cast<int>(l.at("quality_code").as_int64()),
          std::string(l.at("start_date").as_string()),
          l.at("end_date").is_string() ? std::string(l.at("end_date").as_string())
                                       : std::string{}});
    }
    if (!v.contains("next_after")) break;
    after = std::to_string(v.at("next_after").as_int64());
  }
  rep.mirror_lines = mirror.size();
  rep.differences = ma::diff(mirror, *exp);
  if (!o.apply) return rep;
  for (const auto& d : rep.differences)
    for (const auto& l : d.repairs) {
      json::object body{{"ssin", l.ssin}, {"quality_code", l.quality}, {"start_date", l.start}};
      if (!l.end.empty()) body["end_date"] = l.end;
      auto r = client.request(verb::put, url->base_path + "/v1/cpas/" + o.cbe + "/integrations",
                              json::serialize(body), "application/json", headers);
      if (r.status != 200 && r.status != 201) {
        rep.error = "repair of " + l.ssin + " (quality " + std::to_string(l.quality) + ", " +
                    l.start + ") refused: HTTP " + std::to_string(r.status) + " " + r.body;
        return rep;
      }
      ++rep.repaired;
    }
  return rep;
}

}  // namespace relais::ctl
