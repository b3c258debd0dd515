// relais-ingest's handlers in-process (http::Server on an ephemeral port)
// against the real broker: 202 only once the record is in Kafka, batch
// reports, and 503 / 429 with Retry-After when the broker is dead or the
// in-flight bound is reached.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <future>
#include <iostream>
#include <map>
#include <set>

#include "relais/codec/samples.hpp"
#include "relais/common/metrics.hpp"
#include "relais/http/client.hpp"
#include "relais/http/router.hpp"
#include "relais/ingest/service.hpp"
#include "relais/v1/records.pb.h"
#include "support.hpp"

namespace relais::itest {
namespace {

namespace json = boost::json;
using http::verb;

// An ingest service with its own producer and server.
struct Ingest {
  Ingest(kafka::Settings producer_settings, ingest::Options o) {
    std::string err;
    producer = kafka::Producer::create(producer_settings, err);
    if (!producer) throw std::runtime_error("producer: " + err);
    service = std::make_unique<ingest::Service>(o, *producer, registry);
    service->add_routes(routes);
    auto* svc = service.get();
    server = std::make_unique<InProcessServer>(
        routes.handler(), [svc](const http::Request& r) { return svc->body_limit(r); });
  }
  ~Ingest() {
    server.reset();
    service.reset();
    producer.reset();
  }
  http::ClientResponse post(const std::string& target, const std::string& body,
                            const std::string& ct, std::chrono::milliseconds timeout = 30s) {
    return http::request("127.0.0.1", server->port(), verb::post, target, body, ct, {}, timeout);
  }
  metrics::Registry registry;
  std::unique_ptr<kafka::Producer> producer;
  std::unique_ptr<ingest::Service> service;
  http::Router routes;
  std::unique_ptr<InProcessServer> server;
};

// A local TCP port with nothing listening on it.
unsigned short closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

std::string one_line(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\n'), s.end());
  return s;
}

class IngestTest : public IntegrationTest {};

TEST_F(IngestTest, AcceptedOnlyOnceTheRecordIsInKafka) {
  auto topic = unique_topic("inbound");
  create_topics({topic}, 3);
  ingest::Options o;
  o.topic = topic;
  Ingest in(kafka_settings({{"linger.ms", "5"}}), o);

  auto ticket = uuid(), ssin = random_ssin();
  auto t0 = std::chrono::steady_clock::now();
  auto r = in.post("/v1/notifications/notify-person",
                   codec::sample_json(v1::FLOW_NOTIFY_PERSON, ticket, ssin, "2024-05-01"),
                   "application/json");
  auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.status, 202u) << r.body;
  auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("ticket").as_string(), ticket);
  std::cout << "[ MEASURE  ] single POST answered 202 in " << ms << " ms" << std::endl;

  // The protobuf form too.
  auto ticket2 = uuid();
  auto r2 = in.post("/v1/notifications/notify-person",
                    codec::sample_protobuf(v1::FLOW_NOTIFY_PERSON, ticket2, ssin, "2024-05-02"),
                    "application/x-protobuf");
  ASSERT_EQ(r2.status, 202u) << r2.body;

  // Read right after the answer, without waiting: a 202 means the broker has it.
  auto recs = read_topic(topic);
  ASSERT_EQ(recs.size(), 2u);
  std::map<std::string, Record> by_ticket;
  for (auto& rec : recs) by_ticket[rec.ticket] = rec;
  ASSERT_TRUE(by_ticket.contains(ticket));
  ASSERT_TRUE(by_ticket.contains(ticket2));
  const auto& rec = by_ticket[ticket];
  EXPECT_EQ(rec.key, ssin) << "the key is the SSIN";
  EXPECT_EQ(rec.flow, "notify-person");
  EXPECT_EQ(rec.content_type, "application/x-protobuf");
  EXPECT_EQ(by_ticket[ticket2].partition, rec.partition)
      << "one person's events stay in one partition";
  v1::Notification n;
  ASSERT_TRUE(n.ParseFromString(rec.value));
  EXPECT_EQ(n.flow(), v1::FLOW_NOTIFY_PERSON);
  EXPECT_EQ(n.envelope().ticket(), ticket);
  EXPECT_EQ(n.envelope().ssin(), ssin);
  EXPECT_EQ(n.envelope().effective_date(), "2024-05-01");
  EXPECT_TRUE(n.has_notify_person());
  EXPECT_GT(n.accepted_at_us(), 0);

