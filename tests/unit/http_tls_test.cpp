// relais::http with TLS: a real server on an ephemeral loopback port, with certificates made by
// openssl at test time (tests/tls/make-certs.sh) in a temporary directory. Checks that only a
// client certificate from the configured CA (and, when set, with an allowed name) gets through,
// that every refusal is counted by reason, and that the handler never sees a refused client.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <relais/common/metrics.hpp>
#include <relais/http/router.hpp>
#include <relais/http/server.hpp>
#include <string>

#include "http_support.hpp"

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace bhttp = boost::beast::http;
namespace fs = std::filesystem;
using relais::http::Request;
using relais::http::Response;
using relais::http::testing::eventually;
using relais::http::testing::kHost;
using relais::http::testing::Raw;
using relais::http::testing::ServerFixture;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

std::atomic<int> handled{0};

asio::awaitable<Response> whoami(Request& req) {
  handled.fetch_add(1);
  co_return Response{200, "text/plain", "client=" + req.client_identity, {}};
}

class Certs {
 public:
  Certs() {
    char tmpl[] = "/tmp/relais-tls-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string cmd =
        "sh '" RELAIS_SOURCE_DIR "/tests/tls/make-certs.sh' '" + dir_.string() + "'";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-certs.sh failed");
  }
  ~Certs() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string operator()(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

const Certs& certs() {
  static Certs c;
  return c;
}

relais::http::ServerOptions tls_options(std::vector<std::string> names = {}) {
  relais::http::ServerOptions o;
  o.header_timeout = 2s;
  o.tls = relais::http::TlsOptions{certs()("server.pem"), certs()("server.key"), certs()("ca.pem"),
                                   true, std::move(names)};
  return o;
}

relais::http::Handler handler() {
  relais::http::Router r;
  r.add(relais::http::verb::get, "/whoami", whoami);
  return r.handler();
}

struct Outcome {
  bool ok = false;
  unsigned status = 0;
  std::string body;
};

// GET /whoami over TLS, presenting `client` (a name of make-certs.sh, "" for none).
Outcome tls_get(unsigned short port, const std::string& client, int max_version = 0) {
  asio::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(certs()("ca.pem"));
  ctx.set_verify_mode(ssl::verify_peer);
  if (!client.empty()) {
    ctx.use_certificate_chain_file(certs()(client + ".pem"));
    ctx.use_private_key_file(certs()(client + ".key"), ssl::context::pem);
  }
  if (max_version) SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
  ssl::stream<tcp::socket> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  stream.next_layer().connect(tcp::endpoint(asio::ip::make_address(kHost), port));
  timeval tv{5, 0};
  setsockopt(stream.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Outcome out;
  boost::system::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return out;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/whoami", 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::connection, "close");
  bhttp::write(stream, req, ec);
  if (ec) return out;
  boost::beast::flat_buffer buf;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buf, res, ec);
  if (ec) return out;  // with TLS 1.3 a refused client certificate shows here
  out.ok = true;
  out.status = res.result_int();
  out.body = res.body();
  return out;
}

bool counted(ServerFixture& s, const std::string& reason) {
  const std::string line = "relais_http_tls_handshake_failures_total{reason=\"" + reason + "\"} 1";
  return eventually([&] { return s.registry().render().find(line) != std::string::npos; });
}

}  // namespace

TEST(HttpTls, GoodClientCertificateIsServedWithItsIdentity) {
  ServerFixture s(tls_options(), handler());
  auto r = tls_get(s.port(), "client");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "client=CN=bcss-sender,O=BCSS");
  auto r12 = tls_get(s.port(), "client", TLS1_2_VERSION);  // TLS 1.2 is still accepted
  ASSERT_TRUE(r12.ok);
  EXPECT_EQ(r12.status, 200u);
}

TEST(HttpTls, NoClientCertificateIsRefused) {
  ServerFixture s(tls_options(), handler());
  const int before = handled.load();
  EXPECT_FALSE(tls_get(s.port(), "").ok);
  EXPECT_TRUE(counted(s, "no_client_cert")) << s.registry().render();
  EXPECT_EQ(handled.load(), before);
}

