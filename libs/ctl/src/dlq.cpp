#include "relais/ctl/dlq.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>

#include "relais/codec/decode.hpp"
#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/kafka/client.hpp"
#include "relais/validation/notification.hpp"

namespace relais::ctl {
namespace json = boost::json;
using namespace std::chrono_literals;

std::optional<Coord> parse_coord(const std::string& text) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  Coord c;
  const char* b = text.data();
  auto r1 = std::from_chars(b, b + colon, c.partition);
  auto r2 = std::from_chars(b + colon + 1, b + text.size(), c.offset);
  if (r1.ec != std::errc{} || r1.ptr != b + colon || r2.ec != std::errc{} ||
      r2.ptr != b + text.size())
    return std::nullopt;
  if (c.partition < 0 || c.offset < 0) return std::nullopt;
  return c;
}

namespace {

std::unique_ptr<kafka::Consumer> make_consumer(const Settings& s) {
  kafka::ConsumerOptions o;
  auto& settings = o.settings;
  settings = s.kafka();
  settings["group.id"] =
      "relaisctl";  // never joined: partitions are assigned, offsets never committed
  settings["enable.auto.commit"] = "false";
  settings["enable.partition.eof"] = "true";
  settings["isolation.level"] = "read_committed";
  std::string err;
  auto c = kafka::Consumer::create(std::move(o), err);
  if (!c) throw std::runtime_error("Kafka consumer: " + err);
  return c;
}

// Partition -> [low, high) of the topic.
std::map<int32_t, std::pair<int64_t, int64_t>> watermarks(kafka::Consumer& c, const Settings& s) {
  int n = c.partition_count(s.dlq_topic, std::chrono::milliseconds(s.timeout_ms));
  if (n < 0)
    throw std::runtime_error("cannot read the partitions of " + s.dlq_topic +
                             " (is Kafka reachable?)");
  std::map<int32_t, std::pair<int64_t, int64_t>> out;
  for (int32_t p = 0; p < n; ++p) {
    int64_t lo = 0, hi = 0;
    if (auto e =
            c.query_watermarks(s.dlq_topic, p, std::chrono::milliseconds(s.timeout_ms), lo, hi))
      throw std::runtime_error("watermarks of " + s.dlq_topic + ": " + e.message);
    out[p] = {lo, hi};
  }
  return out;
}

DlqRecord to_record(const kafka::Record& m) {
  DlqRecord r;
  r.at = {m.partition(), m.offset()};
  r.timestamp_ms = m.timestamp_ms();
  r.parsed = r.letter.ParseFromArray(m.value().data(), static_cast<int>(m.value().size()));
  return r;
}

// Reads [start, end) of the given partitions (end = high watermark at the time of the call).
std::vector<DlqRecord> read_ranges(const Settings& s, const std::map<int32_t, int64_t>& starts,
                                   int64_t only = -1) {
  auto c = make_consumer(s);
  auto wm = watermarks(*c, s);
  kafka::TopicPartitions tps;
  std::map<int32_t, int64_t> end;
  for (auto [p, start] : starts) {
    auto it = wm.find(p);
    if (it == wm.end()) continue;
    auto [lo, hi] = it->second;
    int64_t from = std::max(start, lo);
    if (from >= hi) continue;
    end[p] = hi;
    tps.push_back({s.dlq_topic, p, from});
  }
  std::vector<DlqRecord> out;
  if (tps.empty()) return out;
  if (auto err = c->assign(tps)) throw std::runtime_error("assign: " + err.message);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(s.timeout_ms);
  while (!end.empty()) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("timed out reading " + s.dlq_topic);
    auto polled = c->poll(200ms);
    if (polled.error.kind == kafka::errc::timed_out) continue;
    if (polled.error.kind == kafka::errc::partition_eof) {
      end.erase(polled.eof_partition);
      continue;
    }
    if (polled.error)
      throw std::runtime_error("reading " + s.dlq_topic + ": " + polled.error.message);
    const auto& m = *polled.record;
    auto it = end.find(m.partition());
    if (it == end.end()) continue;
    if (only < 0 || m.offset() == only) out.push_back(to_record(m));
    if (m.offset() + 1 >= it->second || (only >= 0 && m.offset() >= only)) end.erase(it);
  }
  c->close();
  return out;
}

