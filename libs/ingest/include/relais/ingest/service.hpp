// relais-ingest's HTTP handlers: decode and validate a notification (or an
// NDJSON batch), write it to relais.inbound.v1 and answer only once the
// broker has acknowledged it (acks=all, idempotent producer).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "relais/codec/decode.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/router.hpp"
#include "relais/http/server.hpp"
#include "relais/ingest/soap.hpp"
#include "relais/kafka/client.hpp"

namespace relais::ingest {

// One inbound record as produced to relais.inbound.v1: key = SSIN, headers
// flow/ticket/content-type. make_record stamps accepted_at_us and serializes.
struct Record {
  std::string key;
  std::string value;
  std::vector<kafka::Header> headers;
};
// `raw` (when not empty): the request body as received, kept byte for byte in a "raw" header
// (the SOAP form: what BCSS sent, readable by a CPAS application whatever Relais models).
Record make_record(relais::v1::Notification& n, std::string_view flow,
                   std::string_view content_type, std::string_view raw = {});

// The ticket of a refused batch line, read on its own (a plain JSON parse of the line, at most
// `max_bytes`), so that the report names it even when decoding stopped before the envelope was
// filled; empty unless "ticket" of a JSON object is a valid UUID.
std::string ticket_of_line(std::string_view text, std::size_t max_bytes);

struct Options {
  std::string topic = "relais.inbound.v1";
  std::size_t max_body_bytes = std::size_t{64} * 1024;          // one notification
  std::size_t max_batch_bytes = std::size_t{32} * 1024 * 1024;  // one NDJSON batch
  std::size_t max_batch_lines = 100000;
  std::size_t max_in_flight = 200000;  // records waiting for the broker
  int retry_after_seconds = 2;
};

class Service {
 public:
  Service(Options o, kafka::Producer& producer, metrics::Registry& m);
  // Adds the ingest routes to `router` (POST /v1/soap too when a SOAP gateway is given).
  void add_routes(http::Router& router);
  // The SOAP boundary (ingest.soap.*); must outlive the service.
  void set_soap(const SoapGateway* gateway) { soap_ = gateway; }
  // Body limit for a request, from its path (batches get more; POST /v1/soap is read up to
  // kSoapReadFactor times max_body_bytes, so that a document over the limit gets a SOAP Fault).
  static constexpr std::size_t kSoapReadFactor = 4;
  std::size_t body_limit(const http::Request& header_only) const;
  std::size_t in_flight() const { return in_flight_.load(); }
  bool broker_ok() const { return !producer_.brokers_down(); }

  boost::asio::awaitable<http::Response> post(http::Request& req);

 private:
  boost::asio::awaitable<http::Response> single(http::Request& req, relais::v1::Flow flow);
  boost::asio::awaitable<http::Response> soap(http::Request& req);
  // Produces one decoded notification and waits for the broker: nullopt once acknowledged,
  // else the busy answer's code and message (KAFKA_UNAVAILABLE, TOO_MANY_IN_FLIGHT) and status.
  struct Refusal {
    unsigned status;
    std::string code, message;
  };
  boost::asio::awaitable<std::optional<Refusal>> deliver_one(relais::v1::Notification& n,
                                                             std::string_view fid,
                                                             std::string_view content_type,
                                                             std::string_view raw);
  boost::asio::awaitable<http::Response> batch(http::Request& req, relais::v1::Flow flow);
  http::Response reject(unsigned status, std::string_view code, std::string_view message,
                        std::string_view field, std::string_view flow);
  http::Response busy(unsigned status, std::string_view code, std::string_view message,
                      std::string_view flow);

  Options o_;
  kafka::Producer& producer_;
  const SoapGateway* soap_ = nullptr;
  std::atomic<std::size_t> in_flight_{0};
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Counter>& accepted_;
  metrics::Family<metrics::Counter>& rejected_;
  metrics::Family<metrics::Counter>& backpressure_;
  metrics::Counter& duplicates_;
  metrics::Gauge& in_flight_gauge_;
  metrics::Histogram& ack_seconds_;
};

}  // namespace relais::ingest
