#include "relais/kafka/error.hpp"

#include <librdkafka/rdkafka.h>

namespace relais::kafka {

std::string_view errc_name(errc e) {
  switch (e) {
    case errc::none:
      return "none";
    case errc::timed_out:
      return "timed_out";
    case errc::partition_eof:
      return "partition_eof";
    case errc::queue_full:
      return "queue_full";
    case errc::retriable:
      return "retriable";
    case errc::abortable:
      return "abortable";
    case errc::fenced:
      return "fenced";
    case errc::fatal:
      return "fatal";
    case errc::unknown_topic:
      return "unknown_topic";
    case errc::brokers_down:
      return "brokers_down";
    case errc::transport:
      return "transport";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::other:
      return "other";
  }
  return "other";
}

errc classify(const ErrorFacts& f) {
  switch (f.code) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return errc::none;
    case RD_KAFKA_RESP_ERR__FENCED:  // librdkafka's own: always fatal
      return errc::fenced;
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
      if (f.fatal) return errc::fenced;
      break;
    default:
      break;
  }
  if (f.fatal) return errc::fatal;
  if (f.txn_requires_abort) return errc::abortable;
  if (f.retriable) return errc::retriable;
  switch (f.code) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return errc::timed_out;
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return errc::partition_eof;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return errc::queue_full;
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return errc::unknown_topic;
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
      return errc::brokers_down;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
      return errc::transport;
    case RD_KAFKA_RESP_ERR__FATAL:  // a consumer's or producer's fatal error surfaced as a code
      return errc::fatal;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
      return errc::invalid_argument;
    default:
      return errc::other;
  }
}

std::string code_text(int code) {
  return rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(code));
}

Error make_error(const ErrorFacts& f, std::string message) {
  Error e{classify(f), f.code, std::move(message)};
  if (e.kind != errc::none && e.message.empty()) e.message = code_text(f.code);
  return e;
}

Error make_error(int code, std::string message) {
  return make_error(ErrorFacts{code}, std::move(message));
}

}  // namespace relais::kafka
