// relais-api's clignotant routes: list and read a CPAS's alerts, and post its
// reaction. The reaction, the alert's status change (→ REACTED) and one outbox
// row per destination are written in one PostgreSQL transaction; the outbox
// sender (libs/outbox) delivers them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "relais/alerts/reaction_codes.hpp"
#include "relais/api/problem.hpp"
#include "relais/api/routes.hpp"
#include "relais/common/metrics.hpp"
#include "relais/pg/pool.hpp"

namespace relais::api {

struct AlertsOptions {
  alerts::ReactionCodes codes;
  std::size_t list_limit_max = 1000;
  std::size_t list_limit_default = 100;
  std::size_t comment_max_chars = 1000;
  std::size_t notes_max_chars = 4000;
  // Where each reaction goes: the PCSAAAlertReaction upstream and the CPAS's Kafka topic.
  std::vector<std::string> destinations = {"upstream", "kafka"};
};

class AlertsService {
 public:
  // `on_reaction` runs after a reaction's transaction committed (wakes the sender).
  AlertsService(AlertsOptions o, pg::Pool& pool, metrics::Registry& m,
                std::function<void()> on_reaction = {});
  // The clignotant routes, each with its policy (routes.hpp).
  void add_routes(RouteTable& table);

 private:
  boost::asio::awaitable<Reply> list_alerts(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> get_alert(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> post_reaction(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> reaction_codes(http::Request& req, const Caller& caller);
  // Every label for people in the caller's language (Accept-Language): alert types, quality
  // codes, problem titles, error messages, reaction codes.
  boost::asio::awaitable<Reply> labels(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> put_notes(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> put_follow_up(http::Request& req, const Caller& caller);
  boost::asio::awaitable<Reply> backlog(http::Request& req, const Caller& caller);

  AlertsOptions o_;
  pg::Pool& pool_;
  std::function<void()> on_reaction_;
  metrics::Family<metrics::Counter>& reactions_;
};

// A reaction's code against the code list on `today` (YYYY-MM-DD, UTC): 400
// INVALID_REACTION_CODE when not listed, REACTION_CODE_NOT_VALID when listed but not valid that
// day (both with field `code` and the codes valid that day); nullopt when accepted.
std::optional<Problem> check_reaction_code(const alerts::ReactionCodes& codes,
                                           std::string_view code, std::string_view today);

// Number of Unicode code points of valid UTF-8 text.
std::size_t utf8_length(std::string_view s);

}  // namespace relais::api
