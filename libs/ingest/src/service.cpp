#include "relais/ingest/service.hpp"

#include <google/protobuf/arena.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "relais/codec/encode.hpp"
#include "relais/codec/flow.hpp"
#include "relais/codec/ndjson.hpp"
#include "relais/common/log.hpp"
#include "relais/fingerprint/fingerprint.hpp"
#include "relais/validation/error.hpp"
#include "relais/validation/ids.hpp"

namespace relais::ingest {
namespace asio = boost::asio;
namespace {
const log::Logger logger{"ingest"};
// A batch line repeating an earlier line's ticket and SSIN with other content (the router's
// dead-letter reason for the same case across batches has the same name).
constexpr std::string_view kTicketReused = "TICKET_REUSED";
// The first block of a batch's decoding arena, reused line after line.
constexpr std::size_t kArenaBlockBytes = std::size_t{16} * 1024;
namespace pb = google::protobuf;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Shared state of one awaited group of deliveries.
struct Pending {
  std::mutex mu;
  std::size_t left;
  std::vector<kafka::DeliveryResult> results;
  std::function<void()> done;
};

// Produces every record and completes once each has a delivery report. A
// record that could not even be enqueued gets a failed result at once.
asio::awaitable<std::vector<kafka::DeliveryResult>> deliver_all(kafka::Producer& producer,
                                                                const std::string& topic,
                                                                std::vector<Record> records) {
  auto state = std::make_shared<Pending>();
  state->left = records.size();
  state->results.resize(records.size());
  if (records.empty()) co_return std::vector<kafka::DeliveryResult>{};
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&](auto handler) {
        auto ex = asio::get_associated_executor(handler);
        auto work = std::make_shared<asio::executor_work_guard<decltype(ex)>>(ex);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        state->done = [ex, work, h]() mutable {
          asio::post(ex, [h, work]() mutable { std::move (*h)(); });
        };
        auto complete_one = [state](std::size_t i, const kafka::DeliveryResult& r) {
          std::function<void()> done;
          {
            std::lock_guard lock(state->mu);
            state->results[i] = r;
            if (--state->left == 0) done = std::move(state->done);
          }
          if (done) done();
        };
        for (std::size_t i = 0; i < records.size(); ++i) {
          auto err = producer.produce(
              topic, kafka::kAnyPartition, records[i].key, records[i].value, records[i].headers,
              [complete_one, i](const kafka::DeliveryResult& r) { complete_one(i, r); });
          if (err) {
            kafka::DeliveryResult r;
            r.error = std::move(err);
            complete_one(i, r);
          }
        }
      },
      asio::use_awaitable);
  co_return std::move(state->results);
}

http::Response retry_after(http::Response r, int seconds) {
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}
}  // namespace

// The ticket of a refused batch line, read on its own: decoding may stop (an
// unknown enum value, an unknown field) before the envelope is filled, yet the
// sender needs the ticket to match the report to its notification. Only a
// valid UUID under "ticket" of a JSON object is named.
std::string ticket_of_line(std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) return {};
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  const auto* t = v.as_object().if_contains("ticket");
  if (!t || !t->is_string() || !validation::is_valid_ticket(t->as_string())) return {};
  return std::string(t->as_string());
}

Record make_record(relais::v1::Notification& n, std::string_view flow,
                   std::string_view content_type, std::string_view raw) {
  n.set_accepted_at_us(now_us());
  Record r;
  r.key = n.envelope().ssin();
  n.SerializeToString(&r.value);
  r.headers = {{"flow", std::string(flow)},
               {"ticket", n.envelope().ticket()},
               {"content-type", "application/x-protobuf"},
               {"source-content-type", std::string(content_type)}};
  if (!raw.empty()) r.headers.push_back({"raw", std::string(raw)});
  return r;
}

Service::Service(Options o, kafka::Producer& producer, metrics::Registry& m)
    : o_(std::move(o)),
      producer_(producer),
      requests_(m.counter("relais_ingest_requests_total",
                          "Ingest HTTP requests by flow, kind and status",
                          {"flow", "kind", "status"})),
      accepted_(m.counter("relais_ingest_accepted_total",
                          "Notifications acknowledged by Kafka, by flow", {"flow"})),
      rejected_(m.counter("relais_ingest_rejected_total",
                          "Notifications refused, by flow and error code", {"flow", "code"})),
      backpressure_(m.counter("relais_ingest_backpressure_total",
                              "Requests refused with 429/503 because Kafka is slow or unreachable",
                              {"reason"})),
      duplicates_(m.counter("relais_ingest_batch_duplicates_total",
                            "Batch lines repeating a ticket of the same batch")
                      .with()),
      in_flight_gauge_(m.gauge("relais_ingest_in_flight",
                               "Notifications waiting for the broker's acknowledgement")
                           .with()),
      ack_seconds_(m.histogram("relais_ingest_ack_duration_seconds",
                               "Time from request to broker acknowledgement", {},
                               metrics::latency_buckets())
                       .with()) {}

