#include "relais/directory/pg_source.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace relais::directory {
namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    auto t = line.find('\t', pos);
    out.push_back(line.substr(pos, t == std::string_view::npos ? std::string_view::npos : t - pos));
    if (t == std::string_view::npos) break;
    pos = t + 1;
  }
  return out;
}

template <typename T>
T num(std::string_view s) {
  T v{};
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

Change integration_from(std::string_view id, std::string_view ssin, std::string_view cbe,
                        std::string_view q, std::string_view start, std::string_view end,
                        std::string_view seq) {
  Change c{Change::Kind::integration};
  c.id = num<std::uint32_t>(id);
  c.ssin = ssin_key(ssin).value_or(0);
  c.cbe = std::string(cbe);
  c.quality = num<std::uint16_t>(q);
  c.start = num<std::int32_t>(start);
  c.end = num<std::int32_t>(end);
  c.seq = num<std::int64_t>(seq);
  return c;
}

const char* kIntegrationCols =
    "id, ssin, cbe, quality_code, (start_date - DATE '1970-01-01'), "
    "COALESCE(end_date - DATE '1970-01-01', 2147483647), change_seq";
}  // namespace

std::vector<std::string> parse_text_array(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return out;
  s = s.substr(1, s.size() - 2);
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto c = s.find(',', pos);
    std::string_view item =
        s.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos);
    if (!item.empty() && item.front() == '"' && item.back() == '"' && item.size() >= 2)
      item = item.substr(1, item.size() - 2);
    out.emplace_back(item);
    if (c == std::string_view::npos) break;
    pos = c + 1;
  }
  return out;
}

void apply(Directory& d, const Change& c) {
  switch (c.kind) {
    case Change::Kind::cpas:
      d.upsert_cpas(c.cbe, c.name, c.municipalities);
      break;
    case Change::Kind::integration:
      d.upsert(Entry{c.ssin, c.id, d.cpas_index(c.cbe), c.quality, c.start, c.end});
      break;
    case Change::Kind::replacement:
      if (c.active)
        d.add_replacement(c.ssin, c.new_ssin);
      else
        d.remove_replacement(c.ssin);
      break;
  }
}

std::int64_t load_all(pg::Connection& conn, Directory& d) {
  conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  try {
    auto m = conn.exec(
        "SELECT GREATEST((SELECT COALESCE(max(change_seq),0) FROM cpas),"
        " (SELECT COALESCE(max(change_seq),0) FROM integrations),"
        " (SELECT COALESCE(max(change_seq),0) FROM ssin_replacements))");
    std::int64_t max_seq = m.integer(0, 0);
    auto cp = conn.exec("SELECT cbe, name, municipalities::text FROM cpas ORDER BY cbe");
    for (int i = 0; i < cp.rows(); ++i)
      d.upsert_cpas(cp.get(i, 0), cp.str(i, 1), parse_text_array(cp.get(i, 2)));
    // The exact count in this snapshot: the base array is made once at its final size.
    auto n = conn.exec("SELECT count(*) FROM integrations");
    d.reserve_bulk(static_cast<std::size_t>(n.integer(0, 0)));
    conn.copy_out(std::string("COPY (SELECT ") + kIntegrationCols + " FROM integrations) TO STDOUT",
                  [&](std::string_view line) {
                    auto f = split_tabs(line);
                    if (f.size() < 7) return;
                    auto c = integration_from(f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
                    d.bulk_add(Entry{c.ssin, c.id, d.cpas_index(c.cbe), c.quality, c.start, c.end});
                  });
    d.finish_bulk();
    auto rep = conn.exec("SELECT old_ssin, new_ssin FROM ssin_replacements WHERE active");
    for (int i = 0; i < rep.rows(); ++i)
      d.add_replacement(ssin_key(rep.get(i, 0)).value_or(0), ssin_key(rep.get(i, 1)).value_or(0));
    conn.exec("COMMIT");
    return max_seq;
  } catch (...) {
    if (conn.ok()) conn.exec("ROLLBACK");
    throw;
  }
}

std::vector<Change> changes_since(pg::Connection& conn, std::int64_t after, int limit) {
  std::vector<Change> out;
  std::string a = std::to_string(after), l = std::to_string(limit);
  // One snapshot for the three tables, so that no change between them is skipped.
  conn.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  struct Guard {
    pg::Connection& c;
    ~Guard() {
      try {
        if (c.ok()) c.exec("COMMIT");
      } catch (...) {
      }
    }
  } guard{conn};
  auto cp = conn.exec(
      "SELECT cbe, name, municipalities::text, change_seq FROM cpas WHERE change_seq > $1 "
      "ORDER BY change_seq LIMIT $2",
      {a, l});
  for (int i = 0; i < cp.rows(); ++i) {
    Change c{Change::Kind::cpas};
    c.cbe = cp.str(i, 0);
    c.name = cp.str(i, 1);
    c.municipalities = parse_text_array(cp.get(i, 2));
    c.seq = cp.integer(i, 3);
    out.push_back(std::move(c));
  }
  auto in = conn.exec(std::string("SELECT ") + kIntegrationCols +
                          " FROM integrations WHERE change_seq > $1 ORDER BY change_seq LIMIT $2",
                      {a, l});
  for (int i = 0; i < in.rows(); ++i)
    out.push_back(integration_from(in.get(i, 0), in.get(i, 1), in.get(i, 2), in.get(i, 3),
                                   in.get(i, 4), in.get(i, 5), in.get(i, 6)));
  auto rp = conn.exec(
      "SELECT old_ssin, new_ssin, change_seq, active FROM ssin_replacements WHERE change_seq > $1 "
      "ORDER BY change_seq LIMIT $2",
      {a, l});
  for (int i = 0; i < rp.rows(); ++i) {
    Change c{Change::Kind::replacement};
    c.ssin = ssin_key(rp.get(i, 0)).value_or(0);
    c.new_ssin = ssin_key(rp.get(i, 1)).value_or(0);
    c.seq = rp.integer(i, 2);
    c.active = rp.get(i, 3) == std::string_view("t");
    out.push_back(std::move(c));
  }
  // One ordered stream; when a kind hit the limit, stop before its last seq so nothing is skipped.
  std::sort(out.begin(), out.end(), [](const Change& x, const Change& y) { return x.seq < y.seq; });
  std::int64_t cut = std::numeric_limits<std::int64_t>::max();
  if (cp.rows() == limit) cut = std::min<std::int64_t>(cut, cp.integer(limit - 1, 3));
  if (in.rows() == limit) cut = std::min<std::int64_t>(cut, in.integer(limit - 1, 6));
  if (rp.rows() == limit) cut = std::min<std::int64_t>(cut, rp.integer(limit - 1, 2));
  out.erase(std::remove_if(out.begin(), out.end(), [&](const Change& c) { return c.seq > cut; }),
            out.end());
  return out;
}

}  // namespace relais::directory
