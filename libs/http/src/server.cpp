#include <relais/http/server.hpp>

#include <relais/http/target.hpp>

#include <relais/common/log.hpp>
#include <relais/common/metrics.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <atomic>
#include <limits>
#include <mutex>

namespace relais::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t default_body_limit = 1024 * 1024;
// After an error response sent before the request was fully read, keep reading (and discarding)
// for at most this long so the peer sees the response rather than a reset.
constexpr std::chrono::milliseconds linger_limit{2000};
constexpr std::chrono::milliseconds reject_write_timeout{1000};
constexpr std::size_t max_rejecting = 64;  // concurrent 503 answers; beyond, just close

struct Session;

std::string format_endpoint(const tcp::endpoint& ep) {
  auto a = ep.address();
  std::string host = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return host + ":" + std::to_string(ep.port());
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) return false;
  }
  return true;
}

bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool is_quiet_error(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == beast::error::timeout || ec == asio::error::operation_aborted ||
         ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& ctx, ServerOptions o, Handler h, metrics::Registry* reg)
      : ioc(ctx), opts(std::move(o)), handler(std::move(h)), strand(asio::make_strand(ctx)),
        acceptor(strand), grace_timer(strand) {
    if (reg) {
      requests = &reg->counter("relais_http_requests_total",
                               "HTTP responses sent, by method, matched route pattern and status",
                               {"method", "route", "status"});
      duration = &reg->histogram("relais_http_request_duration_seconds",
                                 "Time from a complete request header to the response written, in seconds",
                                 {"method", "route"}, metrics::latency_buckets());
      connections_gauge = &reg->gauge("relais_http_connections", "Open HTTP connections").with();
      rejected = &reg->counter("relais_http_rejected_connections_total",
                               "Connections answered 503 and closed because max_connections was reached")
                      .with();
    }
  }

  void on_accepted(tcp::socket sock);
  void session_ended(std::uint64_t id);
  void begin_stop(std::chrono::milliseconds grace, std::function<void()> cb);
  void force_all();
  void post_callbacks(std::vector<std::function<void()>> cbs);
  void record(const Request& req, unsigned status, Clock::time_point start) const;

  asio::io_context& ioc;
  const ServerOptions opts;
  const Handler handler;
  const log::Logger log{"http"};

  metrics::Family<metrics::Counter>* requests = nullptr;
  metrics::Family<metrics::Histogram>* duration = nullptr;
  metrics::Gauge* connections_gauge = nullptr;
  metrics::Counter* rejected = nullptr;

  asio::strand<asio::io_context::executor_type> strand;  // acceptor, grace timer
  tcp::acceptor acceptor;
  asio::steady_timer grace_timer;
  Clock::time_point grace_deadline = Clock::time_point::max();

  std::atomic<unsigned short> bound_port{0};
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> rejecting{0};
  std::atomic<Clock::rep> last_reject_log{std::numeric_limits<Clock::rep>::min() / 2};

  mutable std::mutex mu;
  bool started = false;
  bool finished = false;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, std::weak_ptr<Session>> sessions;
  std::vector<std::function<void()>> on_stopped;
};

namespace {

// One connection. Everything below runs on the session's strand (the stream's executor).
struct Session {
  Session(std::shared_ptr<Server::Impl> s, std::uint64_t i, tcp::socket sock, std::string r)
      : server(std::move(s)), id(i), stream(std::move(sock)), remote(std::move(r)), accepted_at(Clock::now()) {}

  void on_stop() {
    stopping = true;
    if (idle) stream.cancel();  // waiting for a next request that has not started: close now
  }
  void force_close() {
    stopping = true;
    cancel.emit(asio::cancellation_type::terminal);  // the handler's pending operation, if any
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
  }

