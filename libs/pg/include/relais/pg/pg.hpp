// libpq wrapped once: RAII connection and result, parameterised queries,
// transactions, COPY in and out. Blocking by design: callers run it on
// dedicated threads (see Pool), never on an event loop thread.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace relais::pg {

// Thrown by the wrappers: database errors are rare and not per-message on the
// hot path. `retryable` is true for connection loss and serialization failures.
class Error : public std::runtime_error {
 public:
  Error(const std::string& msg, std::string sqlstate, bool retryable)
      : std::runtime_error(msg), sqlstate_(std::move(sqlstate)), retryable_(retryable) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool retryable() const { return retryable_; }

 private:
  std::string sqlstate_;
  bool retryable_;
};

class Result {
 public:
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  int columns() const { return PQnfields(r_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view get(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::string str(int row, int col) const { return std::string(get(row, col)); }
  long long integer(int row, int col) const;
  long long affected() const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> r_;
};

using Param = std::optional<std::string>;  // nullopt = SQL NULL

class Connection {
 public:
  explicit Connection(const std::string& dsn);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result exec(const std::string& sql);
  Result exec(const std::string& sql, const std::vector<Param>& params);
  // COPY ... FROM STDIN: `produce` appends chunks of COPY data (text or binary format) to its
  // buffer and returns false at the end.
  long long copy_in(const std::string& copy_sql, const std::function<bool(std::string&)>& produce);
  // The same with all of the data at once.
  long long copy_in(const std::string& copy_sql, std::string data);
  // COPY ... TO STDOUT: `consume` gets each row line (without the newline).
  void copy_out(const std::string& copy_sql, const std::function<void(std::string_view)>& consume);
  bool ok() const;
  // Re-establishes a broken connection. Returns false if it still fails.
  bool reset();
  PGconn* raw() { return conn_; }

 private:
  void check(PGresult* r, const std::string& sql);
  PGconn* conn_ = nullptr;
  std::string dsn_;
};

// Runs `fn` in a transaction; commits if it returns, rolls back if it throws.
template <typename F>
auto transaction(Connection& c, F&& fn) {
  c.exec("BEGIN");
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      c.exec("COMMIT");
    } else {
      auto r = fn();
      c.exec("COMMIT");
      return r;
    }
  } catch (...) {
    if (c.ok()) {
      try {
        c.exec("ROLLBACK");
      } catch (...) {
      }
    }
    throw;
  }
}

// COPY text format escaping of one field.
void copy_escape(std::string& out, std::string_view field);

// The text of every Error: the server's primary message with each quoted value replaced by an
// ellipsis, then the table, column and constraint names and the SQLSTATE. Never a DETAIL or
// CONTEXT line (they quote the row: "COPY t, line 3, column c: ..."), so an Error's what() can be
// logged and shown on a status page without carrying personal data. Public for tests.
std::string redacted_message(std::string_view primary, std::string_view table,
                             std::string_view column, std::string_view constraint,
                             std::string_view sqlstate);

// No poison pill (docs/reliability.md): writes rows [0, n) with `write(conn, first, last)` in one
// transaction; if that fails with an error of the data (not retryable: a value PostgreSQL
// refuses, a constraint), writes each row in its own transaction, and hands a row that still
// fails that way to `reject(conn, i, error)` (in its own transaction: a dead-letter table) so
// that the others go on. Retryable errors (connection lost, serialization) are thrown: the caller
// retries the whole batch later. Returns the number of rows rejected.
// Sets a record aside in sink_dead_letters (migrations/0009): which sink, where it came from
// (e.g. "topic/partition/offset"), the error (SQLSTATE and its redacted message) and the record's
// bytes for an operator to inspect or replay (`relaisctl dead-letters`).
void dead_letter(Connection& c, std::string_view sink, std::string_view source, const Error& e,
                 std::string_view payload);

std::size_t write_rows(
    Connection& c, std::size_t n,
    const std::function<void(Connection&, std::size_t first, std::size_t last)>& write,
    const std::function<void(Connection&, std::size_t i, const Error& e)>& reject);

}  // namespace relais::pg
