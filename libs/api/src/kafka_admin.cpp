#include "relais/api/kafka_admin.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace relais::api {
namespace asio = boost::asio;

KafkaAdmin::KafkaAdmin(kafka::Settings settings, int partitions, int replication_factor,
                       std::chrono::milliseconds timeout, std::size_t threads)
    : settings_(std::move(settings)),
      partitions_(partitions),
      replication_factor_(replication_factor),
      timeout_(timeout),
      threads_(threads) {}

KafkaAdmin::~KafkaAdmin() {
  threads_.join();
}

asio::awaitable<std::optional<std::string>> KafkaAdmin::ensure_cpas_topic(const std::string& cbe) {
  using Result = std::optional<std::string>;
  return asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
      [this](auto handler, std::string topic) {
        auto work = asio::make_work_guard(asio::get_associated_executor(handler));
        asio::post(threads_, [this, topic = std::move(topic), handler = std::move(handler),
                              work = std::move(work)]() mutable {
          Result error;
          try {
            error = kafka::ensure_topics(settings_, {topic}, partitions_, replication_factor_,
                                         timeout_);
          } catch (const std::exception& e) {
            error = e.what();
          }
          asio::post(work.get_executor(),
                     [handler = std::move(handler), error = std::move(error)]() mutable {
                       std::move(handler)(std::move(error));
                     });
        });
      },
      asio::use_awaitable, "cpas." + cbe + ".notifications.v1");
}

}  // namespace relais::api
