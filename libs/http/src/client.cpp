#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <optional>
#include <relais/http/client.hpp>
#include <stdexcept>

namespace relais::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}
bhttp::request<bhttp::string_body> make_request(const std::string& host, unsigned short port,
                                                bhttp::verb method, const std::string& target,
                                                std::string body, const std::string& content_type,
                                                const ClientHeaders& headers) {
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, host + ":" + std::to_string(port));
  req.set(bhttp::field::user_agent, "relais-http-client");
  if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
  for (const auto& [k, v] : headers) req.insert(k, v);
  const bool has_body = !body.empty() || method == bhttp::verb::post ||
                        method == bhttp::verb::put || method == bhttp::verb::patch;
  req.body() = std::move(body);
  if (has_body) req.prepare_payload();
  return req;
}

void configure(bhttp::response_parser<bhttp::string_body>& parser, bhttp::verb method) {
  parser.header_limit(1024 * 1024);
  parser.body_limit(boost::none);
  if (method == bhttp::verb::head) parser.skip(true);
}

ClientResponse to_response(bhttp::response<bhttp::string_body>& msg) {
  ClientResponse out;
  out.status = msg.result_int();
  out.body = std::move(msg.body());
  for (const auto& f : msg) {
    std::string name = lower(std::string_view(f.name_string().data(), f.name_string().size()));
    std::string value(f.value().data(), f.value().size());
    auto [it, inserted] = out.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  return out;
}
}  // namespace

std::string ClientResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string{} : it->second;
}

struct Client::Impl {
  std::string host;
  unsigned short port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::size_t connects = 0;

  [[noreturn]] void fail(ClientError::Stage stage, std::string_view what,
                         const beast::error_code& ec) {
    close();
    throw ClientError(stage, ec,
                      "http client " + host + ":" + std::to_string(port) + ": " +
                          std::string(what) + ": " + ec.message());
  }

  void close() {
    if (stream) {
      beast::error_code ec;
      stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream->close();
      stream.reset();
    }
    buffer.clear();
  }

  // Runs the io_context until the started operation completes (every operation has a deadline).
  void run() {
    ioc.restart();
    ioc.run();
  }

  void connect() {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) fail(ClientError::Stage::resolve, "resolve", ec);
    stream.emplace(ioc);
    stream->expires_after(timeout);
    stream->async_connect(results,
                          [&](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) fail(ClientError::Stage::connect, "connect", ec);
    stream->socket().set_option(tcp::no_delay(true), ec);
    ++connects;
  }

