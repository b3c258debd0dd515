// relais-api's Kafka admin calls (creating a new CPAS's topics) on their own thread, never on
// the PostgreSQL pool's: a slow or unreachable broker (each call waits up to its timeout) does
// not hold a database connection nor delay the directory's queries.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "relais/kafka/client.hpp"

namespace relais::api {

class KafkaAdmin {
 public:
  KafkaAdmin(kafka::Settings settings, int partitions, int replication_factor,
             std::chrono::milliseconds timeout = std::chrono::seconds(10), std::size_t threads = 1);
  ~KafkaAdmin();
  KafkaAdmin(const KafkaAdmin&) = delete;
  KafkaAdmin& operator=(const KafkaAdmin&) = delete;

  // Creates cpas.<cbe>.notifications.v1 when missing, on the admin thread; resumes the caller on
  // its own executor. The error message of the broker, or nullopt (created or already there).
  boost::asio::awaitable<std::optional<std::string>> ensure_cpas_topic(const std::string& cbe);
  // The admin thread, for the other Kafka admin work of relais-api (subscriber health).
  boost::asio::thread_pool::executor_type executor() { return threads_.get_executor(); }

 private:
  kafka::Settings settings_;
  int partitions_, replication_factor_;
  std::chrono::milliseconds timeout_;
  boost::asio::thread_pool threads_;
};

}  // namespace relais::api
