// HTTP/1.1 server for the Relais services: one coroutine per connection on its
// own strand, optional TLS (with client-certificate verification), keep-alive,
// timeouts on every read and write, header/body limits, connection caps (total
// and per client), a per-client request rate, metrics, and a graceful stop. Knows nothing about
// business logic: a Handler (usually Router::handler()) turns a Request into a Response.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace relais::metrics {
class Registry;
}

namespace relais::http {

using verb = boost::beast::http::verb;

struct Request {
  verb method = verb::unknown;
  std::string method_string;  // as sent (useful when method == verb::unknown)
  std::string target;         // raw request target
  std::string path;  // percent-decoded path, no query (a decoded "%2F" is ambiguous here; Router
                     // matches on decoded *segments*, so captures may contain '/')
  std::vector<std::pair<std::string, std::string>> query;  // decoded ('+' is a space), in order
  boost::beast::http::fields headers;                      // case-insensitive lookup
  std::string body;
  std::string remote_address;                 // "ip:port" of the peer ("[v6]:port" for IPv6)
  std::map<std::string, std::string> params;  // route captures, filled by Router
  std::string route;  // matched route pattern, filled by Router; used as the metrics label
  // With TLS and a verified client certificate: its subject ("CN=bcss-sender,O=…"); else "".
  std::string client_identity;

  // First value of a query parameter, if present (a key without '=' yields "").
  std::optional<std::string_view> query_param(std::string_view name) const;
  // Header value, "" when absent. Case-insensitive name.
  std::string header(std::string_view name) const;
  // Media type of Content-Type, lowercased, parameters and whitespace stripped ("" when absent).
  std::string content_type() const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Extra headers (e.g. Retry-After, Allow, Location). Content-Length and Transfer-Encoding are
  // owned by the server and ignored here; "Connection: close" makes the server close afterwards.
  // Headers whose name or value contain CR/LF are dropped.
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"code": code, "message": message, "field": field} ("field" omitted when empty), serialized with
// boost::json so any input is escaped correctly.
Response json_error(unsigned status, std::string_view code, std::string_view message,
                    std::string_view field = {});

// Handlers are coroutines. The Request reference stays valid until the returned awaitable
// completes. Exceptions thrown by a handler become a 500 {"code":"INTERNAL"} (text never leaked).
// A handler may run concurrently on several threads (one call per connection at a time).
using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

// TLS for a listener (OpenSSL through Boost.Asio): TLS 1.2 and 1.3 only, PEM files read at start()
// and again by Server::reload_tls() (services: on SIGHUP).
struct TlsOptions {
  std::string cert_file;  // server certificate chain (leaf first)
  std::string key_file;   // its private key (unencrypted PEM)
  std::string
      client_ca_file;  // CA(s) client certificates must chain to; "" = no client verification
  bool require_client_cert = false;  // refuse the handshake without a valid client certificate
  // When not empty, the verified client certificate's subject CN or one of its DNS SANs must be one
  // of these (exact match), or the handshake is refused.
  std::vector<std::string> allowed_client_names;
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0 = ephemeral (tests); see Server::port()
  std::size_t max_header_bytes =
      std::size_t{16} * 1024;          // request line + headers; over → 431 and close
  std::size_t max_header_count = 100;  // header fields; over → 431 and close
  // Decided per request once the header is read (Request has no body yet; params/route empty).
  // Over → 413 {"code":"BODY_TOO_LARGE"} and close. Empty function → 1 MiB.
  std::function<std::size_t(const Request& header_only)> body_limit;
  // When set, used instead of body_limit: the same decision, allowed to wait (relais-api verifies
  // the bearer token from the header, from its cache or PostgreSQL, before deciding: the small
  // unauthenticated limit holds until the token is verified). Exceptions → 500, as for body_limit.
  std::function<boost::asio::awaitable<std::size_t>(const Request& header_only)> body_limit_async;
  // Called for every request the server itself refuses once its request line is known (413, 429,
  // 431, 400 ...), before the answer is written: relais-api journals these calls too. `reason` is
  // the relais_http_refused_total label. Exceptions are swallowed.
  std::function<boost::asio::awaitable<void>(const Request& header_only, unsigned status,
                                             std::string reason)>
      on_refused;
  // The body of the server's own error answers (400, 413, 429, 431, 500, 503 ...): by default
  // json_error(); relais-api gives its problem mapper so that every error it answers is one
  // problem document. Must not throw.
  std::function<Response(unsigned status, std::string_view code, std::string_view message)>
      error_response;
  // Durations are milliseconds so that tests can use short values; seconds convert implicitly.
  std::chrono::milliseconds header_timeout{
      std::chrono::seconds(10)};  // from first byte (or accept) to end of header
  std::chrono::milliseconds body_timeout{
      std::chrono::seconds(60)};  // reading the body; also each response write
  std::chrono::milliseconds idle_timeout{
      std::chrono::seconds(30)};  // keep-alive wait for the next request
  // Whole request (first byte to end of body); bounds a client trickling a body within
  // body_timeout.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(120)};
  std::size_t max_connections = 1024;  // beyond: accept, answer 503 + Retry-After: 1, close
  std::size_t max_connections_per_client =
      256;                           // per client IP; beyond: 429 + Retry-After: 1, close. 0 = off
  double rate_limit_per_client = 0;  // requests/s per client IP; beyond: 429 + Retry-After. 0 = off
  double rate_limit_burst = 0;       // token bucket size (below 1: max(1, rate))
  std::optional<TlsOptions> tls;     // none: plain HTTP
  std::size_t max_requests_per_connection = 10000;  // then "Connection: close"
  std::string server_name = "relais";               // Server header
};

class Server {
 public:
  // The io_context may be run by any number of threads. The Server must be destroyed before the
  // io_context. metrics (optional) must outlive the Server; the families
  // relais_http_{requests_total,request_duration_seconds,connections,rejected_connections_total,
  // refused_total,tls_handshake_failures_total} are registered once per Server, so use one Server
  // per Registry.
  Server(boost::asio::io_context& ioc, ServerOptions opts, Handler handler,
         relais::metrics::Registry* metrics = nullptr);
  // Destruction without stop() closes the acceptor and every connection at once (stop(0ms)).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens, then starts accepting (once the io_context runs). Returns an error message
  // on failure (bad address, address in use, unreadable TLS file, already started, ...),
  // std::nullopt on success.
  std::optional<std::string> start();
  // Actual bound port (useful with port 0); 0 before a successful start().
  unsigned short port() const;
  // Reads the TLS files of opts.tls again (a renewed certificate, a new client CA): new handshakes
  // use them, established connections keep theirs. On any error (unreadable file, key not
  // matching the certificate, ...) the files in use stay in use and the error is returned (and
  // logged). Safe from any thread; an error when the listener has no TLS.
  std::optional<std::string> reload_tls();
  // Open connections right now (excluding connections being rejected with 503).
  std::size_t connections() const;

  // Graceful stop; safe from any thread, any number of times, non-blocking.
  //  1. the acceptor is closed at once (new connections are refused by the kernel);
  //  2. idle keep-alive connections are closed at once; a request being read or handled is
  //     finished and answered with "Connection: close";
  //  3. after `grace`, remaining connections are closed and their handlers get a terminal
  //     cancellation (their pending asynchronous operation fails with operation_aborted).
  // `on_stopped`, if given, is posted to the io_context once every connection has ended (so the
  // io_context must keep running until then). A later call with a shorter grace shortens the
  // deadline; callbacks given after completion are posted immediately.
  void stop(std::chrono::milliseconds grace, std::function<void()> on_stopped = {});

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace relais::http