TEST(HttpTls, ClientCertificateFromAnotherCaIsRefused) {
  ServerFixture s(tls_options(), handler());
  const int before = handled.load();
  EXPECT_FALSE(tls_get(s.port(), "other-client").ok);
  EXPECT_TRUE(counted(s, "untrusted_client_cert")) << s.registry().render();
  EXPECT_EQ(handled.load(), before);
}

TEST(HttpTls, AllowedClientNames) {
  ServerFixture s(tls_options({"bcss-sender"}), handler());
  const int before = handled.load();
  EXPECT_FALSE(tls_get(s.port(), "stranger").ok);  // right CA, wrong name
  EXPECT_TRUE(counted(s, "client_name_not_allowed")) << s.registry().render();
  EXPECT_EQ(handled.load(), before);
  auto r = tls_get(s.port(), "client");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200u);
}

TEST(HttpTls, OldProtocolVersionsAndPlainHttpAreRefused) {
  ServerFixture s(tls_options(), handler());
  EXPECT_FALSE(tls_get(s.port(), "client", TLS1_1_VERSION).ok);
  Raw raw(s.port());
  raw.send("GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(raw.closed_within(3s));
  EXPECT_TRUE(eventually([&] {
    return s.registry().render().find(
               "relais_http_tls_handshake_failures_total{reason=\"protocol\"} 2") !=
           std::string::npos;
  })) << s.registry().render();
}

TEST(HttpTls, SilentConnectionCutByHeaderTimeout) {
  auto o = tls_options();
  o.header_timeout = 200ms;
  ServerFixture s(o, handler());
  Raw raw(s.port());  // connects, never starts the handshake
  EXPECT_TRUE(raw.closed_within(3s));
  EXPECT_TRUE(counted(s, "timeout"));
}

TEST(HttpTls, StartFailsWithAClearMessage) {
  asio::io_context ioc;
  auto o = tls_options();
  o.tls->cert_file = certs()("missing.pem");
  relais::http::Server missing(ioc, o, handler());
  auto e = missing.start();
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("cert_file"), std::string::npos) << *e;

  o = tls_options();
  o.tls->key_file = certs()("client.key");  // not the server certificate's key
  relais::http::Server mismatch(ioc, o, handler());
  e = mismatch.start();
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("key_file"), std::string::npos) << *e;
}

// Server::reload_tls (relais services: SIGHUP): the files are read again without a restart. The
// client CA file is switched from ca to other-ca: a client of ca gets through before and is
// refused after, a client of other-ca the other way round; a damaged file is refused and the
// files in use stay in use.
TEST(HttpTls, ReloadReadsTheFilesAgainAndKeepsTheOldOnesOnError) {
  const std::string client_ca = certs()("reload-clients-ca.pem");
  fs::copy_file(certs()("ca.pem"), client_ca, fs::copy_options::overwrite_existing);
  auto o = tls_options();
  o.tls->client_ca_file = client_ca;
  ServerFixture s(o, handler());
  ASSERT_TRUE(tls_get(s.port(), "client").ok);
  EXPECT_FALSE(tls_get(s.port(), "other-client").ok);

  fs::copy_file(certs()("other-ca.pem"), client_ca, fs::copy_options::overwrite_existing);
  EXPECT_TRUE(tls_get(s.port(), "client").ok) << "the files are read again only by reload_tls()";
  ASSERT_EQ(s.server().reload_tls(), std::nullopt);
  auto r = tls_get(s.port(), "other-client");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "client=CN=bcss-sender,O=BCSS");
  EXPECT_FALSE(tls_get(s.port(), "client").ok);

  std::ofstream(client_ca, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nAAAA\n";
  auto e = s.server().reload_tls();
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("client_ca_file"), std::string::npos) << *e;
  EXPECT_TRUE(tls_get(s.port(), "other-client").ok) << "the files in use must stay in use";

  ServerFixture plain(relais::http::ServerOptions{}, handler());
  EXPECT_TRUE(plain.server().reload_tls().has_value());
}