std::size_t Service::body_limit(const http::Request& req) const {
  if (req.path.ends_with(":batch")) return o_.max_batch_bytes;
  // A SOAP document somewhat over the limit is read so that its sender gets a SOAP Fault
  // (XML_TOO_LARGE, from libs/xml's max_bytes = max_body_bytes) rather than the server's JSON
  // 413; one over four times the limit is refused unread (413), as for JSON.
  if (soap_ != nullptr && req.path == "/v1/soap") return o_.max_body_bytes * kSoapReadFactor;
  return o_.max_body_bytes;
}

void Service::add_routes(http::Router& router) {
  router.add(http::verb::post, "/v1/notifications/{flow}",
             [this](http::Request& r) -> asio::awaitable<http::Response> { return post(r); });
  router.add(http::verb::post, "/v1/notifications/{flow}:batch",
             [this](http::Request& r) -> asio::awaitable<http::Response> { return post(r); });
  if (soap_ != nullptr) {
    router.add(http::verb::post, "/v1/soap",
               [this](http::Request& r) -> asio::awaitable<http::Response> { return soap(r); });
  }
}

http::Response Service::reject(unsigned status, std::string_view code, std::string_view message,
                               std::string_view field, std::string_view flow) {
  rejected_.with({std::string(flow), std::string(code)}).inc();
  return http::json_error(status, code, message, field);
}

http::Response Service::busy(unsigned status, std::string_view code, std::string_view message,
                             std::string_view flow) {
  backpressure_.with({std::string(code)}).inc();
  (void)flow;
  return retry_after(http::json_error(status, code, message), o_.retry_after_seconds);
}

asio::awaitable<http::Response> Service::post(http::Request& req) {
  bool is_batch = req.route.ends_with(":batch");
  const std::string& flow_text = req.params["flow"];
  auto flow = codec::flow_from_id(flow_text);
  http::Response resp;
  if (!flow) {
    resp = reject(404, "UNKNOWN_FLOW", "unknown flow; expected one of the six BCSS flow ids",
                  "flow", "unknown");
  } else if (is_batch) {
    resp = co_await batch(req, *flow);
  } else {
    resp = co_await single(req, *flow);
  }
  requests_
      .with({flow ? flow_text : std::string("unknown"), is_batch ? "batch" : "single",
             std::to_string(resp.status)})
      .inc();
  co_return resp;
}

asio::awaitable<http::Response> Service::single(http::Request& req, relais::v1::Flow flow) {
  std::string_view fid = codec::flow_id(flow);
  auto ct = req.content_type();
  relais::v1::Notification n;
  codec::Limits limits;
  limits.max_body = o_.max_body_bytes;
  std::optional<validation::Error> err;
  if (ct == "application/json") {
    err = codec::decode_and_validate_json(flow, req.body, n, limits);
  } else if (ct == "application/x-protobuf" || ct == "application/protobuf") {
    err = codec::decode_and_validate_protobuf(flow, req.body, n, limits);
  } else {
    co_return reject(415, "UNSUPPORTED_MEDIA_TYPE",
                     "use application/json or application/x-protobuf", "Content-Type", fid);
  }
  if (err) {
    logger.debug("notification refused",
                 {{"flow", fid}, {"code", err->code}, {"field", err->field}});
    co_return reject(400, err->code, err->message, err->field, fid);
  }
  if (auto refused = co_await deliver_one(n, fid, ct, {})) {
    co_return busy(refused->status, refused->code, refused->message, fid);
  }
  boost::json::object body{{"ticket", n.envelope().ticket()}, {"status", "accepted"}};
  http::Response resp;
  resp.status = 202;
  resp.body = boost::json::serialize(body);
  co_return resp;
}

