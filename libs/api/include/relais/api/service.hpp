// relais-api's directory routes: the CPAS the data centre serves, their
// integrations (register, unregister, list, bulk import), the SSIN
// replacements recorded by an operator (replacements.hpp) and each CPAS's
// identity in the BCSS network (NIS codes served, sector/institution). PostgreSQL is the
// source of truth; every write is journaled by trigger in the same transaction.
#pragma once

#include <boost/json/array.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "relais/api/kafka_admin.hpp"
#include "relais/api/routes.hpp"
#include "relais/codec/ndjson.hpp"
#include "relais/common/metrics.hpp"
#include "relais/kafka/client.hpp"
#include "relais/pg/pool.hpp"

namespace relais::api {

struct Options {
  kafka::Settings kafka;  // for creating CPAS topics
  int cpas_topic_partitions = 1;
  int replication_factor = 1;
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  std::size_t max_import_bytes = std::size_t{64} * 1024 * 1024;
  std::size_t max_import_lines = 1000000;
  std::size_t list_limit_max = 10000;
};

class Service {
 public:
  Service(Options o, pg::Pool& pool, metrics::Registry& m);
  // The directory's routes, each with its policy (routes.hpp).
  void add_routes(RouteTable& table);
  std::size_t body_limit(const http::Request& header_only) const;
  // The Kafka admin thread (creating topics; subscriber health passes run there too).
  KafkaAdmin& kafka_admin() { return admin_; }

 private:
  boost::asio::awaitable<Reply> put_cpas(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> list_cpas(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> register_integration(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> unregister_integration(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> list_integrations(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> import_integrations(http::Request& req, const Caller& caller);
  // SSIN replacements, operator only (replacements.cpp)
  boost::asio::awaitable<Reply> put_replacement(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> get_replacement(http::Request& req, const Caller& caller);
  // CPAS identity: NIS codes served, BCSS sector/institution (identity.cpp)
  boost::asio::awaitable<Reply> put_identity(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> get_identity(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> list_identities(http::Request& req, const Caller& caller);

  Options o_;
  pg::Pool& pool_;
  KafkaAdmin admin_;  // Kafka admin calls: their own thread, not the PostgreSQL pool's
  metrics::Family<metrics::Counter>& changes_;
  metrics::Family<metrics::Counter>& import_lines_;
};

// The validation pass of a bulk import (POST /v1/cpas/{cbe}/integrations:import), apart from
// PostgreSQL: each line (CSV "ssin,quality_code,start_date[,end_date]" after an optional header
// line starting with "ssin", or one JSON object per NDJSON line) is checked; the import goes on
// only when `errors` is empty.
struct ImportCheck {
  std::size_t valid = 0;  // lines that passed
  std::string
      copy;  // the valid lines as COPY text rows: ssin, quality_code, start_date, end_date (\N)
  boost::json::array errors;  // {line, code, message, field}; after 1000, one TOO_MANY_ERRORS entry
};
ImportCheck check_import(bool csv, const std::vector<codec::Line>& lines);

// The directory write path, shared by the JSON routes and ManageAccess (manage_access.hpp): one
// transaction each, journaled by trigger; answers as the JSON routes do.
struct IntegrationLine {
  std::string ssin;
  int quality = 0;
  std::string start, end;  // end empty = open
};
// Upsert of (cbe, ssin, quality, start): 201 created / 200 updated {"integration", "overlapping"};
// CPAS_NOT_FOUND.
Reply write_integration(pg::Connection& c, const std::string& cbe, const IntegrationLine& l,
                        const std::string& actor);
// Closes the person's lines (of `quality`) still active after `end`: 200 {"closed"}; CPAS_NOT_FOUND
// or INTEGRATION_NOT_FOUND.
Reply close_integrations(pg::Connection& c, const std::string& cbe, const std::string& ssin,
                         const std::optional<std::string>& quality, const std::string& end,
                         const std::string& actor);
// Every line of one person at one CPAS: 200 {"integrations"}; CPAS_NOT_FOUND.
Reply person_integrations(pg::Connection& c, const std::string& cbe, const std::string& ssin);

}  // namespace relais::api
