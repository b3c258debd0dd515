#include "relais/outbox/store.hpp"

#include <algorithm>

namespace relais::outbox {

#define RELAIS_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

relais::result<RecordedReaction, ReactionError> record_reaction(
    pg::Connection& c, const NewReaction& n,
    const std::function<std::string(const RecordedReaction&)>& payload) {
  using Out = relais::result<RecordedReaction, ReactionError>;
  return pg::transaction(c, [&]() -> Out {
    auto refuse = [](errc kind, std::string code, std::string message, std::string field) {
      return ReactionError{make_error(kind, std::move(code), std::move(message), std::move(field))};
    };
    // The alert row lock serializes reactions to one alert (and the sender's status updates).
    auto a = c.exec(
        "SELECT type, ssin, ticket, status FROM alerts WHERE alert_id = $1::uuid AND cpas_cbe = $2 "
        "FOR UPDATE",
        {n.alert_id, n.cbe});
    if (a.rows() == 0)
      return refuse(errc::not_found, "ALERT_NOT_FOUND", "no such alert for this CPAS", "id");
    auto prev = c.exec(
        "SELECT id::text, seq FROM reactions WHERE alert_id = $1::uuid ORDER BY seq DESC LIMIT 1",
        {n.alert_id});
    const int seq = prev.rows() ? static_cast<int>(prev.integer(0, 1)) + 1 : 1;
    if (seq > 1 && !n.amendment) {
      auto e = refuse(errc::conflict, "REACTION_EXISTS",
                      "this alert already has a reaction; send \"amendment\": true to correct it",
                      "amendment");
      e.existing_reaction_id = prev.str(0, 0);
      return e;
    }
    if (seq > 100)
      return refuse(errc::conflict, "TOO_MANY_AMENDMENTS", "at most 100 reactions per alert",
                    "amendment");
    auto r = c.exec(
        "INSERT INTO reactions (alert_id, cpas_cbe, seq, code, comment, amendment, actor) "
        "VALUES ($1::uuid, $2, $3::int, $4, $5, $6::boolean, $7) "
        "RETURNING id::text, (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint, " RELAIS_TS(
            "created_at"),
        {n.alert_id, n.cbe, std::to_string(seq), n.code, n.comment, seq > 1 ? "true" : "false",
         n.actor});
    RecordedReaction out;
    out.alert_type = a.str(0, 0);
    out.ssin = a.str(0, 1);
    out.ticket = a.str(0, 2);
    out.reaction_id = r.str(0, 0);
    out.sequence = seq;
    out.reacted_at_us = r.integer(0, 1);
    out.created_at = r.str(0, 2);
    const std::string body = payload(out);
    for (const auto& d : n.destinations)
      c.exec(
          "INSERT INTO outbox (reaction_id, destination, payload, idempotency_key) VALUES "
          "($1::uuid, $2, $3, $4)",
          {out.reaction_id, d, body, out.reaction_id});
    c.exec("UPDATE alerts SET status = 'REACTED', updated_at = now() WHERE alert_id = $1::uuid",
           {n.alert_id});
    return out;
  });
}

namespace {
const char* kClaim =
    "WITH c AS (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= now() "
    "  AND (lease_until IS NULL OR lease_until < now()) AND destination = ANY($1::text[]) "
    "  ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED), "
    "u AS (UPDATE outbox o SET lease_until = now() + $3::int * interval '1 millisecond', attempts "
    "= o.attempts + 1 "
    "  FROM c WHERE o.id = c.id "
    "  RETURNING o.id, o.reaction_id, o.destination, o.payload, o.idempotency_key, o.attempts) "
    "SELECT u.id, u.reaction_id::text, u.destination, u.payload, u.idempotency_key, u.attempts, "
    "r.cpas_cbe, "
    "  a.ssin, r.alert_id::text "
    "FROM u JOIN reactions r ON r.id = u.reaction_id JOIN alerts a ON a.alert_id = r.alert_id";
}  // namespace

std::vector<Claimed> claim(pg::Connection& c, const std::vector<std::string>& destinations,
                           int limit, std::chrono::milliseconds lease) {
  std::string dests = "{";
  for (const auto& d : destinations) dests += (dests.size() > 1 ? "," : "") + d;
  dests += "}";
  auto r = c.exec(kClaim, {dests, std::to_string(limit), std::to_string(lease.count())});
  std::vector<Claimed> rows;
  for (int i = 0; i < r.rows(); ++i) {
    Claimed row;
    row.id = r.integer(i, 0);
    row.reaction_id = r.str(i, 1);
    row.destination = r.str(i, 2);
    row.payload = r.str(i, 3);
    row.key = r.str(i, 4);
    row.attempt = static_cast<int>(r.integer(i, 5));
    row.cbe = r.str(i, 6);
    row.ssin = r.str(i, 7);
    row.alert_id = r.str(i, 8);
    rows.push_back(std::move(row));
  }
  return rows;
}

void record_attempt(pg::Connection& c, const Claimed& row, const Attempt& a,
                    std::chrono::milliseconds took, std::chrono::milliseconds retry_in,
                    const std::string& instance) {
  std::vector<pg::Param> attempt_params{
      std::to_string(row.id),
      row.reaction_id,
      row.destination,
      std::to_string(row.attempt),
      a.outcome,
      a.http_status ? pg::Param{std::to_string(a.http_status)} : pg::Param{},
      std::to_string(took.count()),
      a.error.empty() ? pg::Param{} : pg::Param{a.error},
      instance};
  pg::transaction(c, [&] {
    // Lock order everywhere: alert, then reaction (the reaction POST takes the alert first).
    c.exec("SELECT 1 FROM alerts WHERE alert_id = $1::uuid FOR UPDATE", {row.alert_id});
    c.exec("SELECT 1 FROM reactions WHERE id = $1::uuid FOR UPDATE", {row.reaction_id});
    c.exec(
        "INSERT INTO reaction_attempts (outbox_id, reaction_id, destination, attempt, outcome, "
        "http_status, "
        "duration_ms, error, instance) VALUES ($1, $2::uuid, $3, $4, $5, $6::int, $7, $8, $9)",
        attempt_params);
    if (a.delivered) {
      c.exec(
          "UPDATE outbox SET status = 'done', lease_until = NULL, last_error = NULL, done_at = "
          "now() "
          "WHERE id = $1 AND status = 'pending'",
          {std::to_string(row.id)});
      c.exec(
          "UPDATE reactions SET attempts = attempts + 1, "
          "  delivery_status = CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE reaction_id = $1::uuid "
          "AND status = 'failed') THEN 'FAILED' "
          "    WHEN EXISTS (SELECT 1 FROM outbox WHERE reaction_id = $1::uuid AND status = "
          "'pending') THEN delivery_status ELSE 'SENT' END, "
          "  sent_at = CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE reaction_id = $1::uuid AND "
          "status <> 'done') "
          "    THEN sent_at ELSE now() END, "
          "  last_error = CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE reaction_id = $1::uuid AND "
          "status <> 'done') "
          "    THEN last_error ELSE NULL END "
          "WHERE id = $1::uuid",
          {row.reaction_id});
      c.exec(
          "UPDATE alerts SET status = 'SENT', updated_at = now() WHERE alert_id = $1::uuid AND "
          "status <> 'SENT' "
          "AND NOT EXISTS (SELECT 1 FROM reactions WHERE alert_id = $1::uuid AND delivery_status "
          "<> 'SENT')",
          {row.alert_id});
    } else {
      // A refusal ends the row ('failed'): never retried until an operator asks (retry_now).
      c.exec(
          "UPDATE outbox SET next_attempt_at = now() + $2::int * interval '1 millisecond', "
          "lease_until = NULL, last_error = $3, status = CASE WHEN $4::boolean THEN 'failed' ELSE "
          "status END WHERE id = $1 AND status = 'pending'",
          {std::to_string(row.id), std::to_string(std::max<long long>(0, retry_in.count())),
           a.outcome + ": " + a.error, a.refused ? "true" : "false"});
      c.exec(
          "UPDATE reactions SET attempts = attempts + 1, last_error = $2, "
          "delivery_status = CASE WHEN delivery_status = 'SENT' THEN 'SENT' "
          "  WHEN $3::boolean OR delivery_status = 'FAILED' THEN 'FAILED' ELSE 'FAILING' END "
          "WHERE id = $1::uuid",
          {row.reaction_id, row.destination + " " + a.outcome + ": " + a.error,
           a.refused ? "true" : "false"});
    }
  });
}

long long retry_now(pg::Connection& c, const std::string& reaction_id) {
  const pg::Param id = reaction_id.empty() ? pg::Param() : pg::Param(reaction_id);
  return pg::transaction(c, [&] {
    auto res = c.exec(
        "UPDATE outbox o SET next_attempt_at = now(), attempts = 0, status = 'pending' FROM "
        "reactions r WHERE o.reaction_id = r.id AND o.status IN ('pending', 'failed') AND "
        "(o.lease_until IS NULL OR o.lease_until < now()) "
        "AND (($1::uuid IS NOT NULL AND r.id = $1::uuid) OR ($1::uuid IS NULL AND "
        "r.delivery_status IN ('FAILING', 'FAILED')))",
        {id});
    c.exec(
        "UPDATE reactions SET delivery_status = 'FAILING' WHERE delivery_status = 'FAILED' AND "
        "($1::uuid IS NULL OR id = $1::uuid)",
        {id});
    return res.affected();
  });
}

}  // namespace relais::outbox