  // Invalid input is refused and writes nothing.
  auto bad =
      in.post("/v1/notifications/notify-person",
              codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), "12345678901", "2024-05-01"),
              "application/json");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(std::string(json::parse(bad.body).at("field").as_string()), "ssin") << bad.body;
  EXPECT_EQ(in.post("/v1/notifications/no-such-flow", "{}", "application/json").status, 404u);
  EXPECT_EQ(in.post("/v1/notifications/notify-person", "{}", "text/plain").status, 415u);
  EXPECT_EQ(in.post("/v1/notifications/notify-person", std::string(o.max_body_bytes + 1, ' '),
                    "application/json")
                .status,
            413u);
  EXPECT_EQ(read_topic(topic).size(), 2u);
}

TEST_F(IngestTest, BatchReportsCountsAndWritesEveryValidLine) {
  auto topic = unique_topic("inbound");
  create_topics({topic}, 3);
  ingest::Options o;
  o.topic = topic;
  Ingest in(kafka_settings({{"linger.ms", "5"}}), o);

  std::vector<std::string> tickets, lines;
  std::string body;
  for (int i = 0; i < 3; ++i) {
    tickets.push_back(uuid());
    lines.push_back(one_line(
        codec::sample_json(v1::FLOW_NOTIFY_PERSON, tickets.back(), random_ssin(), "2024-05-01")));
    body += lines.back() + "\n";
  }
  auto bad_ticket = uuid();
  body += one_line(
              codec::sample_json(v1::FLOW_NOTIFY_PERSON, bad_ticket, "12345678901", "2024-05-01")) +
          "\n";             // line 4
  body += lines[0] + "\n";  // line 5: line 1 again (same ticket, person and content): a duplicate
  body += "{not json\n";    // line 6
  auto r = in.post("/v1/notifications/notify-person:batch", body, "application/x-ndjson");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto rep = json::parse(r.body).as_object();
  EXPECT_EQ(rep.at("accepted").to_number<int>(), 3);
  EXPECT_EQ(rep.at("duplicates").to_number<int>(), 1);
  EXPECT_EQ(rep.at("rejected").to_number<int>(), 2);
  const auto& items = rep.at("items").as_array();
  ASSERT_EQ(items.size(), 6u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(items[i].at("line").to_number<int>(), i + 1);
    EXPECT_EQ(items[i].at("status").to_number<int>(), 202);
    EXPECT_EQ(items[i].at("ticket").as_string(), tickets[i]);
  }
  EXPECT_EQ(items[3].at("status").to_number<int>(), 400);
  EXPECT_EQ(items[3].at("error").at("field").as_string(), "ssin");
  EXPECT_EQ(items[4].at("status").to_number<int>(), 202);
  EXPECT_TRUE(items[4].as_object().contains("duplicate"));
  EXPECT_EQ(items[5].at("status").to_number<int>(), 400);
  EXPECT_EQ(items[5].at("line").to_number<int>(), 6);

  auto recs = read_topic(topic);
  std::set<std::string> on_topic;
  for (const auto& rec : recs) on_topic.insert(rec.ticket);
  EXPECT_EQ(recs.size(), 3u) << "exactly the three valid, distinct lines";
  EXPECT_EQ(on_topic, std::set<std::string>(tickets.begin(), tickets.end()));
  EXPECT_FALSE(on_topic.contains(bad_ticket));
}

