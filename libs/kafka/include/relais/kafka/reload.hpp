// Kafka client certificates read again without a restart. librdkafka reads its TLS files
// (ssl.certificate.location, ssl.key.location, ssl.ca.location) only when a client is created
// and cannot swap them in a live handle: the way is to create each client again with the same
// settings. A service owns one `Reloads`; its long-lived clients (Producer, the router's lanes,
// the sinks' consumers, relais-api's Admin) follow it through a `ReloadWatch` and are made again
// at their next safe point (a producer after draining its old client, a transactional lane between
// two transactions, a sink's consumer between two batches) on their own threads, never on the
// signal's. Before asking, the service checks the new files (`check_client_files`): unusable
// files keep the clients in use.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

namespace relais::kafka {

struct Security;  // security.hpp (which includes client.hpp, which includes this header)

// What reading the TLS files of `Security` found: the facts `judge_client_files` decides on.
struct ClientFileFacts {
  // The first file that could not be read or parsed, with why ("kafka.ssl_key_file: cannot read
  // /etc/relais/kafka.key: ..."); empty when every named file was read.
  std::string unreadable;
  bool has_certificate = false;  // a client certificate is named (and was read)
  bool key_matches = false;      // its private key is the certificate's
  std::time_t not_before = 0;    // the certificate's validity (UTC seconds)
  std::time_t not_after = 0;
};

// Reads the CA bundle, the client certificate and its key that `sec` names (OpenSSL): a thin
// shell; files that are not named are not read.
ClientFileFacts read_client_files(const Security& sec);

// Pure: nothing when the files may replace those in use, else why not, naming the file: one
// unreadable, a key that is not the certificate's, a certificate expired or not valid yet.
std::optional<std::string> judge_client_files(const Security& sec, const ClientFileFacts& facts,
                                              std::time_t now);

// read_client_files then judge_client_files.
std::optional<std::string> check_client_files(const Security& sec, std::time_t now);

// True when `sec` names TLS files a reload would read again (a protocol over TLS with a CA
// bundle or a client certificate); plaintext and SASL without files have nothing to reload.
bool has_client_files(const Security& sec);

// A service's reload requests: a generation that `request()` advances. Thread-safe; must outlive
// the clients that follow it.
class Reloads {
 public:
  std::uint64_t generation() const { return generation_.load(); }
  // Every client that follows this object is made again at its next safe point.
  void request() { generation_.fetch_add(1); }

 private:
  std::atomic<std::uint64_t> generation_{0};
};

// A client owner's view of a `Reloads` (none: never due). Used on one thread.
class ReloadWatch {
 public:
  explicit ReloadWatch(const Reloads* reloads = nullptr)
      : reloads_(reloads), seen_(reloads ? reloads->generation() : 0) {}
  // True once per reload requested since the last time it was true (or since construction).
  bool due() {
    if (!reloads_) return false;
    const auto g = reloads_->generation();
    if (g == seen_) return false;
    seen_ = g;
    return true;
  }

 private:
  const Reloads* reloads_;
  std::uint64_t seen_;
};

}  // namespace relais::kafka
