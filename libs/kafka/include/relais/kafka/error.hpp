// One error vocabulary for every Kafka call in Relais. librdkafka reports an error as a code
// plus, for the transactional API, three facts (fatal, retriable, requires an abort); the
// layer turns them into a kafka::errc once, here, so that no caller matches codes or strings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace relais::kafka {

enum class errc {
  none,              // success
  timed_out,         // nothing within the deadline (a poll without a record, a request)
  partition_eof,     // a consumer reached the end of a partition (enable.partition.eof)
  queue_full,        // the producer's local queue is full: poll and try again
  retriable,         // the same call may succeed if made again (transactional API)
  abortable,         // the transaction must be aborted, then the producer is usable again
  fenced,            // another producer or group member with the same id took over: fatal
  fatal,             // the client is unusable: create it again
  unknown_topic,     // the topic or partition does not exist (yet)
  brokers_down,      // no broker reachable
  transport,         // a connection failed; librdkafka reconnects by itself
  invalid_argument,  // a call or setting Kafka refuses as such
  other,
};

std::string_view errc_name(errc e);

// What librdkafka says about one error. `code` is an rd_kafka_resp_err_t value.
struct ErrorFacts {
  int code = 0;
  bool fatal = false;
  bool retriable = false;
  bool txn_requires_abort = false;
};

// The classification, a pure function of the facts: fencing first (a fenced producer or a
// static member replaced by its own restart), then fatal, abortable, retriable, and for plain
// codes (consume, produce) the code itself.
errc classify(const ErrorFacts& f);

struct Error {
  errc kind = errc::none;
  int code = 0;         // librdkafka's code (rd_kafka_resp_err_t), 0 for none
  std::string message;  // librdkafka's text, for logs

  explicit operator bool() const { return kind != errc::none; }
  bool ok() const { return kind == errc::none; }
  // Fenced or fatal: the client must be created again.
  bool fatal() const { return kind == errc::fatal || kind == errc::fenced; }
};

// An Error from the facts and a message; the message defaults to librdkafka's text for the code.
Error make_error(const ErrorFacts& f, std::string message = {});
// An Error from a plain code (no transactional facts).
Error make_error(int code, std::string message = {});
// librdkafka's text for a code.
std::string code_text(int code);

}  // namespace relais::kafka
