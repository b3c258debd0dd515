// Shared by the relais::http tests: a server on an ephemeral loopback port run by two threads, a
// raw TCP peer for what a well-behaved client does not do, and bounded polling.
#pragma once

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>
#include <memory>
#include <relais/common/metrics.hpp>
#include <relais/http/server.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace relais::http::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline constexpr auto kHost = "127.0.0.1";

template <typename F>
bool eventually(F&& condition, std::chrono::milliseconds limit = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

// A server on an ephemeral port, its io_context run by two threads.
class ServerFixture {
 public:
  ServerFixture(relais::http::ServerOptions opts, relais::http::Handler handler)
      : server_(std::make_unique<relais::http::Server>(ioc_, std::move(opts), std::move(handler),
                                                       &registry_)) {
    if (auto err = server_->start()) throw std::runtime_error(*err);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~ServerFixture() {
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
  }
  unsigned short port() const { return server_->port(); }
  relais::http::Server& server() { return *server_; }
  relais::metrics::Registry& registry() { return registry_; }
  asio::io_context& ioc() { return ioc_; }

 private:
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  relais::metrics::Registry registry_;
  std::unique_ptr<relais::http::Server> server_;
  std::vector<std::thread> threads_;
};

// Raw TCP connection for what the client deliberately does not do (bad requests, idle sockets).
class Raw {
 public:
  explicit Raw(unsigned short port) : sock_(ioc_) {
    sock_.connect(tcp::endpoint(asio::ip::make_address(kHost), port));
  }
  void send(std::string_view data) { asio::write(sock_, asio::buffer(data)); }

  // Reads until `done(data)` holds, the peer closes, or `limit` passes.
  template <typename Done>
  std::string read_until(Done&& done, std::chrono::milliseconds limit = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done(data_) && !closed_ && std::chrono::steady_clock::now() < deadline) {
      std::array<char, 8192> buf;
      bool finished = false;
      sock_.async_read_some(asio::buffer(buf),
                            [&](const boost::system::error_code& ec, std::size_t n) {
                              finished = true;
                              if (ec)
                                closed_ = true;
                              else
                                data_.append(buf.data(), n);
                            });
      ioc_.restart();
      ioc_.run_until(deadline);
      if (!finished) {
        sock_.cancel();
        ioc_.restart();
        ioc_.run();
        if (closed_) closed_ = false;  // only cancelled by us
        break;
      }
    }
    return data_;
  }
  std::string read_response(std::chrono::milliseconds limit = 3s) {
    read_until([](const std::string& d) { return response_complete(d); }, limit);
    auto end = std::min(response_length(data_), data_.size());
    std::string out = data_.substr(0, end);
    data_.erase(0, end);
    return out;
  }
  // True when the peer closed (EOF or reset) within `limit`.
  bool closed_within(std::chrono::milliseconds limit) {
    read_until([](const std::string&) { return false; }, limit);
    return closed_;
  }

  // Length of the first response in `d` (header + Content-Length body); npos if the header is
  // incomplete.
  static std::size_t response_length(const std::string& d) {
    auto hdr_end = d.find("\r\n\r\n");
    if (hdr_end == std::string::npos) return std::string::npos;
    std::string lower = d.substr(0, hdr_end);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t cl = 0;
    auto p = lower.find("\r\ncontent-length:");
    if (p != std::string::npos) cl = std::stoul(lower.substr(p + 17));
    return hdr_end + 4 + cl;
  }
  static bool response_complete(const std::string& d) {
    auto n = response_length(d);
    return n != std::string::npos && d.size() >= n;
  }

 private:
  asio::io_context ioc_;
  tcp::socket sock_;
  std::string data_;
  bool closed_ = false;
};

}  // namespace relais::http::testing
