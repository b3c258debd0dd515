#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
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

  ClientResponse request(bhttp::verb method, std::string target, std::string body,
                         std::string content_type, const ClientHeaders& headers) {
    if (!stream) connect();
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, host + ":" + std::to_string(port));
    req.set(bhttp::field::user_agent, "relais-http-client");
    if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
    for (const auto& [k, v] : headers) req.insert(k, v);
    const bool has_body = !body.empty() || method == bhttp::verb::post ||
                          method == bhttp::verb::put || method == bhttp::verb::patch;
    req.body() = std::move(body);
    if (has_body) req.prepare_payload();

    beast::error_code ec;
    stream->expires_after(timeout);
    bhttp::async_write(*stream, req, [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) fail(ClientError::Stage::write, "write", ec);

    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(1024 * 1024);
    parser.body_limit(boost::none);
    if (method == bhttp::verb::head) parser.skip(true);
    stream->expires_after(timeout);
    bhttp::async_read(*stream, buffer, parser,
                      [&](const beast::error_code& e, std::size_t) { ec = e; });
    run();
    if (ec) fail(ClientError::Stage::read, "read", ec);

    auto& msg = parser.get();
    ClientResponse out;
    out.status = msg.result_int();
    out.body = std::move(msg.body());
    for (const auto& f : msg) {
      std::string name = lower(std::string_view(f.name_string().data(), f.name_string().size()));
      std::string value(f.value().data(), f.value().size());
      auto [it, inserted] = out.headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
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

ClientResponse Client::request(bhttp::verb method, std::string target, std::string body,
                               std::string content_type, ClientHeaders headers) {
  return impl_->request(method, std::move(target), std::move(body), std::move(content_type),
                        headers);
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
                       std::string target, std::string body, std::string content_type,
                       ClientHeaders headers, std::chrono::milliseconds timeout) {
  Client client(std::move(host), port, timeout);
  headers.emplace_back("Connection", "close");
  return client.request(method, std::move(target), std::move(body), std::move(content_type),
                        std::move(headers));
}

}  // namespace relais::http