  std::shared_ptr<Server::Impl> server;
  std::uint64_t id;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  asio::cancellation_signal cancel;
  std::string remote;
  Clock::time_point accepted_at;
  bool idle = false;
  bool stopping = false;
};

// Turns a handler Response into the wire message. `keep` may be cleared (Connection: close).
bhttp::response<bhttp::string_body> build_response(const Server::Impl& impl, Response& res, unsigned version,
                                                   bool head, bool& keep, const std::string& target) {
  if (res.status < 200 || res.status > 599) {
    impl.log.error("handler returned an invalid status", {{"status", res.status}, {"target", target}});
    res = json_error(500, "INTERNAL", "internal error");
  }
  bhttp::response<bhttp::string_body> out;
  out.version(version);
  out.result(res.status);
  out.set(bhttp::field::server, impl.opts.server_name);
  for (auto& [name, value] : res.headers) {
    if (!is_token(name) || !is_field_value(value)) {
      impl.log.warn("dropping invalid response header", {{"target", target}});
      continue;
    }
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding")) continue;
    if (beast::iequals(name, "connection")) {
      if (bhttp::token_list(value).exists("close")) keep = false;
      continue;
    }
    out.insert(name, value);
  }
  const bool bodiless = res.status == 204 || res.status == 304;
  if (!bodiless) {
    if (!res.content_type.empty() && is_field_value(res.content_type))
      out.set(bhttp::field::content_type, res.content_type);
    const std::size_t n = res.body.size();
    if (!head) out.body() = std::move(res.body);
    out.content_length(n);  // for HEAD: the length the GET would have had, no body
  }
  out.keep_alive(keep);
  if (!keep) out.set(bhttp::field::connection, "close");
  return out;
}

asio::awaitable<bool> write_response(Session& s, Response res, unsigned version, bool head, bool& keep,
                                     const std::string& target) {
  auto out = build_response(*s.server, res, version, head, keep, target);
  s.stream.expires_after(s.server->opts.body_timeout);
  auto [ec, n] = co_await bhttp::async_write(s.stream, out, nothrow);
  (void)n;
  co_return !ec;
}

// Graceful close after a response: stop sending, drain what the peer still sends for a short
// while (so a peer still uploading sees our response instead of a reset), then close.
asio::awaitable<void> linger_close(beast::tcp_stream& stream, std::chrono::milliseconds limit) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (!ec) {
    std::array<char, 16384> scratch;
    stream.expires_after(limit);
    for (;;) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(scratch), nothrow);
      (void)n;
      if (rec) break;
    }
  }
  stream.close();
}

// An error decided by the server before the handler ran (400/413/431...): answer, then close.
asio::awaitable<void> fail_request(Session& s, Request& req, Response res, unsigned version,
                                   Clock::time_point start) {
  bool keep = false;
  const unsigned status = res.status;
  if (co_await write_response(s, std::move(res), version, req.method == verb::head, keep, req.target))
    co_await linger_close(s.stream, std::min(linger_limit, s.server->opts.body_timeout));
  s.server->record(req, status, start);
}

