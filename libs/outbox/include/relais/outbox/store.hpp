// The reaction state machine's SQL, in one place (docs/clignotants.md):
//   alert OPEN --reaction--> REACTED (reaction PENDING, one outbox row per destination)
//   outbox row pending --delivered--> done; reaction PENDING|FAILING --all rows done--> SENT;
//   alert REACTED --every reaction SENT--> SENT; a failed attempt: row retried later, reaction
//   FAILING; a refusal by the upstream (4xx other than 408/409/429): row failed, reaction FAILED,
//   not retried until an operator asks (retry_now).
// relais-api records reactions here (record_reaction, in the caller's connection); the outbox
// sender claims rows and records each attempt here. Every function runs in one transaction; the
// lock order is always the alert, then the reaction.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "relais/common/result.hpp"
#include "relais/pg/pg.hpp"

namespace relais::outbox {

// What one delivery attempt gave. `outcome` is a journal/metric label:
// sent | duplicate | http_4xx | http_429 | http_5xx | timeout | connect_error | reset |
// tls_error | io_error | breaker_open | kafka_error.
struct Attempt {
  bool delivered = false;
  bool breaker_failure = false;  // counts against the upstream breaker
  bool refused = false;          // terminal: the row fails, the reaction is FAILED (no retry)
  std::string outcome;
  int http_status = 0;
  std::string error;
};

struct NewReaction {
  std::string alert_id, cbe, code;  // alert_id lower-case UUID
  std::optional<std::string> comment;
  bool amendment = false;  // required for a second and later reaction
  std::string actor;
  std::vector<std::string> destinations;  // "upstream", "kafka"
};

// The alert reacted to and the reaction as recorded (for the payload and the answer).
struct RecordedReaction {
  std::string alert_type, ssin, ticket;
  std::string reaction_id;
  int sequence = 0;
  long long reacted_at_us = 0;
  std::string created_at;  // RFC 3339, UTC, microseconds
};

// Refusals: not_found ALERT_NOT_FOUND (field id); conflict REACTION_EXISTS (field amendment,
// `existing_reaction_id` set) or TOO_MANY_AMENDMENTS (at most 100 reactions per alert).
struct ReactionError : relais::Error {
  std::string existing_reaction_id;
};

// Records a reaction, its outbox rows (payload from `payload`, called inside the transaction) and
// the alert's status REACTED, in one transaction. Throws pg::Error on a database failure.
relais::result<RecordedReaction, ReactionError> record_reaction(
    pg::Connection& c, const NewReaction& r,
    const std::function<std::string(const RecordedReaction&)>& payload);

// An outbox row claimed for one delivery, under a committed lease.
struct Claimed {
  long long id = 0;
  std::string reaction_id, destination, payload, key, cbe, ssin, alert_id;
  int attempt = 0;  // 1-based, this one included
};

// Claims up to `limit` due rows of `destinations` (FOR UPDATE SKIP LOCKED), leased for `lease`.
std::vector<Claimed> claim(pg::Connection& c, const std::vector<std::string>& destinations,
                           int limit, std::chrono::milliseconds lease);

// Records an attempt (reaction_attempts) and its effect on the row, the reaction and the alert.
// `retry_in`: when a failed row is due again.
void record_attempt(pg::Connection& c, const Claimed& row, const Attempt& a,
                    std::chrono::milliseconds took, std::chrono::milliseconds retry_in,
                    const std::string& instance);

// An operator's retry (relaisctl reactions retry): the pending or failed (refused), unleased rows
// of one reaction, or of every FAILING or FAILED reaction when `reaction_id` is empty, become
// pending and due now with their attempts reset; a FAILED reaction becomes FAILING again.
// The number of rows.
long long retry_now(pg::Connection& c, const std::string& reaction_id);

}  // namespace relais::outbox
