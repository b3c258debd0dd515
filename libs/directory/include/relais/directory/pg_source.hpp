// Reads the directory from PostgreSQL: a full load at start (COPY, one
// consistent snapshot) and the changes committed since a change_seq, in order.
// Blocking: run it off the routing thread (see router's DirectoryFeed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "relais/directory/directory.hpp"
#include "relais/pg/pg.hpp"

namespace relais::directory {

struct Change {
  enum class Kind { integration, cpas, replacement } kind;
  std::int64_t seq = 0;
  // integration
  std::uint32_t id = 0;
  std::uint64_t ssin = 0;
  std::string cbe;
  std::uint16_t quality = 0;
  std::int32_t start = 0, end = kOpenEnd;
  // cpas
  std::string name;
  std::vector<std::string> municipalities;
  // replacement (ssin = the old number); active = false: dropped by an operator
  std::uint64_t new_ssin = 0;
  bool active = true;
};

void apply(Directory& d, const Change& c);

// Loads everything into `d`; returns the change_seq the load is consistent with.
std::int64_t load_all(pg::Connection& conn, Directory& d);

// Changes with change_seq > after, ascending, at most `limit` of each kind.
std::vector<Change> changes_since(pg::Connection& conn, std::int64_t after, int limit);

// Parses a PostgreSQL text array of simple tokens: {a,b,c}.
std::vector<std::string> parse_text_array(std::string_view s);

}  // namespace relais::directory
