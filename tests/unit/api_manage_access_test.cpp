// relais-api's ManageAccess proxy without BCSS: where the calls go (bcss_endpoint: the URL and
// the TLS settings checked against it), how a call without an answer is answered (bcss_failure,
// from http::failure_kind, never from the message), and a service refusing to start on TLS files
// it cannot use. The calls themselves: tests/e2e/test_manage_access*.py.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <stdexcept>

#include "relais/api/manage_access.hpp"

namespace relais::api {
namespace {
namespace aerr = boost::asio::error;
using Stage = http::ClientError::Stage;

http::ClientTls mtls() {
  http::ClientTls t;
  t.ca_file = "/etc/relais/tls/bcss-ca.pem";
  t.cert_file = "/etc/relais/tls/relais-api-bcss.pem";
  t.key_file = "/etc/relais/tls/relais-api-bcss.key";
  return t;
}

TEST(BcssEndpoint, HttpsWithAClientCertificate) {
  std::string err;
  auto e = bcss_endpoint("https://services.ksz-bcss.fgov.be/SOAP/ManageAccess", mtls(), err);
  ASSERT_TRUE(e) << err;
  EXPECT_TRUE(e->mtls);
  EXPECT_EQ(e->url.host, "services.ksz-bcss.fgov.be");
  EXPECT_EQ(e->url.port, 443);
  EXPECT_EQ(e->url.target, "/SOAP/ManageAccess");
  e = bcss_endpoint("https://127.0.0.1:8443/ManageAccess", mtls(), err);
  ASSERT_TRUE(e) << err;
  EXPECT_EQ(e->url.port, 8443);
}

TEST(BcssEndpoint, PlainHttpToALocalEgressProxy) {
  std::string err;
  auto e = bcss_endpoint("http://egress:3128/ManageAccess", http::ClientTls{}, err);
  ASSERT_TRUE(e) << err;
  EXPECT_FALSE(e->mtls);
  EXPECT_EQ(e->url.port, 3128);
  // TLS files with a plain URL: a configuration mistake, not silently ignored.
  EXPECT_FALSE(bcss_endpoint("http://egress:3128/ManageAccess", mtls(), err));
  EXPECT_NE(err.find("not https://"), std::string::npos) << err;
}

TEST(BcssEndpoint, HttpsRequiresTheClientCertificateAndKey) {
  std::string err;
  auto t = mtls();
  t.cert_file.clear();
  EXPECT_FALSE(bcss_endpoint("https://bcss.example/ManageAccess", t, err));
  EXPECT_NE(err.find("manage_access.tls.cert_file is required"), std::string::npos) << err;
  t = mtls();
  t.key_file.clear();
  EXPECT_FALSE(bcss_endpoint("https://bcss.example/ManageAccess", t, err));
  EXPECT_NE(err.find("manage_access.tls.key_file is required"), std::string::npos) << err;
  // No CA file: the system store, allowed.
  t = mtls();
  t.ca_file.clear();
  EXPECT_TRUE(bcss_endpoint("https://bcss.example/ManageAccess", t, err)) << err;
}

TEST(BcssEndpoint, BadUrlsNameTheSetting) {
  for (const char* bad : {"", "ftp://bcss.example/", "https://:443/x", "https://bcss.example:0/",
                          "http://bcss.example:65536/"}) {
    std::string err;
    EXPECT_FALSE(bcss_endpoint(bad, mtls(), err)) << bad;
    EXPECT_TRUE(err.starts_with("manage_access.bcss_url: ")) << bad << ": " << err;
  }
}

BcssFailure failure_of(Stage stage, boost::system::error_code ec, const std::string& what = "") {
  return bcss_failure(http::failure_kind(http::ClientError(stage, ec, what)));
}

TEST(BcssFailure, ATimeoutIs504AnythingElse503) {
  for (auto stage : {Stage::connect, Stage::handshake, Stage::write, Stage::read}) {
    auto f = failure_of(stage, boost::beast::error::timeout);
    EXPECT_EQ(f.status, 504u);
    EXPECT_EQ(f.code, "BCSS_TIMEOUT");
    EXPECT_EQ(f.result, "bcss_timeout");
  }
  // The handshake failed: BCSS's certificate not trusted, or ours refused (TLS 1.3 reports the
  // refusal at the first read, as an SSL error).
  const auto verify_failed = boost::system::error_code(
      static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED)),
      aerr::get_ssl_category());
  for (auto [stage, ec] : {std::pair{Stage::handshake, verify_failed},
                           {Stage::handshake, boost::system::error_code(aerr::eof)},
                           {Stage::read, verify_failed}}) {
    auto f = failure_of(stage, ec);
    EXPECT_EQ(f.status, 503u);
    EXPECT_EQ(f.code, "BCSS_UNAVAILABLE");
    EXPECT_EQ(f.result, "bcss_tls_error");
  }
  for (auto [stage, ec] :
       {std::pair{Stage::connect, boost::system::error_code(aerr::connection_refused)},
        {Stage::resolve, boost::system::error_code(aerr::host_not_found)},
        {Stage::read, boost::system::error_code(aerr::connection_reset)},
        {Stage::write, boost::system::error_code(aerr::broken_pipe)}}) {
    auto f = failure_of(stage, ec);
    EXPECT_EQ(f.status, 503u) << ec.message();
    EXPECT_EQ(f.code, "BCSS_UNAVAILABLE");
    EXPECT_EQ(f.result, "bcss_unreachable");
  }
  // The message is never read: a refused connection that says "timeout" is no timeout.
  EXPECT_EQ(failure_of(Stage::connect, aerr::connection_refused, "connect: timed out?").status,
            503u);
}

TEST(ManageAccessService, RefusesToStartOnTlsFilesItCannotUse) {
  metrics::Registry registry;
  pg::Pool pool("host=127.0.0.1 port=1 dbname=none connect_timeout=1", 1);
  ManageAccessOptions o;
  o.enabled = true;
  o.proxy = true;
  o.xsd_dir = RELAIS_BCSS_XSD_DIR;
  o.bcss_url = "https://127.0.0.1:1/ManageAccess";
  o.bcss_tls.cert_file = "/nonexistent/relais-api-bcss.pem";
  o.bcss_tls.key_file = "/nonexistent/relais-api-bcss.key";
  try {
    ManageAccessService s(o, pool, registry);
    FAIL() << "started with an unreadable client certificate";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("manage_access.tls.cert_file"), std::string::npos) << m;
    EXPECT_NE(m.find("/nonexistent/relais-api-bcss.pem"), std::string::npos) << m;
  }
  o.bcss_tls.cert_file.clear();
  EXPECT_THROW(ManageAccessService(o, pool, registry), std::runtime_error);
  // Plain http to an egress proxy still starts (no file is read).
  o.bcss_tls = {};
  o.bcss_url = "http://127.0.0.1:1/ManageAccess";
  EXPECT_NO_THROW(ManageAccessService(o, pool, registry));
}

}  // namespace
}  // namespace relais::api