std::string b64(const std::string& in) {
  static constexpr char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    o += t[v >> 18];
    o += t[(v >> 12) & 63];
    o += t[(v >> 6) & 63];
    o += t[v & 63];
  }
  if (i < in.size()) {
    unsigned v =
        (unsigned char)in[i] << 16 | (i + 1 < in.size() ? (unsigned char)in[i + 1] << 8 : 0);
    o += t[v >> 18];
    o += t[(v >> 12) & 63];
    o += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    o += '=';
  }
  return o;
}

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; });
}

std::string coord_text(Coord c) {
  return std::to_string(c.partition) + ":" + std::to_string(c.offset);
}

}  // namespace

std::vector<DlqRecord> dlq_list(const Settings& s, std::size_t limit) {
  auto c = make_consumer(s);
  auto wm = watermarks(*c, s);
  c->close();
  std::map<int32_t, int64_t> starts;
  for (auto& [p, lh] : wm)
    starts[p] = std::max<int64_t>(lh.first, lh.second - static_cast<int64_t>(limit));
  auto all = read_ranges(s, starts);
  std::sort(all.begin(), all.end(), [](const DlqRecord& a, const DlqRecord& b) {
    return std::tie(a.timestamp_ms, a.at.partition, a.at.offset) <
           std::tie(b.timestamp_ms, b.at.partition, b.at.offset);
  });
  if (all.size() > limit) all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(limit));
  return all;
}

std::vector<DlqRecord> dlq_since(const Settings& s, int64_t since) {
  auto c = make_consumer(s);
  auto wm = watermarks(*c, s);
  c->close();
  std::map<int32_t, int64_t> starts;
  for (auto& [p, lh] : wm) starts[p] = since;
  return read_ranges(s, starts);
}

std::optional<DlqRecord> dlq_get(const Settings& s, Coord at) {
  auto v = read_ranges(s, {{at.partition, at.offset}}, at.offset);
  if (v.empty()) return std::nullopt;
  return v.front();
}

std::string dlq_json(const DlqRecord& r) {
  json::object o;
  o["dlq"] = coord_text(r.at);
  o["timestamp_ms"] = r.timestamp_ms;
  if (!r.parsed) {
    o["error"] = "the DLQ value is not a relais.v1.DeadLetter";
    return json::serialize(o);
  }
  const auto& d = r.letter;
  o["reason"] = d.reason();
  o["failed_at_us"] = d.failed_at_us();
  o["source"] = json::object{{"topic", d.source_topic()},
                             {"partition", d.source_partition()},
                             {"offset", d.source_offset()}};
  if (printable(d.key()))
    o["key"] = d.key();
  else
    o["key_base64"] = b64(d.key());
  o["value_base64"] = b64(d.value());
  o["value_bytes"] = d.value().size();
  relais::v1::Notification n;
  if (!n.ParseFromString(d.value())) {
    o["decode_error"] = "the original bytes are not a relais.v1.Notification";
  } else {
    o["notification"] = json::parse(codec::to_json(n));
    if (auto e = validation::validate(n))
      o["validation_error"] =
          json::object{{"code", e->code}, {"message", e->message}, {"field", e->field}};
  }
  return json::serialize(o);
}