  ClientResponse request(bhttp::verb method, const std::string& target, std::string body,
                         const std::string& content_type, const ClientHeaders& headers) {
    if (!stream) connect();
    auto req = make_request(host, port, method, target, std::move(body), content_type, headers);
    beast::error_code ec;
    stream->expires_after(timeout);
    bhttp::async_write(*stream, req, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) fail(ClientError::Stage::write, "write", ec);

    bhttp::response_parser<bhttp::string_body> parser;
    configure(parser, method);
    stream->expires_after(timeout);
    bhttp::async_read(*stream, buffer, parser,
                      [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) fail(ClientError::Stage::read, "read", ec);

    auto& msg = parser.get();
    ClientResponse out = to_response(msg);
    if (!msg.keep_alive() || !req.keep_alive()) close();
    return out;
  }
};

Client::Client(std::string host, unsigned short port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}
Client::~Client() {
  if (impl_) impl_->close();
}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

ClientResponse Client::request(bhttp::verb method, const std::string& target, std::string body,
                               const std::string& content_type, const ClientHeaders& headers) {
  return impl_->request(method, target, std::move(body), content_type, headers);
}

void Client::close() {
  impl_->close();
}
bool Client::connected() const {
  return impl_->stream.has_value();
}
std::size_t Client::connects() const {
  return impl_->connects;
}

ClientResponse request(std::string host, unsigned short port, bhttp::verb method,
                       const std::string& target, std::string body, const std::string& content_type,
                       ClientHeaders headers, std::chrono::milliseconds timeout) {
  Client client(std::move(host), port, timeout);
  headers.emplace_back("Connection", "close");
  return client.request(method, target, std::move(body), content_type, headers);
}

FailureKind failure_kind(const ClientError& e) {
  namespace aerr = asio::error;
  using Stage = ClientError::Stage;
  const auto& ec = e.code();
  if (ec == beast::error::timeout || ec == aerr::timed_out) return FailureKind::timeout;
  if (e.stage() == Stage::handshake || ec.category() == aerr::get_ssl_category())
    return FailureKind::tls;
  if (e.stage() == Stage::resolve || e.stage() == Stage::connect || ec == aerr::connection_refused)
    return FailureKind::connect;
  if (ec == aerr::connection_reset || ec == aerr::connection_aborted || ec == aerr::broken_pipe ||
      ec == aerr::eof || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message)
    return FailureKind::reset;
  return FailureKind::io;
}

std::string_view to_string(FailureKind k) {
  switch (k) {
    case FailureKind::timeout:
      return "timeout";
    case FailureKind::tls:
      return "tls_error";
    case FailureKind::connect:
      return "connect_error";
    case FailureKind::reset:
      return "reset";
    case FailureKind::io:
      break;
  }
  return "io_error";
}

std::shared_ptr<ClientTlsContext> make_client_tls(const ClientTls& t, std::string& error) {
  namespace ssl = asio::ssl;
  auto out = std::make_shared<ClientTlsContext>();
  out->ssl = std::make_shared<ssl::context>(ssl::context::tls_client);
  out->server_name = t.server_name;
  out->verify = t.verify;
  auto& ctx = *out->ssl;
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression |
                  ssl::context::no_sslv2 | ssl::context::no_sslv3);
  boost::system::error_code ec;
  if (t.verify) {
    ctx.set_verify_mode(ssl::verify_peer);
    if (t.ca_file.empty())
      ctx.set_default_verify_paths(ec);
    else
      ctx.load_verify_file(t.ca_file, ec);
    if (ec) {
      error = "ca_file \"" + t.ca_file + "\": cannot use it as trusted CAs (" + ec.message() + ")";
      return nullptr;
    }
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  if (t.cert_file.empty() != t.key_file.empty()) {
    error = "cert_file and key_file go together (both or neither)";
    return nullptr;
  }
  if (!t.cert_file.empty()) {
    ctx.use_certificate_chain_file(t.cert_file, ec);
    if (ec) {
      error =
          "cert_file \"" + t.cert_file + "\": not a usable PEM certificate (" + ec.message() + ")";
      return nullptr;
    }
    ctx.use_private_key_file(t.key_file, ssl::context::pem, ec);
    if (ec) {
      error =
          "key_file \"" + t.key_file + "\": not a usable PEM private key (" + ec.message() + ")";
      return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      error = "key_file \"" + t.key_file + "\" does not match cert_file \"" + t.cert_file + "\"";
      return nullptr;
    }
  }
  return out;
}

ClientResponse request(const ClientTlsContext& tls, std::string host, unsigned short port,
                       bhttp::verb method, const std::string& target, std::string body,
                       const std::string& content_type, ClientHeaders headers,
                       std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls.ssl);
  auto& tcp_layer = beast::get_lowest_layer(stream);
  auto fail = [&](ClientError::Stage stage, std::string_view what, const beast::error_code& ec) {
    beast::error_code ignored;
    tcp_layer.socket().close(ignored);
    return ClientError(stage, ec,
                       "https client " + host + ":" + std::to_string(port) + ": " +
                           std::string(what) + ": " + ec.message());
  };
  auto run = [&] {
    ioc.restart();
    ioc.run();
  };
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec) throw fail(ClientError::Stage::resolve, "resolve", ec);
  tcp_layer.expires_after(timeout);
  tcp_layer.async_connect(results,
                          [&](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
  run();
  if (ec) throw fail(ClientError::Stage::connect, "connect", ec);
  tcp_layer.socket().set_option(tcp::no_delay(true), ec);

  // The name checked in the server's certificate (and sent as SNI unless it is an address).
  const std::string name = tls.server_name.empty() ? host : tls.server_name;
  boost::system::error_code addr_ec;
  asio::ip::make_address(name, addr_ec);
  const bool ip_ok = !addr_ec;
  SSL* ssl = stream.native_handle();
  if (!ip_ok) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (tls.verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip_ok)
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    else
      SSL_set1_host(ssl, name.c_str());
  }
  tcp_layer.expires_after(timeout);
  stream.async_handshake(asio::ssl::stream_base::client,
                         [&](const beast::error_code& e) { ec = e; });
  run();
  if (ec) throw fail(ClientError::Stage::handshake, "TLS handshake", ec);

  headers.emplace_back("Connection", "close");
  auto req = make_request(host, port, method, target, std::move(body), content_type, headers);
  tcp_layer.expires_after(timeout);
  bhttp::async_write(stream, req, [&](const beast::error_code& e, std::size_t) { ec = e; });
  run();
  if (ec) throw fail(ClientError::Stage::write, "write", ec);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  configure(parser, method);
  tcp_layer.expires_after(timeout);
  bhttp::async_read(stream, buffer, parser,
                    [&](const beast::error_code& e, std::size_t) { ec = e; });
  run();
  if (ec) throw fail(ClientError::Stage::read, "read", ec);
  auto out = to_response(parser.get());
  // "Connection: close": no TLS close_notify exchange (the server closes); the socket goes.
  beast::error_code ignored;
  tcp_layer.socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp_layer.socket().close(ignored);
  return out;
}

}  // namespace relais::http