asio::awaitable<std::optional<Service::Refusal>> Service::deliver_one(relais::v1::Notification& n,
                                                                      std::string_view fid,
                                                                      std::string_view content_type,
                                                                      std::string_view raw) {
  if (producer_.brokers_down())
    co_return Refusal{503, "KAFKA_UNAVAILABLE", "the message broker is unreachable; retry later"};
  if (in_flight_.fetch_add(1) + 1 > o_.max_in_flight) {
    in_flight_.fetch_sub(1);
    co_return Refusal{429, "TOO_MANY_IN_FLIGHT",
                      "too many notifications waiting for the broker; retry later"};
  }
  in_flight_gauge_.inc();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Record> records;
  records.push_back(make_record(n, fid, content_type, raw));
  auto results = co_await deliver_all(producer_, o_.topic, std::move(records));
  in_flight_.fetch_sub(1);
  in_flight_gauge_.dec();
  const auto& r = results.front();
  if (!r.ok()) {
    logger.warn("broker did not acknowledge",
                {{"ticket", n.envelope().ticket()}, {"error", r.error.message}});
    co_return Refusal{503, "KAFKA_UNAVAILABLE",
                      "the message broker did not acknowledge the notification; retry later"};
  }
  ack_seconds_.observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  accepted_.with({std::string(fid)}).inc();
  logger.debug("notification accepted", {{"ticket", n.envelope().ticket()}, {"flow", fid}});
  co_return std::nullopt;
}

asio::awaitable<http::Response> Service::soap(http::Request& req) {
  const auto ct = req.content_type();
  http::Response resp;
  auto count = [&](std::string_view flow) {
    requests_
        .with({flow.empty() ? std::string("unknown") : std::string(flow), "soap",
               std::to_string(resp.status)})
        .inc();
  };
  // SOAP 1.1 is text/xml, SOAP 1.2 application/soap+xml; application/xml is taken too.
  if (ct != "text/xml" && ct != "application/soap+xml" && ct != "application/xml") {
    resp = reject(415, "UNSUPPORTED_MEDIA_TYPE",
                  "SOAP requests are text/xml (1.1) or application/soap+xml (1.2)", "Content-Type",
                  "unknown");
    count({});
    co_return resp;
  }
  codec::Limits limits;
  limits.max_body = o_.max_body_bytes;
  auto d =
      soap_->decode(req.body, limits,
                    ct == "application/soap+xml" ? soap::Version::soap12 : soap::Version::soap11);
  resp.content_type = std::string(soap::content_type(d.version));
  if (!d.ok) {
    rejected_.with({d.flow_id.empty() ? std::string("unknown") : d.flow_id, d.code}).inc();
    resp.status = d.status;
    resp.body = std::move(d.answer);
    count(d.flow_id);
    co_return resp;
  }
  if (auto refused =
          co_await deliver_one(d.notification, d.flow_id, "application/soap+xml", req.body)) {
    backpressure_.with({refused->code}).inc();
    resp.status = refused->status;
    resp.body = SoapGateway::busy(d.version, refused->code, refused->message);
    resp = retry_after(std::move(resp), o_.retry_after_seconds);
    count(d.flow_id);
    co_return resp;
  }
  resp.status = 200;
  resp.body = SoapGateway::accepted(d.version, d.notification.envelope().ticket());
  count(d.flow_id);
  co_return resp;
}

