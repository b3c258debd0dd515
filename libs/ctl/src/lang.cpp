#include "relais/ctl/lang.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <set>

namespace relais::ctl {

std::optional<labels::Lang> choose_lang(const std::optional<std::string>& flag,
                                        const std::string& setting) {
  return labels::parse_lang(flag ? *flag : setting);
}

std::string alert_type_label(std::string_view type, labels::Lang lang) {
  return labels::builtin().get("alert_types", type, lang, type);
}

std::string error_text(std::string_view code, std::string_view english, labels::Lang lang) {
  if (lang == labels::Lang::en) return std::string(english);
  return labels::builtin().get("errors", code, lang, english);
}

void add_label_column(Rows& rows, std::string_view code_column, const std::string& label_column,
                      const std::function<std::string(const std::string&)>& label_of) {
  const auto it = std::find(rows.columns.begin(), rows.columns.end(), code_column);
  if (it == rows.columns.end()) return;
  const auto at = static_cast<std::size_t>(it - rows.columns.begin());
  rows.columns.insert(rows.columns.begin() + static_cast<std::ptrdiff_t>(at) + 1, label_column);
  for (auto& row : rows.rows) {
    std::optional<std::string> label;
    if (at < row.size() && row[at]) label = label_of(*row[at]);
    row.insert(row.begin() + static_cast<std::ptrdiff_t>(std::min(at + 1, row.size())), label);
  }
}

std::string backlog_json_for_people(const alerts::Backlog& b, labels::Lang lang) {
  auto doc = boost::json::parse(alerts::backlog_json(b)).as_object();
  std::set<std::string> types;
  for (const auto& c : b.open) types.insert(c.row->type);
  boost::json::object type_labels;
  for (const auto& t : types) type_labels[t] = alert_type_label(t, lang);
  doc["lang"] = labels::name(lang);
  doc["type_labels"] = std::move(type_labels);
  if (auto* reminder = doc.if_contains("reminder"); reminder && reminder->is_object()) {
    if (auto* list = reminder->as_object().if_contains("clignotants"); list && list->is_array()) {
      for (auto& c : list->as_array()) {
        auto& o = c.as_object();
        if (const auto* t = o.if_contains("type"); t && t->is_string())
          o["type_label"] = alert_type_label(t->as_string(), lang);
      }
    }
  }
  return boost::json::serialize(doc);
}

namespace {
std::string csv_quoted(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}
}  // namespace

std::string backlog_csv_for_people(const alerts::Backlog& b, labels::Lang lang) {
  const std::string csv = alerts::backlog_csv(b);
  std::string out;
  std::size_t start = 0, line = 0;
  while (start < csv.size()) {
    auto end = csv.find("\r\n", start);
    if (end == std::string::npos) end = csv.size();
    out.append(csv, start, end - start);
    out += ',';
    // Line 0 is the header; line i is b.open[i - 1] (alerts::backlog_csv writes them in order).
    out += line == 0 ? std::string("type_label")
                     : (line - 1 < b.open.size()
                            ? csv_quoted(alert_type_label(b.open[line - 1].row->type, lang))
                            : std::string{});
    out += "\r\n";
    start = end + 2;
    ++line;
  }
  return out;
}

}  // namespace relais::ctl