asio::awaitable<void> run_session(std::shared_ptr<Session> sp) {
  co_await asio::this_coro::throw_if_cancelled(false);
  Session& s = *sp;
  Server::Impl& impl = *s.server;
  const ServerOptions& o = impl.opts;
  bool first = true;
  std::size_t served = 0;

  for (;;) {
    if (s.stopping || impl.stopping.load()) break;

    // 1. Wait for the first byte of the next request (idle keep-alive, or a fresh connection).
    if (s.buffer.size() == 0) {
      if (first)
        s.stream.expires_at(s.accepted_at + o.header_timeout);
      else
        s.stream.expires_after(o.idle_timeout);
      s.idle = true;
      auto [ec, n] = co_await s.stream.async_read_some(s.buffer.prepare(beast::read_size(s.buffer, 65536)), nothrow);
      s.idle = false;
      if (ec) break;  // EOF, idle/header timeout, reset, or closed by stop()
      s.buffer.commit(n);
    }

    // 2. The header, bounded by max_header_bytes and header_timeout.
    if (first)
      s.stream.expires_at(s.accepted_at + o.header_timeout);
    else
      s.stream.expires_after(o.header_timeout);
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(o.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(boost::none);  // the real limit is decided once the header is known
    Request req;
    req.remote_address = s.remote;
    {
      auto [ec, n] = co_await bhttp::async_read_header(s.stream, s.buffer, parser, nothrow);
      (void)n;
      const auto start = Clock::now();
      if (ec == bhttp::error::header_limit) {
        co_await fail_request(s, req, json_error(431, "HEADER_TOO_LARGE", "request header too large"), 11, start);
        break;
      }
      if (ec) {
        if (!is_quiet_error(ec)) {
          impl.log.debug("malformed request", {{"remote", s.remote}, {"error", ec.message()}});
          co_await fail_request(s, req, json_error(400, "BAD_REQUEST", "malformed HTTP request"), 11, start);
        }
        break;
      }
    }
    first = false;
    const auto start = Clock::now();
    auto& msg = parser.get();
    const unsigned version = msg.version() == 10 ? 10 : 11;
    req.method = msg.method();
    req.method_string = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.headers = static_cast<const bhttp::fields&>(msg);

    auto parsed = detail::parse_target(req.target, false);
    if (!parsed) {
      co_await fail_request(s, req, json_error(400, "BAD_REQUEST", "invalid request target"), version, start);
      break;
    }
    req.path = std::move(parsed->path);
    req.query = std::move(parsed->query);
    if (version == 11 && msg.find(bhttp::field::host) == msg.end()) {
      co_await fail_request(s, req, json_error(400, "BAD_REQUEST", "missing Host header"), version, start);
      break;
    }

    // Beast only understands "chunked" and otherwise ignores Transfer-Encoding, which would let a
    // body be read as the next request (smuggling): refuse anything but a plain "chunked".
    if (auto te = msg.find(bhttp::field::transfer_encoding); te != msg.end()) {
      if (!parser.chunked()) {
        co_await fail_request(s, req, json_error(400, "BAD_REQUEST", "invalid Transfer-Encoding"), version, start);
        break;
      }
      bhttp::token_list codings(te->value());
      if (std::next(codings.begin()) != codings.end()) {
        co_await fail_request(s, req, json_error(501, "NOT_IMPLEMENTED", "unsupported Transfer-Encoding"), version,
                              start);
        break;
      }
    }

    // 3. The body, with a limit decided from the header.
    std::size_t limit = default_body_limit;
    bool limit_failed = false;
    if (o.body_limit) {
      try {
        limit = o.body_limit(req);
      } catch (const std::exception& e) {
        impl.log.error("body_limit callback failed", {{"target", req.target}, {"error", e.what()}});
        limit_failed = true;
      } catch (...) {
        impl.log.error("body_limit callback failed", {{"target", req.target}});
        limit_failed = true;
      }
    }
    if (limit_failed) {
      co_await fail_request(s, req, json_error(500, "INTERNAL", "internal error"), version, start);
      break;
    }
    if (auto cl = parser.content_length(); cl && *cl > limit) {
      co_await fail_request(s, req, json_error(413, "BODY_TOO_LARGE", "request body too large"), version, start);
      break;
    }
    parser.body_limit(static_cast<std::uint64_t>(limit));
    if (!parser.is_done()) {
      if (version == 11 && beast::iequals(msg[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
        s.stream.expires_after(o.body_timeout);
        auto [ec, n] = co_await bhttp::async_write(s.stream, cont, nothrow);
        (void)n;
        if (ec) break;
      }
      s.stream.expires_after(o.body_timeout);
      auto [ec, n] = co_await bhttp::async_read(s.stream, s.buffer, parser, nothrow);
      (void)n;
      if (ec == bhttp::error::body_limit) {
        co_await fail_request(s, req, json_error(413, "BODY_TOO_LARGE", "request body too large"), version, start);
        break;
      }
      if (ec) {
        if (!is_quiet_error(ec))
          co_await fail_request(s, req, json_error(400, "BAD_REQUEST", "malformed HTTP request body"), version,
                                start);
        break;
      }
    }
    req.body = std::move(msg.body());
    bool keep = msg.keep_alive();

    // 4. The handler. Its duration is not bounded here: it owns its own deadlines.
    s.stream.expires_never();
    Response res;
    bool failed = false;
    try {
      res = co_await impl.handler(req);
    } catch (const std::exception& e) {
      impl.log.error("handler threw",
                     {{"method", req.method_string}, {"target", req.target}, {"error", e.what()}});
      failed = true;
    } catch (...) {
      impl.log.error("handler threw", {{"method", req.method_string}, {"target", req.target}});
      failed = true;
    }
    if (failed) res = json_error(500, "INTERNAL", "internal error");

    // 5. The response.
    ++served;
    if (s.stopping || impl.stopping.load() || served >= o.max_requests_per_connection) keep = false;
    const unsigned status = res.status < 200 || res.status > 599 ? 500 : res.status;
    const bool ok = co_await write_response(s, std::move(res), version, req.method == verb::head, keep, req.target);
    impl.record(req, status, start);
    if (!ok) break;
    if (!keep) {
      beast::error_code ec;
      s.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      break;
    }
  }
  s.stream.close();
}

struct SessionDone {
  std::shared_ptr<Session> session;
  void operator()(std::exception_ptr e) const noexcept {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& se) {
        if (se.code() != asio::error::operation_aborted)
          session->server->log.error("session failed", {{"remote", session->remote}, {"error", se.what()}});
      } catch (const std::exception& ex) {
        session->server->log.error("session failed", {{"remote", session->remote}, {"error", ex.what()}});
      } catch (...) {
        session->server->log.error("session failed", {{"remote", session->remote}});
      }
    }
    session->server->session_ended(session->id);
  }
};

// Over max_connections: answer 503 with Retry-After and close.
asio::awaitable<void> reject_connection(std::shared_ptr<Server::Impl> impl, tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  Response r = json_error(503, "UNAVAILABLE", "too many connections, retry later");
  r.headers.emplace_back("Retry-After", "1");
  bool keep = false;
  auto out = build_response(*impl, r, 11, false, keep, {});
  stream.expires_after(reject_write_timeout);
  auto [ec, n] = co_await bhttp::async_write(stream, out, nothrow);
  (void)n;
  if (!ec) co_await linger_close(stream, reject_write_timeout);
  stream.close();
}

struct RejectDone {
  std::shared_ptr<Server::Impl> impl;
  void operator()(std::exception_ptr e) const noexcept {
    if (e) impl->log.warn("rejecting a connection failed");
    impl->rejecting.fetch_sub(1);
  }
};

asio::awaitable<void> accept_loop(std::shared_ptr<Server::Impl> impl) {
  for (;;) {
    tcp::socket sock(asio::make_strand(impl->ioc));
    auto [ec] = co_await impl->acceptor.async_accept(sock, nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !impl->acceptor.is_open()) co_return;
      // e.g. EMFILE: back off briefly instead of spinning.
      impl->log.warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer pause(impl->strand, std::chrono::milliseconds(50));
      co_await pause.async_wait(nothrow);
      continue;
    }
    impl->on_accepted(std::move(sock));
  }
}

