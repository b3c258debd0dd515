// Small blocking HTTP/1.1 client for tests, tools and benchmarks (not for the data plane: it blocks
// the calling thread). Every operation is bounded by the timeout.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace relais::http {

struct ClientResponse {
  unsigned status = 0;
  std::string body;
  // Names lowercased; repeated headers joined with ", ".
  std::map<std::string, std::string> headers;
  // "" when absent; case-insensitive.
  std::string header(std::string_view name) const;
};

using ClientHeaders = std::vector<std::pair<std::string, std::string>>;

// A request that got no HTTP answer: where it failed and the error code, for callers to classify
// (timeout, refused, reset...) without reading the message.
class ClientError : public std::runtime_error {
 public:
  enum class Stage { resolve, connect, handshake, write, read };
  ClientError(Stage stage, boost::system::error_code ec, const std::string& what)
      : std::runtime_error(what), stage_(stage), ec_(ec) {}
  Stage stage() const { return stage_; }
  const boost::system::error_code& code() const { return ec_; }

 private:
  Stage stage_;
  boost::system::error_code ec_;
};

// What a ClientError means for the caller, from its stage and error code only (never its
// message): `timeout` (any phase), `tls` (the handshake failed, e.g. the server's certificate does
// not verify or the client certificate was refused, or a TLS error later), `connect` (resolve,
// connect, refused), `reset` (the connection reset or closed before a whole answer), `io` (other).
enum class FailureKind { timeout, tls, connect, reset, io };
FailureKind failure_kind(const ClientError& e);
// "timeout", "tls_error", "connect_error", "reset", "io_error".
std::string_view to_string(FailureKind k);

// One request on a fresh connection ("Connection: close"). Throws ClientError on connection
// failure, timeout, or an unreadable response. HTTP error statuses are returned, not thrown.
ClientResponse request(std::string host, unsigned short port, boost::beast::http::verb method,
                       const std::string& target, std::string body = {},
                       const std::string& content_type = {}, ClientHeaders headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

// TLS for a client, e.g. towards an upstream that asks for a client certificate (mTLS).
struct ClientTls {
  std::string ca_file;      // PEM: the CAs trusted for the server's certificate; "" = system store
  std::string cert_file;    // PEM: this client's certificate (chain), with key_file; "" = none
  std::string key_file;     // PEM: its private key
  std::string server_name;  // SNI and the name the server's certificate must carry; "" = the host
  bool verify = true;       // check the server's certificate and name (off only for diagnostics)
};

// A client TLS context built once from ClientTls (the files are read here, not per request).
struct ClientTlsContext {
  std::shared_ptr<boost::asio::ssl::context> ssl;
  std::string server_name;
  bool verify = true;
};

// Builds the context (TLS 1.2 minimum). nullptr and `error` naming the file when a file cannot
// be read or used, or when the key does not match the certificate.
std::shared_ptr<ClientTlsContext> make_client_tls(const ClientTls& tls, std::string& error);

// request() over TLS: the handshake (stage `handshake`) is bounded by the timeout like the other
// phases; a server certificate that does not verify, or a refused client certificate, is a
// ClientError at the handshake (or at the first read, TLS 1.3 reporting a refused client
// certificate after the handshake).
ClientResponse request(const ClientTlsContext& tls, std::string host, unsigned short port,
                       boost::beast::http::verb method, const std::string& target,
                       std::string body = {}, const std::string& content_type = {},
                       ClientHeaders headers = {},
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Keep-alive client: reuses one connection for many requests. Connects lazily, and reconnects
// only when the previous response closed the connection (or after close()/an error); it never
// retries a request by itself. Not thread-safe: one Client per thread.
class Client {
 public:
  Client(std::string host, unsigned short port,
         std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Throws std::runtime_error like http::request(); after an error the connection is closed.
  ClientResponse request(boost::beast::http::verb method, const std::string& target,
                         std::string body = {}, const std::string& content_type = {},
                         const ClientHeaders& headers = {});
  void close();
  bool connected() const;
  std::size_t connects() const;  // connections opened so far (keep-alive checks in tests)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace relais::http