TEST_F(IngestTest, DeadBrokerGets503WithRetryAfterNever2xx) {
  auto topic = unique_topic("inbound");
  ingest::Options o;
  o.topic = topic;
  auto port = closed_port();
  Ingest in(
      {{"bootstrap.servers", "127.0.0.1:" + std::to_string(port)}, {"message.timeout.ms", "2000"}},
      o);

  for (int i = 0; i < 2; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r =
        in.post("/v1/notifications/notify-person",
                codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), random_ssin(), "2024-05-01"),
                "application/json", 15s);
    auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(r.status >= 200 && r.status < 300)
        << "a notification the broker does not hold got " << r.status;
    EXPECT_EQ(r.status, 503u) << r.body;
    EXPECT_FALSE(r.header("Retry-After").empty()) << "503 must carry Retry-After";
    EXPECT_EQ(std::string(json::parse(r.body).at("code").as_string()), "KAFKA_UNAVAILABLE");
    std::cout << "[ MEASURE  ] dead broker: attempt " << i + 1 << " answered " << r.status << " in "
              << ms << " ms" << std::endl;
  }
  // A batch too.
  std::string body;
  for (int i = 0; i < 3; ++i)
    body +=
        one_line(codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), random_ssin(), "2024-05-01")) +
        "\n";
  auto b = in.post("/v1/notifications/notify-person:batch", body, "application/x-ndjson", 15s);
  EXPECT_EQ(b.status, 503u) << b.body;
  EXPECT_FALSE(b.header("Retry-After").empty());
}

TEST_F(IngestTest, InFlightBoundGives429WithRetryAfter) {
  auto topic = unique_topic("inbound");
  create_topics({topic}, 1);
  ingest::Options o;
  o.topic = topic;
  o.max_in_flight = 0;
  Ingest in(kafka_settings(), o);
  auto r = in.post("/v1/notifications/notify-person",
                   codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), random_ssin(), "2024-05-01"),
                   "application/json");
  EXPECT_EQ(r.status, 429u) << r.body;
  EXPECT_FALSE(r.header("Retry-After").empty());
  EXPECT_EQ(std::string(json::parse(r.body).at("code").as_string()), "TOO_MANY_IN_FLIGHT");
  EXPECT_EQ(read_topic(topic).size(), 0u) << "a refused notification is not written";
  EXPECT_EQ(in.service->in_flight(), 0u);
}

// A broker that accepts TCP connections and never answers (the kernel completes
// the handshakes in the listen backlog; nobody reads): deliveries hang until
// message.timeout.ms, holding their in-flight slots meanwhile.
TEST_F(IngestTest, SlowBrokerInFlightBoundGives429ThenTheHeldRequestGets503) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor blackhole(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  blackhole.listen(64);
  ingest::Options o;
  o.topic = unique_topic("inbound");
  o.max_in_flight = 1;
  Ingest in(
      {{"bootstrap.servers", "127.0.0.1:" + std::to_string(blackhole.local_endpoint().port())},
       {"message.timeout.ms", "3000"}},
      o);
  auto t0 = std::chrono::steady_clock::now();
  auto first = std::async(std::launch::async, [&] {
    return in.post("/v1/notifications/notify-person",
                   codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), random_ssin(), "2024-05-01"),
                   "application/json", 15s);
  });
  ASSERT_TRUE(eventually([&] { return in.service->in_flight() == 1u; }, 2s, 2ms))
      << "the first request is not in flight";
  auto second =
      in.post("/v1/notifications/notify-person",
              codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), random_ssin(), "2024-05-01"),
              "application/json", 15s);
  EXPECT_EQ(second.status, 429u) << second.body;
  EXPECT_FALSE(second.header("Retry-After").empty());
  std::string two;
  for (int i = 0; i < 2; ++i)
    two +=
        one_line(codec::sample_json(v1::FLOW_NOTIFY_PERSON, uuid(), random_ssin(), "2024-05-01")) +
        "\n";
  auto batch = in.post("/v1/notifications/notify-person:batch", two, "application/x-ndjson", 15s);
  EXPECT_EQ(batch.status, 429u) << batch.body;
  EXPECT_FALSE(batch.header("Retry-After").empty());
  EXPECT_EQ(first.wait_for(0ms), std::future_status::timeout)
      << "the first request cannot have been answered yet";
  auto f = first.get();
  auto ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(f.status >= 200 && f.status < 300)
      << "never 2xx for a record the broker does not hold";
  EXPECT_EQ(f.status, 503u) << f.body;
  EXPECT_FALSE(f.header("Retry-After").empty());
  std::cout << "[ MEASURE  ] silent broker: held request answered " << f.status << " after " << ms
            << " ms" << std::endl;
  EXPECT_EQ(in.service->in_flight(), 0u);
}

}  // namespace
}  // namespace relais::itest