struct AcceptDone {
  std::shared_ptr<Server::Impl> impl;
  void operator()(std::exception_ptr e) const noexcept {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      impl->log.error("accept loop failed", {{"error", ex.what()}});
    } catch (...) {
      impl->log.error("accept loop failed");
    }
  }
};

}  // namespace

void Server::Impl::on_accepted(tcp::socket sock) {
  beast::error_code ec;
  auto ep = sock.remote_endpoint(ec);
  if (ec) return;  // peer already gone; the socket closes here
  sock.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mu);
    if (stopping.load()) return;
    if (sessions.size() < opts.max_connections) {
      session = std::make_shared<Session>(shared_from_this(), next_id++, std::move(sock), format_endpoint(ep));
      sessions.emplace(session->id, session);
    }
  }
  if (!session) {
    if (rejected) rejected->inc();
    // At most one line per second under a flood; the counter has the exact number.
    const auto now = Clock::now().time_since_epoch().count();
    auto last = last_reject_log.load();
    if (now - last >= std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)).count() &&
        last_reject_log.compare_exchange_strong(last, now))
      log.warn("connection limit reached, rejecting",
               {{"remote", format_endpoint(ep)}, {"max_connections", opts.max_connections}});
    if (rejecting.fetch_add(1) >= max_rejecting) {
      rejecting.fetch_sub(1);
      return;  // under a flood, do not even answer
    }
    auto ex = sock.get_executor();
    asio::co_spawn(ex, reject_connection(shared_from_this(), std::move(sock)), RejectDone{shared_from_this()});
    return;
  }
  if (connections_gauge) connections_gauge->inc();
  auto ex = session->stream.get_executor();
  asio::co_spawn(ex, run_session(session), asio::bind_cancellation_slot(session->cancel.slot(), SessionDone{session}));
}

void Server::Impl::session_ended(std::uint64_t id) {
  if (connections_gauge) connections_gauge->dec();
  std::vector<std::function<void()>> cbs;
  bool done = false;
  {
    std::lock_guard lock(mu);
    sessions.erase(id);
    if (stopping.load() && sessions.empty() && !finished) {
      finished = done = true;
      cbs.swap(on_stopped);
    }
  }
  if (done) {
    asio::post(strand, [self = shared_from_this()] { self->grace_timer.cancel(); });
    post_callbacks(std::move(cbs));
  }
}

void Server::Impl::post_callbacks(std::vector<std::function<void()>> cbs) {
  for (auto& cb : cbs) {
    asio::post(ioc, [self = shared_from_this(), cb = std::move(cb)] {
      try {
        cb();
      } catch (const std::exception& e) {
        self->log.error("stop callback threw", {{"error", e.what()}});
      } catch (...) {
        self->log.error("stop callback threw");
      }
    });
  }
}