namespace {

struct Prepared {
  std::string key, value, ticket;
  std::vector<kafka::Header> headers;
};

// The bytes to replay: the original, or the operator's correction (decoded and validated).
std::optional<std::string> prepare(const DlqRecord& r, const std::optional<Correction>& corr,
                                   Prepared& out) {
  if (!r.parsed) return "the DLQ value is not a relais.v1.DeadLetter";
  const auto& d = r.letter;
  relais::v1::Notification original;
  bool decoded = original.ParseFromString(d.value());
  if (!corr) {
    out.key = d.key();
    out.value = d.value();
    if (decoded) {
      out.ticket = original.envelope().ticket();
      out.headers = {{"flow", std::string(codec::flow_id(original.flow()))},
                     {"ticket", out.ticket}};
    }
    out.headers.push_back({"content-type", "application/x-protobuf"});
    out.headers.push_back({"replayed-from", d.source_topic() + "/" +
                                                std::to_string(d.source_partition()) + "/" +
                                                std::to_string(d.source_offset())});
    return std::nullopt;
  }
  auto flow = corr->flow;
  if (!flow && decoded && original.flow() != relais::v1::FLOW_UNSPECIFIED) flow = original.flow();
  if (!flow || codec::flow_id(*flow).empty())
    return "the original record does not say its flow: give --flow with --edit";
  relais::v1::Notification n;
  if (auto e = codec::decode_and_validate_json(*flow, corr->json, n))
    return "the corrected body is invalid: " + e->code + " " + e->field + ": " + e->message;
  if (decoded && !original.envelope().ticket().empty() &&
      original.envelope().ticket() != n.envelope().ticket())
    return "the corrected body must keep the original ticket " + original.envelope().ticket() +
           " (it is the idempotency key)";
  n.set_accepted_at_us(decoded && original.accepted_at_us() > 0
                           ? original.accepted_at_us()
                           : std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
  n.SerializeToString(&out.value);
  out.key = n.envelope().ssin();  // key = SSIN: the corrected SSIN decides the partition
  out.ticket = n.envelope().ticket();
  out.headers = {{"flow", std::string(codec::flow_id(*flow))},
                 {"ticket", out.ticket},
                 {"content-type", "application/x-protobuf"},
                 {"replayed-from", d.source_topic() + "/" + std::to_string(d.source_partition()) +
                                       "/" + std::to_string(d.source_offset())},
                 {"corrected-by", "relaisctl"}};
  return std::nullopt;
}

}  // namespace

std::vector<ReplayOutcome> dlq_replay(const Settings& s, pg::Connection& db,
                                      const std::vector<DlqRecord>& records, bool force,
                                      const std::optional<Correction>& correction) {
  if (correction && records.size() != 1)
    throw std::invalid_argument("--edit replays exactly one record");
  std::string err;
  auto producer = kafka::Producer::create(s.kafka(), err);
  if (!producer) throw std::runtime_error("cannot create the Kafka producer: " + err);
  std::vector<ReplayOutcome> out;
  for (const auto& r : records) {
    ReplayOutcome o;
    o.dlq = r.at;
    Prepared p;
    if (auto e = prepare(r, correction, p)) {
      o.detail = *e;
      out.push_back(o);
      continue;
    }
    try {
      pg::transaction(db, [&] {
        db.exec("SELECT pg_advisory_xact_lock(hashtext('relais.dlq_replays'), hashtext($1))",
                {coord_text(r.at)});
        auto prev = db.exec(
            "SELECT replayed_at::text, actor FROM dlq_replays WHERE dlq_topic = $1 AND "
            "dlq_partition = $2 "
            "AND dlq_offset = $3 ORDER BY replayed_at DESC LIMIT 1",
            {s.dlq_topic, std::to_string(r.at.partition), std::to_string(r.at.offset)});
        if (prev.rows() > 0 && !force) {
          o.status = ReplayOutcome::Status::already_replayed;
          o.detail = "already replayed at " + prev.str(0, 0) + " by " + prev.str(0, 1) +
                     " (use --force to replay again)";
          return;
        }
        std::promise<kafka::DeliveryResult> done;
        auto fut = done.get_future();
        auto e = producer->produce(s.inbound_topic, kafka::kAnyPartition, p.key, p.value, p.headers,
                                   [&done](const kafka::DeliveryResult& d) { done.set_value(d); });
        if (e) throw std::runtime_error("produce: " + e.message);
        if (fut.wait_for(std::chrono::milliseconds(s.timeout_ms) + 5s) != std::future_status::ready)
          throw std::runtime_error(
              "no delivery report from Kafka in time (the record may still be delivered)");
        auto d = fut.get();
        if (!d.ok())
          throw std::runtime_error(
              "delivery failed: " + d.error.message +
              (d.possibly_persisted ? " (possibly persisted: the router dedupes by ticket)" : ""));
        o.partition = d.partition;
        o.offset = d.offset;
        db.exec(
            "INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, source_topic, "
            "source_partition, "
            "source_offset, reason, ticket, corrected, forced, target_topic, target_partition, "
            "target_offset, actor) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, NULLIF($8, ''), $9, $10, $11, $12, $13, $14)",
            {s.dlq_topic, std::to_string(r.at.partition), std::to_string(r.at.offset),
             r.letter.source_topic(), std::to_string(r.letter.source_partition()),
             std::to_string(r.letter.source_offset()), r.letter.reason(), p.ticket,
             correction ? "true" : "false", force ? "true" : "false", s.inbound_topic,
             std::to_string(d.partition), std::to_string(d.offset), s.actor});
        o.status = ReplayOutcome::Status::replayed;
        o.detail = p.ticket.empty() ? "replayed" : "replayed ticket " + p.ticket;
      });
    } catch (const std::exception& ex) {
      o.status = ReplayOutcome::Status::failed;
      o.detail = ex.what();
    }
    out.push_back(o);
  }
  producer->flush(5s);
  return out;
}

}  // namespace relais::ctl
