#include "relais/pg/pg.hpp"

#include <cstdlib>

#include "relais/common/log.hpp"

namespace relais::pg {
namespace {
bool retryable_state(const std::string& s) {
  // 08: connection exceptions; 40001 serialization; 40P01 deadlock; 57P01 admin shutdown.
  return s.rfind("08", 0) == 0 || s == "40001" || s == "40P01" || s == "57P01" || s == "57P02" ||
         s == "57P03";
}
}  // namespace

std::string redacted_message(std::string_view primary, std::string_view table,
                             std::string_view column, std::string_view constraint,
                             std::string_view sqlstate) {
  std::string out;
  out.reserve(primary.size() + 64);
  bool quoted = false;
  for (char c : primary) {
    if (c == '"') {
      out += quoted ? "\"" : "\"\xE2\x80\xA6";  // the quoted value becomes an ellipsis (U+2026)
      quoted = !quoted;
      continue;
    }
    if (!quoted) out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  }
  if (quoted) out.push_back('"');
  if (!table.empty()) out.append(" [table ").append(table).append("]");
  if (!column.empty()) out.append(" [column ").append(column).append("]");
  if (!constraint.empty()) out.append(" [constraint ").append(constraint).append("]");
  out.append(" (SQLSTATE ").append(sqlstate).append(")");
  return out;
}

namespace {
// The error of a failed result, without any value of the statement's data (module comment of
// pg.hpp): the primary message with quoted values elided, and the table, column and constraint.
Error result_error(const PGresult* r, PGconn* conn, const std::string& fallback_state) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : fallback_state;
  const char* primary = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (!primary) {
    std::string msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Error(redacted_message(msg, {}, {}, {}, sqlstate), sqlstate, retryable_state(sqlstate));
  }
  auto field = [&](int code) -> std::string_view {
    const char* v = PQresultErrorField(r, code);
    return v ? std::string_view(v) : std::string_view{};
  };
  return Error(redacted_message(primary, field(PG_DIAG_TABLE_NAME), field(PG_DIAG_COLUMN_NAME),
                                field(PG_DIAG_CONSTRAINT_NAME), sqlstate),
               sqlstate, retryable_state(sqlstate));
}
}  // namespace

long long Result::integer(int row, int col) const {
  return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
}

long long Result::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}

namespace {
// Server notices ("relation already exists, skipping"...) go to our log, not raw stderr.
void on_notice(void*, const char* message) {
  static const log::Logger logger{"pg"};
  std::string m = message ? message : "";
  while (!m.empty() && m.back() == '\n') m.pop_back();
  logger.debug("server notice", {{"notice", m}});
}
}  // namespace

Connection::Connection(const std::string& dsn) : dsn_(dsn) {
  conn_ = PQconnectdb(dsn.c_str());
  if (PQstatus(conn_) == CONNECTION_OK) PQsetNoticeProcessor(conn_, on_notice, nullptr);
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw Error("cannot connect to PostgreSQL: " + msg, "08001", true);
  }
}

Connection::~Connection() {
  if (conn_) PQfinish(conn_);
}

bool Connection::ok() const {
  return conn_ && PQstatus(conn_) == CONNECTION_OK;
}

bool Connection::reset() {
  if (!conn_) {
    conn_ = PQconnectdb(dsn_.c_str());
  } else {
    PQreset(conn_);
  }
  return ok();
}

void Connection::check(PGresult* r, const std::string& sql) {
  auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN ||
      st == PGRES_COPY_OUT)
    return;
  auto e = result_error(r, conn_, ok() ? "XX000" : "08006");
  PQclear(r);
  (void)sql;
  throw e;
}

Result Connection::exec(const std::string& sql) {
  if (!conn_) throw Error("not connected", "08003", true);
  PGresult* r = PQexec(conn_, sql.c_str());
  check(r, sql);
  return Result(r);
}