void Server::Impl::begin_stop(std::chrono::milliseconds grace, std::function<void()> cb) {
  std::vector<std::shared_ptr<Session>> live;
  std::vector<std::function<void()>> ready;
  bool first = false;
  bool done = false;
  {
    std::lock_guard lock(mu);
    if (cb) {
      if (finished)
        ready.push_back(std::move(cb));
      else
        on_stopped.push_back(std::move(cb));
    }
    if (!stopping.load()) {
      stopping.store(true);
      first = true;
      for (auto& [id, w] : sessions)
        if (auto sp = w.lock()) live.push_back(std::move(sp));
      if (sessions.empty()) {
        finished = true;
        for (auto& c : on_stopped) ready.push_back(std::move(c));
        on_stopped.clear();
      }
    }
    done = finished;
  }
  if (first) {
    beast::error_code ec;
    acceptor.close(ec);
    log.info("stopping", {{"connections", live.size()}, {"grace_ms", grace.count()}});
    for (auto& s : live) asio::post(s->stream.get_executor(), [s] { s->on_stop(); });
  }
  if (!done) {
    const auto deadline = Clock::now() + grace;
    if (deadline < grace_deadline) {
      grace_deadline = deadline;
      grace_timer.expires_at(deadline);
      grace_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->force_all();
      });
    }
  }
  post_callbacks(std::move(ready));
}

void Server::Impl::force_all() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu);
    for (auto& [id, w] : sessions)
      if (auto sp = w.lock()) live.push_back(std::move(sp));
  }
  if (!live.empty()) log.warn("grace period over, closing connections", {{"connections", live.size()}});
  for (auto& s : live) asio::post(s->stream.get_executor(), [s] { s->force_close(); });
}

void Server::Impl::record(const Request& req, unsigned status, Clock::time_point start) const {
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (log::enabled(log::Level::debug))
    log.debug("request", {{"method", req.method_string},
                          {"target", req.target},
                          {"status", status},
                          {"ms", seconds * 1000.0},
                          {"remote", req.remote_address}});
  if (!requests) return;
  std::string method = req.method == verb::unknown ? std::string("OTHER")
                                                   : std::string(bhttp::to_string(req.method));
  const std::string route = req.route.empty() ? std::string("none") : req.route;
  requests->with({method, route, std::to_string(status)}).inc();
  duration->with({std::move(method), route}).observe(seconds);
}

Server::Server(asio::io_context& ioc, ServerOptions opts, Handler handler, metrics::Registry* metrics)
    : impl_(std::make_shared<Impl>(ioc, std::move(opts), std::move(handler), metrics)) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

std::optional<std::string> Server::start() {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.started) return "http server already started";
    if (i.stopping.load()) return "http server already stopped";
    i.started = true;
  }
  beast::error_code ec;
  auto fail = [&](std::string_view what) -> std::optional<std::string> {
    beast::error_code ignored;
    i.acceptor.close(ignored);
    std::lock_guard lock(i.mu);
    i.started = false;
    return "http listen on " + i.opts.address + ":" + std::to_string(i.opts.port) + ": " + std::string(what) +
           ": " + ec.message();
  };
  auto addr = asio::ip::make_address(i.opts.address, ec);
  if (ec) return fail("invalid address");
  tcp::endpoint ep(addr, i.opts.port);
  i.acceptor.open(ep.protocol(), ec);
  if (ec) return fail("open");
  i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  i.acceptor.bind(ep, ec);
  if (ec) return fail("bind");
  i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  auto local = i.acceptor.local_endpoint(ec);
  if (ec) return fail("local_endpoint");
  i.bound_port.store(local.port());
  i.log.info("listening", {{"address", format_endpoint(local)}});
  asio::co_spawn(i.strand, accept_loop(impl_), AcceptDone{impl_});
  return std::nullopt;
}

unsigned short Server::port() const { return impl_->bound_port.load(); }

std::size_t Server::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->sessions.size();
}

void Server::stop(std::chrono::milliseconds grace, std::function<void()> on_stopped) {
  asio::post(impl_->strand, [impl = impl_, grace, cb = std::move(on_stopped)]() mutable {
    impl->begin_stop(grace, std::move(cb));
  });
}

}  // namespace relais::http