asio::awaitable<http::Response> Service::batch(http::Request& req, relais::v1::Flow flow) {
  std::string_view fid = codec::flow_id(flow);
  auto ct = req.content_type();
  if (ct != "application/x-ndjson" && ct != "application/jsonl")
    co_return reject(415, "UNSUPPORTED_MEDIA_TYPE", "batches are application/x-ndjson",
                     "Content-Type", fid);
  std::vector<codec::Line> lines;
  if (auto e = codec::split_lines(req.body, o_.max_batch_lines, lines))
    co_return reject(413, e->code, e->message, e->field, fid);

  codec::Limits limits;
  limits.max_body = o_.max_body_bytes;
  struct Item {
    std::size_t line;
    std::string ticket;
    std::optional<validation::Error> error;
    bool duplicate = false;
    int record = -1;
  };
  std::vector<Item> items;
  items.reserve(lines.size());
  std::vector<Record> records;
  records.reserve(lines.size());
  // Lines already taken, by (ticket, SSIN), with their content fingerprint: the same ticket for
  // another person is another notification (produced); for the same person with the same
  // content, a duplicate (produced once); with other content, refused (TICKET_REUSED), never
  // merged into the first (issue 21), as the router refuses it across batches.
  std::unordered_map<std::string, std::uint64_t> seen;
  std::size_t rejected = 0, dupes = 0;
  // Each line is decoded into an arena that is reset before the next: its messages and strings
  // are not allocated and freed one by one (that was about a sixth of relais-ingest's CPU,
  // docs/performance.md "relais-ingest alone"). The line's record is serialized before the reset.
  // A line larger than the first block takes more blocks, freed at the next reset.
  std::vector<char> first_block(kArenaBlockBytes);
  pb::ArenaOptions ao;
  ao.initial_block = first_block.data();
  ao.initial_block_size = first_block.size();
  pb::Arena arena(ao);
  for (const auto& line : lines) {
    arena.Reset();
    auto& n = *pb::Arena::CreateMessage<relais::v1::Notification>(&arena);
    Item it{line.number, {}, std::nullopt};
    it.error = codec::decode_and_validate_json(flow, line.text, n, limits);
    if (it.error) {
      rejected_.with({std::string(fid), it.error->code}).inc();
      ++rejected;
      // Name the ticket when the line got far enough to have one.
      it.ticket = n.envelope().ticket();
      if (it.ticket.empty()) it.ticket = ticket_of_line(line.text, o_.max_body_bytes);
    } else {
      it.ticket = n.envelope().ticket();
      std::string key = it.ticket;
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      key += '/';
      key += n.envelope().ssin();
      const auto content = fingerprint::content(n);
      auto [pos, first] = seen.try_emplace(std::move(key), content);
      if (first) {
        it.record = static_cast<int>(records.size());
        records.push_back(make_record(n, fid, ct));
      } else if (pos->second == content) {
        it.duplicate = true;
        ++dupes;
        duplicates_.inc();
      } else {
        it.error = validation::Error{
            std::string(kTicketReused),
            "an earlier line of this batch has this ticket for this person with other content",
            "ticket"};
        rejected_.with({std::string(fid), it.error->code}).inc();
        ++rejected;
      }
    }
    items.push_back(std::move(it));
  }
  if (!records.empty()) {
    if (producer_.brokers_down())
      co_return busy(503, "KAFKA_UNAVAILABLE", "the message broker is unreachable; retry later",
                     fid);
    // A batch larger than the bound is still taken when nothing else is waiting.
    auto before = in_flight_.fetch_add(records.size());
    if (before > 0 && before + records.size() > o_.max_in_flight) {
      in_flight_.fetch_sub(records.size());
      co_return busy(429, "TOO_MANY_IN_FLIGHT",
                     "too many notifications waiting for the broker; retry later", fid);
    }
  }
  std::size_t n_records = records.size();
  in_flight_gauge_.inc(static_cast<double>(n_records));
  auto results = co_await deliver_all(producer_, o_.topic, std::move(records));
  in_flight_.fetch_sub(n_records);
  in_flight_gauge_.dec(static_cast<double>(n_records));
  std::size_t failed = 0;
  for (const auto& r : results)
    if (!r.ok()) ++failed;
  if (failed > 0) {
    // Some lines may be in Kafka, some not: the client re-posts the whole
    // batch, and the tickets already accepted are deduplicated by the router.
    logger.warn("batch not fully acknowledged",
                {{"flow", fid}, {"failed", failed}, {"lines", lines.size()}});
    co_return busy(503, "KAFKA_UNAVAILABLE",
                   "the message broker did not acknowledge every line; re-post the batch (tickets "
                   "make it safe)",
                   fid);
  }
  accepted_.with({std::string(fid)}).inc(static_cast<double>(n_records));
  boost::json::array arr;
  arr.reserve(items.size());
  for (const auto& it : items) {
    boost::json::object o{{"line", it.line}};
    if (!it.ticket.empty()) o["ticket"] = it.ticket;
    if (it.error) {
      o["status"] = 400;
      boost::json::object e{{"code", it.error->code}, {"message", it.error->message}};
      if (!it.error->field.empty()) e["field"] = it.error->field;
      o["error"] = std::move(e);
    } else {
      o["status"] = 202;
      if (it.duplicate) o["duplicate"] = true;
    }
    arr.push_back(std::move(o));
  }
  boost::json::object body{{"accepted", n_records},
                           {"duplicates", dupes},
                           {"rejected", rejected},
                           {"items", std::move(arr)}};
  http::Response resp;
  resp.status = 200;
  resp.body = boost::json::serialize(body);
  co_return resp;
}

}  // namespace relais::ingest