Result Connection::exec(const std::string& sql, const std::vector<Param>& params) {
  if (!conn_) throw Error("not connected", "08003", true);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  check(r, sql);
  return Result(r);
}

long long Connection::copy_in(const std::string& copy_sql,
                              const std::function<bool(std::string&)>& produce) {
  PGresult* r = PQexec(conn_, copy_sql.c_str());
  check(r, copy_sql);
  PQclear(r);
  std::string buf;
  bool more = true;
  while (more) {
    buf.clear();
    more = produce(buf);
    if (!buf.empty() && PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) {
      throw Error(std::string("COPY failed: ") + PQerrorMessage(conn_), "08006", true);
    }
  }
  if (PQputCopyEnd(conn_, nullptr) != 1)
    throw Error(std::string("COPY end failed: ") + PQerrorMessage(conn_), "08006", true);
  long long n = 0;
  while (PGresult* res = PQgetResult(conn_)) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      // drain the remaining results before throwing
      auto e = result_error(res, conn_, "XX000");
      PQclear(res);
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
      throw e;
    }
    const char* t = PQcmdTuples(res);
    if (t && *t) n = std::strtoll(t, nullptr, 10);
    PQclear(res);
  }
  return n;
}

void Connection::copy_out(const std::string& copy_sql,
                          const std::function<void(std::string_view)>& consume) {
  PGresult* r = PQexec(conn_, copy_sql.c_str());
  check(r, copy_sql);
  PQclear(r);
  char* buf = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(conn_, &buf, 0)) > 0) {
    std::string_view line(buf, static_cast<std::size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    consume(line);
    PQfreemem(buf);
  }
  if (n == -2) throw Error(std::string("COPY OUT failed: ") + PQerrorMessage(conn_), "08006", true);
  while (PGresult* res = PQgetResult(conn_)) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      auto e = result_error(res, conn_, "XX000");
      PQclear(res);
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
      throw e;
    }
    PQclear(res);
  }
}

long long Connection::copy_in(const std::string& copy_sql, std::string data) {
  bool sent = false;
  return copy_in(copy_sql, [&](std::string& buf) {
    if (!sent) buf.swap(data);
    sent = true;
    return false;
  });
}

void copy_escape(std::string& out, std::string_view field) {
  for (char c : field) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out.push_back(c);
    }
  }
}

}  // namespace relais::pg

namespace relais::pg {

void dead_letter(Connection& c, std::string_view sink, std::string_view source, const Error& e,
                 std::string_view payload) {
  // The payload as bytea in hex: whatever its bytes, PostgreSQL takes them.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex = "\\x";
  hex.reserve(2 + payload.size() * 2);
  for (unsigned char ch : payload) {
    hex.push_back(kHex[ch >> 4]);
    hex.push_back(kHex[ch & 15]);
  }
  c.exec(
      "INSERT INTO sink_dead_letters (sink, source, sqlstate, reason, payload) VALUES ($1, $2, $3, "
      "$4, $5::bytea)",
      {std::string(sink), source.empty() ? Param{} : Param(std::string(source)), e.sqlstate(),
       std::string(e.what()), hex});
}

std::size_t write_rows(Connection& c, std::size_t n,
                       const std::function<void(Connection&, std::size_t, std::size_t)>& write,
                       const std::function<void(Connection&, std::size_t, const Error&)>& reject) {
  if (n == 0) return 0;
  try {
    transaction(c, [&] { write(c, 0, n); });
    return 0;
  } catch (const Error& e) {
    if (e.retryable() || !c.ok()) throw;
  }
  std::size_t rejected = 0;
  for (std::size_t i = 0; i < n; ++i) {
    try {
      transaction(c, [&] { write(c, i, i + 1); });
    } catch (const Error& e) {
      if (e.retryable() || !c.ok()) throw;
      transaction(c, [&] { reject(c, i, e); });
      ++rejected;
    }
  }
  return rejected;
}

}  // namespace relais::pg
