#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
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
#include <limits>
#include <mutex>
#include <relais/common/log.hpp>
#include <relais/common/metrics.hpp>
#include <relais/http/limits.hpp>
#include <relais/http/server.hpp>
#include <relais/http/target.hpp>

namespace relais::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
// The server's own error answers: the service's format when it gives one
// (ServerOptions::error_response).
Response error_of(const ServerOptions& o, unsigned status, std::string_view code,
                  std::string_view message) {
  return o.error_response ? o.error_response(status, code, message)
                          : json_error(status, code, message);
}
}  // namespace

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t default_body_limit = std::size_t{1024} * 1024;
// After an error response sent before the request was fully read, keep reading (and discarding)
// for at most this long so the peer sees the response rather than a reset.
constexpr std::chrono::milliseconds linger_limit{2000};
constexpr std::chrono::milliseconds reject_write_timeout{1000};
constexpr std::size_t max_rejecting = 64;         // concurrent 503 answers; beyond, just close
constexpr int max_refusal_lines_per_second = 20;  // log lines about refusals; the metrics count all

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
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

bool is_field_value(std::string_view s) {
  for (unsigned char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

// The length of the header block at the start of `data` (request line and fields, up to and
// including the CRLF of the last field line, without the empty line), or npos if its end has
// not arrived yet.
std::size_t header_block_size(std::string_view data) {
  auto end = data.find("\r\n\r\n");
  return end == std::string_view::npos ? end : end + 2;
}

// True if a line of the header block starts with a space or a tab: an obs-fold (a field value
// continued on the next line, RFC 9112 §5.2). Beast joins such lines into one value, a proxy in
// front may not: the two would read different headers (request smuggling), so it is refused.
bool has_obs_fold(std::string_view header_block) {
  for (auto i = header_block.find('\n'); i != std::string_view::npos && i + 1 < header_block.size();
       i = header_block.find('\n', i + 1))
    if (header_block[i + 1] == ' ' || header_block[i + 1] == '\t') return true;
  return false;
}

bool is_quiet_error(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == beast::error::timeout || ec == asio::error::operation_aborted ||
         ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::io_context& ctx, ServerOptions o, Handler h, metrics::Registry* reg)
      : ioc(ctx),
        opts(std::move(o)),
        handler(std::move(h)),
        strand(asio::make_strand(ctx)),
        acceptor(strand),
        grace_timer(strand) {
    if (reg) {
      requests = &reg->counter("relais_http_requests_total",
                               "HTTP responses sent, by method, matched route pattern and status",
                               {"method", "route", "status"});
      duration =
          &reg->histogram("relais_http_request_duration_seconds",
                          "Time from a complete request header to the response written, in seconds",
                          {"method", "route"}, metrics::latency_buckets());
      connections_gauge = &reg->gauge("relais_http_connections", "Open HTTP connections").with();
      rejected =
          &reg->counter("relais_http_rejected_connections_total",
                        "Connections answered 503 and closed because max_connections was reached")
               .with();
      refused = &reg->counter("relais_http_refused_total",
                              "Requests or connections refused by a limit of the server, by reason",
                              {"reason"});
      tls_failures = &reg->counter("relais_http_tls_handshake_failures_total",
                                   "TLS handshakes refused or failed, by reason", {"reason"});
    }
  }

  void on_accepted(tcp::socket sock);
  // Answers `r` (with Retry-After: 1) on a connection over a cap, then closes it.
  void reject(tcp::socket sock, Response r);
  void session_ended(std::uint64_t id);
  void begin_stop(std::chrono::milliseconds grace, std::function<void()> cb);
  void force_all();
  void post_callbacks(std::vector<std::function<void()>> cbs);
  void record(const Request& req, unsigned status, Clock::time_point start) const;
  // Counts a refusal (relais_http_refused_total{reason}) and logs it, at most
  // max_refusal_lines_per_second lines a second.
  void refuse(std::string_view reason, const std::string& remote);
  void tls_refused(std::string_view reason, const std::string& remote, const std::string& subject,
                   const std::string& detail);
  bool may_log_refusal();

  asio::io_context& ioc;
  const ServerOptions opts;
  const Handler handler;
  const log::Logger log{"http"};
  ClientTable clients{ClientLimits{opts.max_connections_per_client, opts.rate_limit_per_client,
                                   opts.rate_limit_burst}};
  // Set by start() when opts.tls, replaced by reload_tls(); a handshake takes a copy under
  // tls_mu, so a session keeps the context it started with.
  std::shared_ptr<asio::ssl::context> tls;
  std::mutex tls_mu;

  metrics::Family<metrics::Counter>* requests = nullptr;
  metrics::Family<metrics::Histogram>* duration = nullptr;
  metrics::Gauge* connections_gauge = nullptr;
  metrics::Counter* rejected = nullptr;
  metrics::Family<metrics::Counter>* refused = nullptr;
  metrics::Family<metrics::Counter>* tls_failures = nullptr;
  std::mutex log_mu;
  Clock::time_point log_window{};
  int log_lines = 0;

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
  Session(std::shared_ptr<Server::Impl> s, std::uint64_t i, tcp::socket sock, std::string r,
          std::string ip)
      : server(std::move(s)),
        id(i),
        stream(std::move(sock)),
        remote(std::move(r)),
        client_ip(std::move(ip)),
        accepted_at(Clock::now()) {}

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
  beast::tcp_stream
      stream;  // timeouts, cancellation and close; the bytes go through `tls` when set
  std::shared_ptr<asio::ssl::context> tls_ctx;  // outlives `tls` (declared before it)
  std::unique_ptr<asio::ssl::stream<beast::tcp_stream&>> tls;
  beast::flat_buffer buffer;
  asio::cancellation_signal cancel;
  std::string remote;
  std::string client_ip;                              // key of the per-client limits
  std::string identity;                               // verified client certificate subject
  std::string peer_subject, tls_refusal, tls_detail;  // filled while verifying a client certificate
  Clock::time_point accepted_at;
  bool idle = false;
  bool stopping = false;
};

// Turns a handler Response into the wire message. `keep` may be cleared (Connection: close).
bhttp::response<bhttp::string_body> build_response(const Server::Impl& impl, Response& res,
                                                   unsigned version, bool head, bool& keep,
                                                   const std::string& target) {
  if (res.status < 200 || res.status > 599) {
    impl.log.error("handler returned an invalid status",
                   {{"status", res.status}, {"target", target}});
    res = error_of(impl.opts, 500, "INTERNAL", "internal error");
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
    if (beast::iequals(name, "content-length") || beast::iequals(name, "transfer-encoding"))
      continue;
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

// IO is the session's byte stream: its beast::tcp_stream, or the TLS stream over it. `res` is
// consumed (build_response may replace it): the caller does not use it afterwards.
template <class IO>
asio::awaitable<bool> write_response(Session& s, IO& io, Response& res, unsigned version, bool head,
                                     bool& keep, const std::string& target) {
  auto out = build_response(*s.server, res, version, head, keep, target);
  s.stream.expires_after(s.server->opts.body_timeout);
  auto [ec, n] = co_await bhttp::async_write(io, out, nothrow);
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

// An error decided by the server before the handler ran (400/413/429/431...): answer, then close.
// `reason` (when given) is counted in relais_http_refused_total.
template <class IO>
asio::awaitable<void> fail_request(Session& s, IO& io, Request& req, Response res, unsigned version,
                                   Clock::time_point start, std::string_view reason = {}) {
  if (!reason.empty()) s.server->refuse(reason, s.remote);
  bool keep = false;
  const unsigned status = res.status;
  if (s.server->opts.on_refused && !req.target.empty()) {
    try {
      co_await s.server->opts.on_refused(req, status,
                                         std::string(reason.empty() ? "server_error" : reason));
    } catch (...) {
    }
  }
  if (co_await write_response(s, io, res, version, req.method == verb::head, keep, req.target))
    co_await linger_close(s.stream, std::min(linger_limit, s.server->opts.body_timeout));
  s.server->record(req, status, start);
}

template <class IO>
asio::awaitable<void> serve(Session& s, IO& io) {
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
      auto [ec, n] =
          co_await io.async_read_some(s.buffer.prepare(beast::read_size(s.buffer, 65536)), nothrow);
      s.idle = false;
      if (ec) {  // EOF, idle/header timeout, reset, or closed by stop()
        if (first && ec == beast::error::timeout) impl.refuse("header_timeout", s.remote);
        break;
      }
      s.buffer.commit(n);
    }
    const auto request_start = first ? s.accepted_at : Clock::now();

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
    req.client_identity = s.identity;
    // 2a. Obs-fold is refused (400): Beast would unfold it, so the raw header is checked first,
    // once it is buffered whole (or max_header_bytes of it: the header read below answers 431).
    // A read error ends the connection as it would in the header read (EOF, reset: quietly;
    // the header timeout: counted).
    {
      auto raw = [&] {
        return std::string_view(static_cast<const char*>(s.buffer.data().data()), s.buffer.size());
      };
      auto block = header_block_size(raw());
      beast::error_code read_error;
      while (block == std::string_view::npos && s.buffer.size() <= o.max_header_bytes) {
        auto [ec, n] = co_await io.async_read_some(
            s.buffer.prepare(beast::read_size(s.buffer, 65536)), nothrow);
        if (ec) {
          read_error = ec;
          break;
        }
        s.buffer.commit(n);
        block = header_block_size(raw());
      }
      if (read_error) {
        if (read_error == beast::error::timeout) impl.refuse("header_timeout", s.remote);
        break;
      }
      if (block != std::string_view::npos && has_obs_fold(raw().substr(0, block))) {
        co_await fail_request(
            s, io, req,
            error_of(impl.opts, 400, "BAD_REQUEST", "obs-fold (folded header line) not allowed"),
            11, Clock::now(), "bad_request");
        break;
      }
    }
    {
      auto [ec, n] = co_await bhttp::async_read_header(io, s.buffer, parser, nothrow);
      (void)n;
      const auto start = Clock::now();
      if (ec == bhttp::error::header_limit) {
        co_await fail_request(
            s, io, req, error_of(impl.opts, 431, "HEADER_TOO_LARGE", "request header too large"),
            11, start, "header_too_large");
        break;
      }
      if (ec == beast::error::timeout) impl.refuse("header_timeout", s.remote);
      if (ec) {
        if (!is_quiet_error(ec)) {
          impl.log.debug("malformed request", {{"remote", s.remote}, {"error", ec.message()}});
          co_await fail_request(s, io, req,
                                error_of(impl.opts, 400, "BAD_REQUEST", "malformed HTTP request"),
                                11, start, "bad_request");
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

    if (static_cast<std::size_t>(std::distance(msg.begin(), msg.end())) > o.max_header_count) {
      co_await fail_request(s, io, req,
                            error_of(impl.opts, 431, "HEADER_TOO_LARGE", "too many header fields"),
                            version, start, "too_many_headers");
      break;
    }
    auto parsed = detail::parse_target(req.target, false);
    if (!parsed) {
      co_await fail_request(s, io, req,
                            error_of(impl.opts, 400, "BAD_REQUEST", "invalid request target"),
                            version, start, "bad_request");
      break;
    }
    req.path = std::move(parsed->path);
    req.query = std::move(parsed->query);
    if (version == 11 && msg.find(bhttp::field::host) == msg.end()) {
      co_await fail_request(s, io, req,
                            error_of(impl.opts, 400, "BAD_REQUEST", "missing Host header"), version,
                            start, "bad_request");
      break;
    }

    // Beast only understands "chunked" and otherwise ignores Transfer-Encoding, which would let a
    // body be read as the next request (smuggling): refuse anything but a plain "chunked".
    if (auto te = msg.find(bhttp::field::transfer_encoding); te != msg.end()) {
      if (!parser.chunked()) {
        co_await fail_request(s, io, req,
                              error_of(impl.opts, 400, "BAD_REQUEST", "invalid Transfer-Encoding"),
                              version, start, "bad_request");
        break;
      }
      bhttp::token_list codings(te->value());
      if (std::next(codings.begin()) != codings.end()) {
        co_await fail_request(
            s, io, req,
            error_of(impl.opts, 501, "NOT_IMPLEMENTED", "unsupported Transfer-Encoding"), version,
            start, "bad_request");
        break;
      }
    }

    // Requests per second of this client (before reading any body).
    if (auto wait = impl.clients.admit(s.client_ip)) {
      Response r = error_of(impl.opts, 429, "RATE_LIMITED", "too many requests, retry later");
      r.headers.emplace_back("Retry-After", std::to_string((wait->count() + 999) / 1000));
      co_await fail_request(s, io, req, std::move(r), version, start, "rate_limited");
      break;
    }

    // 3. The body, with a limit decided from the header.
    std::size_t limit = default_body_limit;
    bool limit_failed = false;
    if (o.body_limit_async || o.body_limit) {
      try {
        limit = o.body_limit_async ? co_await o.body_limit_async(req) : o.body_limit(req);
      } catch (const std::exception& e) {
        impl.log.error("body_limit callback failed", {{"target", req.target}, {"error", e.what()}});
        limit_failed = true;
      } catch (...) {
        impl.log.error("body_limit callback failed", {{"target", req.target}});
        limit_failed = true;
      }
    }
    if (limit_failed) {
      co_await fail_request(s, io, req, error_of(impl.opts, 500, "INTERNAL", "internal error"),
                            version, start);
      break;
    }
    if (auto cl = parser.content_length(); cl && *cl > limit) {
      co_await fail_request(s, io, req,
                            error_of(impl.opts, 413, "BODY_TOO_LARGE", "request body too large"),
                            version, start, "body_too_large");
      break;
    }
    parser.body_limit(static_cast<std::uint64_t>(limit));
    if (!parser.is_done()) {
      if (version == 11 && beast::iequals(msg[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
        s.stream.expires_after(o.body_timeout);
        auto [ec, n] = co_await bhttp::async_write(io, cont, nothrow);
        (void)n;
        if (ec) break;
      }
      // The body within body_timeout, and the whole request within request_timeout.
      s.stream.expires_at(
          std::min(Clock::now() + o.body_timeout, request_start + o.request_timeout));
      auto [ec, n] = co_await bhttp::async_read(io, s.buffer, parser, nothrow);
      (void)n;
      if (ec == bhttp::error::body_limit) {
        co_await fail_request(s, io, req,
                              error_of(impl.opts, 413, "BODY_TOO_LARGE", "request body too large"),
                              version, start, "body_too_large");
        break;
      }
      if (ec == beast::error::timeout) impl.refuse("body_timeout", s.remote);
      if (ec) {
        if (!is_quiet_error(ec))
          co_await fail_request(
              s, io, req, error_of(impl.opts, 400, "BAD_REQUEST", "malformed HTTP request body"),
              version, start, "bad_request");
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
    if (failed) res = error_of(impl.opts, 500, "INTERNAL", "internal error");

    // 5. The response.
    ++served;
    if (s.stopping || impl.stopping.load() || served >= o.max_requests_per_connection) keep = false;
    const unsigned status = res.status < 200 || res.status > 599 ? 500 : res.status;
    const bool ok =
        co_await write_response(s, io, res, version, req.method == verb::head, keep, req.target);
    impl.record(req, status, start);
    if (!ok) break;
    if (!keep) {
      beast::error_code ec;
      s.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      break;
    }
  }
}

std::string subject_of(X509* cert) {
  if (!cert) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return {};
  X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(bio);
  return out;
}

// The certificate's subject CN or one of its DNS SANs is in `names`.
bool name_allowed(X509* cert, const std::vector<std::string>& names) {
  auto listed = [&](std::string_view v) {
    return std::find(names.begin(), names.end(), v) != names.end();
  };
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    ASN1_STRING* v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    if (listed({reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                static_cast<std::size_t>(ASN1_STRING_length(v))}))
      return true;
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  bool found = false;
  for (int i = 0; sans && !found && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_DNS) continue;
    found = listed({reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                    static_cast<std::size_t>(ASN1_STRING_length(g->d.dNSName))});
  }
  GENERAL_NAMES_free(sans);
  return found;
}

// The TLS handshake, within header_timeout of the accept. Refusals are counted and logged (the
// journal of a listener without an access journal); a verified client is logged once per
// connection.
asio::awaitable<bool> handshake(Session& s) {
  Server::Impl& impl = *s.server;
  const TlsOptions& t = *impl.opts.tls;
  {
    std::lock_guard lock(impl.tls_mu);
    s.tls_ctx = impl.tls;
  }
  s.tls = std::make_unique<asio::ssl::stream<beast::tcp_stream&>>(s.stream, *s.tls_ctx);
  s.tls->set_verify_callback([&s, &t](bool preverified, asio::ssl::verify_context& vc) {
    X509_STORE_CTX* ctx = vc.native_handle();
    X509* cert = X509_STORE_CTX_get_current_cert(ctx);
    const int depth = X509_STORE_CTX_get_error_depth(ctx);
    if (depth == 0 && s.peer_subject.empty()) s.peer_subject = subject_of(cert);
    if (!preverified) {
      if (s.tls_refusal.empty()) {
        s.tls_refusal = "untrusted_client_cert";
        s.tls_detail = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
      }
      return false;
    }
    if (depth == 0 && !t.allowed_client_names.empty() &&
        !name_allowed(cert, t.allowed_client_names)) {
      s.tls_refusal = "client_name_not_allowed";
      return false;
    }
    return true;
  });
  s.stream.expires_at(s.accepted_at + impl.opts.header_timeout);
  auto [ec] = co_await s.tls->async_handshake(asio::ssl::stream_base::server, nothrow);
  if (ec) {
    std::string reason = s.tls_refusal;
    if (ec == beast::error::timeout)
      reason = "timeout";
    else if (reason.empty() && ec.category() == asio::error::get_ssl_category() &&
             ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                 SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
      reason = "no_client_cert";
    else if (reason.empty() && (ec == asio::error::eof || ec == asio::error::connection_reset ||
                                ec == asio::ssl::error::stream_truncated))
      reason = "closed";
    else if (reason.empty())
      reason = "protocol";
    if (!(s.stopping || impl.stopping.load()))
      impl.tls_refused(reason, s.remote, s.peer_subject, s.tls_detail);
    co_return false;
  }
  X509* peer = SSL_get_peer_certificate(s.tls->native_handle());
  s.identity = subject_of(peer);
  if (peer) X509_free(peer);
  if (!s.identity.empty())
    impl.log.info("TLS client verified", {{"remote", s.remote},
                                          {"client", s.identity},
                                          {"protocol", SSL_get_version(s.tls->native_handle())}});
  co_return true;
}

asio::awaitable<void> run_session(std::shared_ptr<Session> sp) {
  co_await asio::this_coro::throw_if_cancelled(false);
  Session& s = *sp;
  if (!s.server->opts.tls)
    co_await serve(s, s.stream);
  else if (co_await handshake(s))
    co_await serve(s, *s.tls);
  s.stream.close();
}

struct SessionDone {
  std::shared_ptr<Session> session;
  void operator()(const std::exception_ptr& e) const noexcept {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const boost::system::system_error& se) {
        if (se.code() != asio::error::operation_aborted)
          session->server->log.error("session failed",
                                     {{"remote", session->remote}, {"error", se.what()}});
      } catch (const std::exception& ex) {
        session->server->log.error("session failed",
                                   {{"remote", session->remote}, {"error", ex.what()}});
      } catch (...) {
        session->server->log.error("session failed", {{"remote", session->remote}});
      }
    }
    session->server->clients.close(session->client_ip);
    session->server->session_ended(session->id);
  }
};

// Over max_connections (503) or max_connections_per_client (429): answer with Retry-After and
// close.
asio::awaitable<void> reject_connection(std::shared_ptr<Server::Impl> impl, tcp::socket sock,
                                        Response r) {
  beast::tcp_stream stream(std::move(sock));
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
  void operator()(const std::exception_ptr& e) const noexcept {
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
  void operator()(const std::exception_ptr& e) const noexcept {
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

// The OpenSSL error queue's last reason, for start-up messages (never sent to a client).
std::string ssl_reason(const beast::error_code& ec) {
  std::string r = ec.message();
  ERR_clear_error();
  return r;
}

std::optional<std::string> make_tls_context(const TlsOptions& t,
                                            std::unique_ptr<asio::ssl::context>& out) {
  if (t.cert_file.empty() || t.key_file.empty()) return "cert_file and key_file are both required";
  if (t.require_client_cert && t.client_ca_file.empty())
    return "require_client_cert needs client_ca_file";
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  beast::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use |
                       asio::ssl::context::no_compression,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: forward-secret AEAD suites only (TLS 1.3 suites are all AEAD).
  SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL");
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  static const unsigned char sid[] = "relais";
  SSL_CTX_set_session_id_context(native, sid, sizeof(sid) - 1);
  ctx->use_certificate_chain_file(t.cert_file, ec);
  if (ec) return "cert_file " + t.cert_file + ": " + ssl_reason(ec);
  ctx->use_private_key_file(t.key_file, asio::ssl::context::pem, ec);
  if (ec) return "key_file " + t.key_file + ": " + ssl_reason(ec);
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return "key_file " + t.key_file + " does not match cert_file " + t.cert_file;
  }
  if (!t.client_ca_file.empty()) {
    ctx->load_verify_file(t.client_ca_file, ec);
    if (ec) return "client_ca_file " + t.client_ca_file + ": " + ssl_reason(ec);
    // Tell clients which CAs we accept, so they pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(native, names);
    ERR_clear_error();
    auto mode = asio::ssl::verify_peer;
    if (t.require_client_cert) mode |= asio::ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode, ec);
    if (ec) return "client verification: " + ssl_reason(ec);
  }
  out = std::move(ctx);
  return std::nullopt;
}

}  // namespace

void Server::Impl::on_accepted(tcp::socket sock) {
  beast::error_code ec;
  auto ep = sock.remote_endpoint(ec);
  if (ec) return;  // peer already gone; the socket closes here
  sock.set_option(tcp::no_delay(true), ec);
  std::string ip = ep.address().to_string();
  std::shared_ptr<Session> session;
  bool client_full = false;
  {
    std::lock_guard lock(mu);
    if (stopping.load()) return;
    if (sessions.size() < opts.max_connections) {
      if (clients.open(ip)) {
        session = std::make_shared<Session>(shared_from_this(), next_id++, std::move(sock),
                                            format_endpoint(ep), ip);
        sessions.emplace(session->id, session);
      } else {
        client_full = true;
      }
    }
  }
  if (client_full) {
    refuse("client_connection_limit", format_endpoint(ep));
    // NOLINTNEXTLINE(bugprone-use-after-move): moved only with a session, never when client_full
    reject(std::move(sock),
           error_of(opts, 429, "TOO_MANY_CONNECTIONS", "too many connections from this client"));
    return;
  }
  if (!session) {
    if (rejected) rejected->inc();
    if (refused) refused->with({"connection_limit"}).inc();
    // At most one line per second under a flood; the counter has the exact number.
    const auto now = Clock::now().time_since_epoch().count();
    auto last = last_reject_log.load();
    if (now - last >=
            std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(1)).count() &&
        last_reject_log.compare_exchange_strong(last, now))
      log.warn("connection limit reached, rejecting",
               {{"remote", format_endpoint(ep)}, {"max_connections", opts.max_connections}});
    reject(std::move(sock),
           error_of(opts, 503, "UNAVAILABLE", "too many connections, retry later"));
    return;
  }
  if (connections_gauge) connections_gauge->inc();
  auto ex = session->stream.get_executor();
  asio::co_spawn(ex, run_session(session),
                 asio::bind_cancellation_slot(session->cancel.slot(), SessionDone{session}));
}

void Server::Impl::reject(tcp::socket sock, Response r) {
  // Over TLS an HTTP answer would need a handshake first; under a flood, do not even answer.
  if (opts.tls) return;
  if (rejecting.fetch_add(1) >= max_rejecting) {
    rejecting.fetch_sub(1);
    return;
  }
  auto ex = sock.get_executor();
  asio::co_spawn(ex, reject_connection(shared_from_this(), std::move(sock), std::move(r)),
                 RejectDone{shared_from_this()});
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
  if (!live.empty())
    log.warn("grace period over, closing connections", {{"connections", live.size()}});
  for (auto& s : live) asio::post(s->stream.get_executor(), [s] { s->force_close(); });
}

bool Server::Impl::may_log_refusal() {
  std::lock_guard lock(log_mu);
  const auto now = Clock::now();
  if (now - log_window >= std::chrono::seconds(1)) {
    log_window = now;
    log_lines = 0;
  }
  return ++log_lines <= max_refusal_lines_per_second;
}

void Server::Impl::refuse(std::string_view reason, const std::string& remote) {
  if (refused) refused->with({std::string(reason)}).inc();
  if (may_log_refusal()) log.info("request refused", {{"reason", reason}, {"remote", remote}});
}

void Server::Impl::tls_refused(std::string_view reason, const std::string& remote,
                               const std::string& subject, const std::string& detail) {
  if (tls_failures) tls_failures->with({std::string(reason)}).inc();
  // A peer that connects and closes without a word is a TCP health check or a port scan: counted
  // only.
  if (reason == "closed" || !may_log_refusal()) return;
  // `client` is the subject the peer presented (unverified when refused), "" without a certificate.
  log.warn("TLS handshake refused",
           {{"reason", reason}, {"remote", remote}, {"client", subject}, {"detail", detail}});
}

void Server::Impl::record(const Request& req, unsigned status, Clock::time_point start) const {
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (log::enabled(log::Level::debug))
    log.debug("request", {{"method", req.method_string},
                          {"target", req.target},
                          {"status", status},
                          {"ms", seconds * 1000.0},
                          {"remote", req.remote_address},
                          {"client", req.client_identity}});
  if (!requests) return;
  std::string method = req.method == verb::unknown ? std::string("OTHER")
                                                   : std::string(bhttp::to_string(req.method));
  const std::string route = req.route.empty() ? std::string("none") : req.route;
  requests->with({method, route, std::to_string(status)}).inc();
  duration->with({std::move(method), route}).observe(seconds);
}

Server::Server(asio::io_context& ioc, ServerOptions opts, Handler handler,
               metrics::Registry* metrics)
    : impl_(std::make_shared<Impl>(ioc, std::move(opts), std::move(handler), metrics)) {}

Server::~Server() {
  stop(std::chrono::milliseconds(0));
}

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
    return "http listen on " + i.opts.address + ":" + std::to_string(i.opts.port) + ": " +
           std::string(what) + ": " + ec.message();
  };
  if (i.opts.tls) {
    std::unique_ptr<asio::ssl::context> ctx;
    if (auto e = make_tls_context(*i.opts.tls, ctx)) {
      std::lock_guard lock(i.mu);
      i.started = false;
      return "http listen on " + i.opts.address + ":" + std::to_string(i.opts.port) +
             ": TLS: " + *e;
    }
    std::lock_guard lock(i.tls_mu);
    i.tls = std::move(ctx);
  }
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
  i.log.info(
      "listening",
      {{"address", format_endpoint(local)},
       {"tls", i.opts.tls ? (i.opts.tls->require_client_cert ? "client certificate required" : "on")
                          : "off"}});
  asio::co_spawn(i.strand, accept_loop(impl_), AcceptDone{impl_});
  return std::nullopt;
}

std::optional<std::string> Server::reload_tls() {
  Impl& i = *impl_;
  if (!i.opts.tls) return "TLS reload: this listener has no TLS";
  std::unique_ptr<asio::ssl::context> ctx;
  if (auto e = make_tls_context(*i.opts.tls, ctx)) {
    i.log.warn("TLS files not reloaded: the previous ones stay in use", {{"error", *e}});
    return "TLS reload: " + *e;
  }
  {
    std::lock_guard lock(i.tls_mu);
    i.tls = std::move(ctx);
  }
  i.log.info("TLS files reloaded", {{"cert_file", i.opts.tls->cert_file}});
  return std::nullopt;
}

unsigned short Server::port() const {
  return impl_->bound_port.load();
}

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
